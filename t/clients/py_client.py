#!/usr/bin/python3
"""Interop client: Debian's python3-websockets (10.4, asyncio) against mod_websocket.

Usage: /usr/bin/python3 t/clients/py_client.py --port PORT [--host 127.0.0.1] [--tls]

--tls: wss:// to the TLS vhost's port (no certificate verification: the
build's certificate is self-signed; SNI localhost).  websockets speaks
HTTP/1.1 only, so that is the Upgrade handshake over TLS.

Locations used (see t/conf/extra.conf.in): /echo, /test, /small.
Prints one JSON result per check (see interop_common.py); exit 0 iff all passed.
"""

import asyncio
import random
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed

from interop_common import (CheckFailed, Results, base_args, client_tls_context,
                            expect, short)

# Bounds (seconds).
OPEN_TIMEOUT = 10     # TCP connect + opening handshake
CLOSE_TIMEOUT = 5     # websockets' own wait for the closing handshake / TCP close
RECV_TIMEOUT = 10     # one message
CHECK_TIMEOUT = 30    # one whole check
PROMPT_CLOSE = 3.0    # a close must complete well before CLOSE_TIMEOUT


TLS = None   # set by main(): the ssl context for wss://


def connect(url, **kw):
    if TLS is not None:
        kw.setdefault("ssl", TLS)
        kw.setdefault("server_hostname", "localhost")
    kw.setdefault("open_timeout", OPEN_TIMEOUT)
    kw.setdefault("close_timeout", CLOSE_TIMEOUT)
    kw.setdefault("ping_interval", None)   # no background pings: deterministic traffic
    kw.setdefault("max_size", 4 * 1024 * 1024)
    return websockets.connect(url, **kw)


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def echo_roundtrip(ws, payload, label):
    await asyncio.wait_for(ws.send(payload), RECV_TIMEOUT)
    got = await recv(ws)
    expect(type(got) is type(payload),
           "%s: sent %s, received %s (message type not preserved)"
           % (label, type(payload).__name__, type(got).__name__))
    expect(got == payload,
           "%s: echo differs: sent %d %s, got %d: %s"
           % (label, len(payload), type(payload).__name__, len(got), short(got)))


async def expect_server_close(ws, code, reason=None, label=""):
    """The next recv() must raise ConnectionClosed with the server's `code`."""
    try:
        msg = await recv(ws)
    except ConnectionClosed as e:
        expect(e.rcvd is not None,
               "%s: connection dropped without a close frame from the server (%s)" % (label, e))
        expect(e.rcvd.code == code,
               "%s: expected close code %d, server sent %d (reason %r)"
               % (label, code, e.rcvd.code, e.rcvd.reason))
        if reason is not None:
            expect(e.rcvd.reason == reason,
                   "%s: expected close reason %r, got %r" % (label, reason, e.rcvd.reason))
    else:
        raise CheckFailed("%s: expected a close %d, got a message %s" % (label, code, short(msg)))
    # The client answered the close; the server must then end the TCP connection.
    t0 = time.monotonic()
    await asyncio.wait_for(ws.wait_closed(), CLOSE_TIMEOUT + 2)
    waited = time.monotonic() - t0
    expect(waited < PROMPT_CLOSE,
           "%s: TCP connection not closed by the server within %.1fs after the closing "
           "handshake (took %.2fs)" % (label, PROMPT_CLOSE, waited))
    return "close %d %r" % (ws.close_code, ws.close_reason)


def main():
    global TLS
    args = base_args(__doc__).parse_args()
    if args.tls:
        TLS = client_tls_context()
    base = "%s://%s:%d" % ("wss" if args.tls else "ws", args.host, args.port)
    R = Results()

    async def text_echo():
        async with connect(base + "/echo") as ws:
            for p in ["hello", "h\u00e9llo w\u00f6rld \u2713 \U0001F680",
                      "a" * 125, "b" * 126, "c" * 65535, "d" * 65536]:
                await echo_roundtrip(ws, p, "text len %d" % len(p))
        return "6 text messages (frame length encodings 7/16/64-bit)"

    async def binary_echo():
        async with connect(base + "/echo") as ws:
            payloads = [bytes(range(256)), b"\x00" * 125, b"\xff" * 126,
                        bytes(i & 0xff for i in range(65535)),
                        bytes((i * 7) & 0xff for i in range(65536))]
            for p in payloads:
                await echo_roundtrip(ws, p, "binary len %d" % len(p))
        return "5 binary messages, received as bytes"

    async def empty_text():
        async with connect(base + "/echo") as ws:
            await echo_roundtrip(ws, "", "empty text")

    async def empty_binary():
        async with connect(base + "/echo") as ws:
            await echo_roundtrip(ws, b"", "empty binary")

    async def text_1mib():
        rnd = random.Random(6455)
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
        p = "".join(rnd.choice(alphabet) for _ in range(1024 * 1024))
        async with connect(base + "/echo") as ws:
            await echo_roundtrip(ws, p, "1 MiB text")

    async def binary_1mib():
        rnd = random.Random(6455)
        p = bytes(rnd.getrandbits(8) for _ in range(1024 * 1024))
        async with connect(base + "/echo") as ws:
            await echo_roundtrip(ws, p, "1 MiB binary")

    async def fragmented_send():
        # websockets sends an iterable as one fragmented message (continuation frames).
        async with connect(base + "/echo") as ws:
            await asyncio.wait_for(ws.send(["frag", "mented ", "message"]), RECV_TIMEOUT)
            got = await recv(ws)
            expect(got == "fragmented message", "fragmented text echo: got %s" % short(got))
            await asyncio.wait_for(ws.send([b"\x01\x02", b"", b"\x03"]), RECV_TIMEOUT)
            got = await recv(ws)
            expect(got == b"\x01\x02\x03", "fragmented binary echo: got %s" % short(got))

    async def subprotocol_chat():
        async with connect(base + "/test", subprotocols=["chat"]) as ws:
            expect(ws.subprotocol == "chat", "ws.subprotocol is %r, expected 'chat'" % ws.subprotocol)
            await ws.send("protocol")
            got = await recv(ws)
            expect(got == "chat", "server reports protocol %s, expected 'chat'" % short(got))

    async def subprotocol_preference():
        async with connect(base + "/test", subprotocols=["bogus", "superchat", "chat"]) as ws:
            expect(ws.subprotocol == "superchat",
                   "offered bogus,superchat,chat: ws.subprotocol is %r, expected 'superchat'"
                   % ws.subprotocol)
            await ws.send("protocol")
            got = await recv(ws)
            expect(got == "superchat", "server reports protocol %s" % short(got))

    async def subprotocol_bogus():
        # websockets raises InvalidHandshake if the server picks a protocol not offered.
        async with connect(base + "/test", subprotocols=["bogus"]) as ws:
            expect(ws.subprotocol is None, "ws.subprotocol is %r, expected None" % ws.subprotocol)
            await ws.send("protocol")
            got = await recv(ws)
            expect(got == "(none)", "server reports protocol %s, expected '(none)'" % short(got))

    async def no_subprotocol_on_echo():
        async with connect(base + "/echo") as ws:
            expect(ws.subprotocol is None, "ws.subprotocol is %r on /echo" % ws.subprotocol)
            await echo_roundtrip(ws, "plain", "echo without subprotocol")

    async def ping_pong():
        async with connect(base + "/echo") as ws:
            waiter = await asyncio.wait_for(ws.ping(b"are you there"), RECV_TIMEOUT)
            await asyncio.wait_for(waiter, RECV_TIMEOUT)
            waiter = await asyncio.wait_for(ws.ping(), RECV_TIMEOUT)   # empty payload
            await asyncio.wait_for(waiter, RECV_TIMEOUT)
            # A ping between data messages must not disturb them.
            await ws.send("before")
            waiter = await ws.ping(b"middle")
            await ws.send("after")
            expect(await recv(ws) == "before", "message order around a ping")
            expect(await recv(ws) == "after", "message order around a ping")
            await asyncio.wait_for(waiter, RECV_TIMEOUT)
        return "pongs received for 3 pings"

    async def test_push():
        async with connect(base + "/test") as ws:
            await ws.send("push 5")
            got = [await recv(ws) for _ in range(5)]
            expect(got == ["push %d" % i for i in range(1, 6)], "push 5 gave %s" % short(got, 200))

    async def test_binary_command():
        async with connect(base + "/test") as ws:
            await ws.send("binary 300")
            got = await recv(ws)
            expect(isinstance(got, bytes), "binary 300 gave a %s message" % type(got).__name__)
            expect(got == bytes(i & 0xff for i in range(300)), "binary 300 gave %s" % short(got))

    async def slow_reader_16mib():
        # The server writes 16 MiB while the client does not read for 1.5 s
        # (less than the suite's Timeout 3): nothing may be lost or reordered.
        n = 16 * 1024 * 1024
        async with connect(base + "/test", max_size=n) as ws:
            await ws.send("binary %d" % n)
            await asyncio.sleep(1.5)
            got = await recv(ws, 30)
            expect(isinstance(got, bytes), "binary %d gave a %s message" % (n, type(got).__name__))
            expect(len(got) == n, "binary %d gave %d bytes" % (n, len(got)))
            pattern = bytes(range(256)) * (n // 256)
            if got != pattern:
                first = next(i for i in range(n) if got[i] != pattern[i])
                raise CheckFailed("binary %d: byte %d is %d, expected %d"
                                  % (n, first, got[first], pattern[first]))
        return "16 MiB pattern intact after a 1.5 s read stall"

    async def push_20000_ordered():
        async with connect(base + "/test") as ws:
            await ws.send("push 20000")
            await asyncio.sleep(1.0)
            for i in range(1, 20001):
                got = await recv(ws)
                expect(got == "push %d" % i, "message %d of 20000 is %s" % (i, short(got)))

    async def concurrent_large_echo():
        # 8 connections at once, each sending two 2 MiB messages before reading.
        async def one(k):
            p = bytes([k]) * (2 * 1024 * 1024) + b"end %d" % k
            async with connect(base + "/echo", max_size=4 * 1024 * 1024) as ws:
                await asyncio.wait_for(ws.send(p), 30)
                await asyncio.wait_for(ws.send(p[::-1]), 30)
                a = await recv(ws, 30)
                b = await recv(ws, 30)
                expect(a == p and b == p[::-1],
                       "connection %d: echoes differ (lengths %d, %d)" % (k, len(a), len(b)))
        await asyncio.gather(*[one(k) for k in range(8)])
        return "8 connections x 2 x 2 MiB"

    async def server_close_4001():
        async with connect(base + "/test") as ws:
            await ws.send("close 4001 bye")
            return await expect_server_close(ws, 4001, "bye", "close 4001 bye")

    async def goodbye_1000():
        async with connect(base + "/echo") as ws:
            await ws.send("Goodbye")
            got = await recv(ws)
            expect(got == "Goodbye", "Goodbye was not echoed first: got %s" % short(got))
            return await expect_server_close(ws, 1000, None, "after Goodbye")

    async def small_limit_1009():
        async with connect(base + "/small") as ws:
            await echo_roundtrip(ws, "s" * 1000, "/small 1000-byte message (under the limit)")
            await ws.send("t" * 2000)
            return await expect_server_close(ws, 1009, None, "/small 2000-byte message")

    async def small_limit_binary_1009():
        async with connect(base + "/small") as ws:
            await echo_roundtrip(ws, b"\x01" * 1024, "/small 1024-byte binary (at the limit)")
            await ws.send(b"\x02" * 2000)
            return await expect_server_close(ws, 1009, None, "/small 2000-byte binary")

    async def client_close_1000():
        ws = await connect(base + "/echo")
        try:
            await echo_roundtrip(ws, "bye soon", "echo before close")
            t0 = time.monotonic()
            await asyncio.wait_for(ws.close(1000, "client done"), CLOSE_TIMEOUT + 2)
            took = time.monotonic() - t0
        finally:
            if not ws.closed:
                ws.transport.abort()
        expect(ws.close_rcvd is not None, "server sent no close frame in reply")
        expect(ws.close_code == 1000, "server answered close code %r, expected 1000" % ws.close_code)
        expect(ws.close_sent is not None and ws.close_sent.code == 1000, "client close frame not sent")
        expect(took < PROMPT_CLOSE,
               "closing handshake + TCP close took %.2fs (server did not close the "
               "TCP connection promptly)" % took)
        return "server echoed close 1000 in %.3fs" % took

    async def all_checks():
        for name, fn in [
            ("text_echo", text_echo),
            ("binary_echo", binary_echo),
            ("empty_text", empty_text),
            ("empty_binary", empty_binary),
            ("text_1mib", text_1mib),
            ("binary_1mib", binary_1mib),
            ("fragmented_send", fragmented_send),
            ("subprotocol_chat", subprotocol_chat),
            ("subprotocol_preference", subprotocol_preference),
            ("subprotocol_bogus", subprotocol_bogus),
            ("no_subprotocol_on_echo", no_subprotocol_on_echo),
            ("ping_pong", ping_pong),
            ("test_push", test_push),
            ("test_binary_command", test_binary_command),
            ("slow_reader_16mib", slow_reader_16mib),
            ("push_20000_ordered", push_20000_ordered),
            ("concurrent_large_echo", concurrent_large_echo),
            ("server_close_4001", server_close_4001),
            ("goodbye_1000", goodbye_1000),
            ("small_limit_1009", small_limit_1009),
            ("small_limit_binary_1009", small_limit_binary_1009),
            ("client_close_1000", client_close_1000),
        ]:
            await R.run(name, fn, CHECK_TIMEOUT)

    asyncio.run(all_checks())
    return R.exit_code()


if __name__ == "__main__":
    sys.exit(main())
