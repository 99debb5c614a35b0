#!/usr/bin/python3
"""py_echo.py - Python `websockets` echo server (Debian python3-websockets),
a peer of mod_websocket in bench/run.

    /usr/bin/python3 py_echo.py PORT

Listens on 127.0.0.1:PORT (any path); every message goes back as it came.
No compression unless DEFLATE is set in the environment (bench/run's
py_pmd): then compression="deflate", the library's default (server window
12, client window 12, memLevel 5, context kept). No server pings or timeouts (the client pings), a large
backlog, and a 16 MiB message limit like the others.
"""
import asyncio
import os
import signal
import sys

import websockets


async def echo(ws, _path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(port):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(echo, "127.0.0.1", port, compression="deflate" if os.environ.get("DEFLATE") else None,
                                ping_interval=None, ping_timeout=None,
                                close_timeout=2, max_size=16 * 1024 * 1024,
                                backlog=4096):
        print(f"websockets {websockets.__version__} echo on 127.0.0.1:{port}"
              f"{', deflate' if os.environ.get('DEFLATE') else ''}", flush=True)
        await stop


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: py_echo.py PORT")
    asyncio.run(main(int(sys.argv[1])))
