#!/usr/bin/python3
"""Idle survival: an upgraded connection must outlive the server's Timeout.

Usage: /usr/bin/python3 t/clients/idle_survival.py --port PORT [--host 127.0.0.1] [--idle 7]

The suite's server runs with `Timeout 3` and mod_reqtimeout loaded.  Two
connections to /echo run side by side, neither sends pings (ping_interval=None):
  fresh:   silent for --idle seconds right after the opening handshake;
  used:    one echo first, then silent for --idle seconds;
and a third one, concurrently, is silent for --long-idle seconds (default 25,
beyond RequestReadTimeout body=20: mod_reqtimeout must not cut it).
During the silence the client waits for a frame with a bound
(asyncio.wait_for(ws.recv(), idle)): the wait must time out, i.e. the server
must neither send anything nor close the connection.  Then each connection
sends a message, must get its echo, and closes cleanly (1000 both ways).
Prints JSON result lines (see interop_common.py); exit 0 iff all passed.
"""

import asyncio
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed

from interop_common import CheckFailed, Results, base_args, expect, short

RECV_TIMEOUT = 10.0


async def stay_silent(ws, idle, label):
    t0 = time.monotonic()
    try:
        msg = await asyncio.wait_for(ws.recv(), idle)
    except asyncio.TimeoutError:
        return time.monotonic() - t0          # the expected outcome
    except ConnectionClosed as e:
        after = time.monotonic() - t0
        how = ("close frame %d %r" % (e.rcvd.code, e.rcvd.reason)) if e.rcvd else \
            "no close frame (TCP connection dropped, 1006)"
        raise CheckFailed("%s: the server closed the idle connection after %.1fs of silence: %s"
                          % (label, after, how))
    raise CheckFailed("%s: unexpected message from the server during the silence: %s"
                      % (label, short(msg)))


async def main_async(args, R):
    url = "ws://%s:%d/echo" % (args.host, args.port)

    def conn():
        return websockets.connect(url, open_timeout=10, close_timeout=5,
                                  ping_interval=None, ping_timeout=None)

    async def fresh():
        async with conn() as ws:
            waited = await stay_silent(ws, args.idle, "fresh connection")
            await ws.send("still here")
            got = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            expect(got == "still here", "echo after the silence: %s" % short(got))
            await asyncio.wait_for(ws.close(1000), 8)
            expect(ws.close_code == 1000, "close code after the silence: %r" % ws.close_code)
            return "silent %.1fs, then echo ok, close 1000" % waited

    async def used():
        async with conn() as ws:
            await ws.send("first")
            got = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            expect(got == "first", "echo before the silence: %s" % short(got))
            waited = await stay_silent(ws, args.idle, "connection after one echo")
            await ws.send(b"\x00binary after silence\xff")
            got = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            expect(got == b"\x00binary after silence\xff", "echo after the silence: %s" % short(got))
            await asyncio.wait_for(ws.close(1000), 8)
            expect(ws.close_code == 1000, "close code after the silence: %r" % ws.close_code)
            return "echo, silent %.1fs, echo ok, close 1000" % waited

    async def long_idle():
        # Longer than mod_reqtimeout's body limit (RequestReadTimeout body=20
        # in the suite, Debian's default): its input filter must be gone.
        async with conn() as ws:
            await ws.send("before the long silence")
            got = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            expect(got == "before the long silence", "echo before the silence: %s" % short(got))
            waited = await stay_silent(ws, args.long_idle, "long silence")
            await ws.send("after the long silence")
            got = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT)
            expect(got == "after the long silence", "echo after the silence: %s" % short(got))
            await asyncio.wait_for(ws.close(1000), 8)
            expect(ws.close_code == 1000, "close code after the silence: %r" % ws.close_code)
            return "echo, silent %.1fs, echo ok, close 1000" % waited

    checks = [R.run("idle_fresh_survives", fresh, args.idle + 25),
              R.run("idle_after_echo_survives", used, args.idle + 25)]
    if args.long_idle > 0:
        checks.append(R.run("idle_beyond_reqtimeout_survives", long_idle, args.long_idle + 25))
    await asyncio.gather(*checks)


def main():
    p = base_args(__doc__)
    p.add_argument("--idle", type=float, default=7.0)
    p.add_argument("--long-idle", type=float, default=25.0,
                   help="silence of the third connection (0: skip that check)")
    args = p.parse_args()
    R = Results()
    asyncio.run(main_async(args, R))
    return R.exit_code()


if __name__ == "__main__":
    sys.exit(main())
