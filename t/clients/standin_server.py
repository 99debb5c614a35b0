#!/usr/bin/python3
"""Reference stand-in for the suite's server, for triage only (not used by `make test`).

Implements the test server's locations with python3-websockets' own server so
that the interop clients can be checked against an independent WebSocket
implementation: when a client fails against mod_websocket, run it against
this first; if it passes here, the difference is the module's.

    /usr/bin/python3 t/clients/standin_server.py --port 18080 &
    /usr/bin/python3 t/clients/py_client.py --port 18080
    node t/clients/node_client.js --port 18080
    node t/clients/browser.js --port 18080
    /usr/bin/python3 t/clients/scale.py --port 18080
    /usr/bin/python3 t/clients/idle_survival.py --port 18080

Locations (same behaviour as t/conf/extra.conf.in + the handlers):
  GET /     the tutorial page (htdocs/index.html)
  /echo     echoes text and binary; after echoing "Goodbye" closes with 1000
  /test     subprotocol: the first offered of "chat"/"superchat", else none;
            "protocol" -> the protocol or "(none)"; "close <code> <reason>";
            "push <n>" -> "push 1".."push n"; "binary <n>" -> n bytes i&0xff;
            anything else echoed
  /small    echo, messages over 1024 bytes close with 1009
Listens on 127.0.0.1 only.  (It selects the subprotocol on every path; the
module does so only where the handler asks for it.)
"""

import argparse
import asyncio
import http
import os

import websockets
from websockets.legacy.server import WebSocketServerProtocol

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PAGE = os.path.join(HERE, os.pardir, os.pardir, "htdocs", "index.html")


def make_protocol(page):
    class StandIn(WebSocketServerProtocol):
        def select_subprotocol(self, client_subprotocols, server_subprotocols):
            for p in client_subprotocols:
                if p in ("chat", "superchat"):
                    return p
            return None

        async def process_request(self, path, headers):
            if "upgrade" not in headers.get("Connection", "").lower():
                if path in ("/", "/index.html"):
                    return (http.HTTPStatus.OK, [("Content-Type", "text/html; charset=utf-8")], page)
                return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"not found\n")
            return None
    return StandIn


async def handler(ws, path):
    try:
        async for m in ws:
            if path == "/small":
                if len(m) > 1024:
                    await ws.close(1009, "")
                    return
                await ws.send(m)
            elif path == "/test" and isinstance(m, str):
                if m == "protocol":
                    await ws.send(ws.subprotocol or "(none)")
                elif m.startswith("close "):
                    _, code, *reason = m.split(" ", 2)
                    await ws.close(int(code), reason[0] if reason else "")
                    return
                elif m.startswith("push "):
                    for i in range(1, int(m[5:]) + 1):
                        await ws.send("push %d" % i)
                elif m.startswith("binary "):
                    n = int(m[7:])
                    await ws.send((bytes(range(256)) * (n // 256 + 1))[:n])
                else:
                    await ws.send(m)
            else:
                await ws.send(m)
                if m == "Goodbye":
                    await ws.close(1000)
                    return
    except websockets.ConnectionClosed:
        pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--page", default=DEFAULT_PAGE)
    args = ap.parse_args()
    with open(args.page, "rb") as f:
        page = f.read()
    async with websockets.serve(handler, "127.0.0.1", args.port, create_protocol=make_protocol(page),
                                max_size=None, subprotocols=["chat", "superchat"],
                                ping_interval=None):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
