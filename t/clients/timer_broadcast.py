#!/usr/bin/python3
"""Many clients of a handler built only on ws_set_timer and ws_defer.

Usage: /usr/bin/python3 t/clients/timer_broadcast.py --port PORT
           [--host 127.0.0.1] [--path /v2stress] [--clients 500]
           [--duration 6] [--leave 0.4] [--broadcasts 1] [--seed N]

Drives t/handlers/v2_handler.c at a location with tick=50: every connection
gets "hello ..." then "tick 1", "tick 2", ... every 50 ms from a loop timer,
and "broadcast <text>" from any connection reaches every connection of the
location through a ws_defer to each.  --clients connections open at once;
a fraction --leave of them go away at a random moment (half by a close
handshake, half by dropping TCP), each a random time after its hello; the
others stay.  One more connection, the broadcaster, sends "broadcast <n>"
for n = 1, 2, ... every 50 ms for --duration s, then "broadcast end"; a
connection that stays reads until "bcast end" (bounded), so what it got is
complete however far behind this client's reading is.

Checks (JSON lines, see interop_common.py):
  all_opened       every connection got its hello
  ticks_in_order   on every connection the ticks are 1, 2, 3 ... with no
                   gap and no repeat, until it left
  ticks_flowing    every connection that stayed got ticks for the whole run
  bcast_in_order   on every connection the broadcasts arrive in increasing
                   order, none twice
  bcast_complete   (--broadcasts 1) a connection that stayed got every
                   broadcast sent after its hello arrived; off when the
                   connections may be in several children (prefork), whose
                   locations are separate instances
"""

import asyncio
import random
import time

import websockets

from interop_common import Results, base_args, expect, scaled, time_factor

TICK_S = 0.05


class Gate:
    """Set once every connection has its hello or has given up."""
    def __init__(self, n):
        self.left = n
        self.event = asyncio.Event()
        if n == 0:
            self.event.set()

    def settled(self, conn):
        if conn.settled:
            return
        conn.settled = True
        self.left -= 1
        if self.left == 0:
            self.event.set()


class Conn:
    def __init__(self, idx, leaves_after):
        self.idx = idx
        self.leaves_after = leaves_after   # s after hello; None: stays
        self.leaves_at = None
        self.settled = False
        self.hello_at = None
        self.ticks = []
        self.bcasts = []
        self.errors = []


async def run_conn(url, conn, deadline, wait_end, gate):
    """wait_end: read until "bcast end" (bounded by deadline); else (the
    connections may be in other children than the broadcaster's) until the
    deadline."""
    try:
        async with websockets.connect(url, ping_interval=None, close_timeout=3,
                                      max_queue=None) as ws:
            end = deadline
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    if wait_end and conn.leaves_at is None:
                        conn.errors.append("no 'bcast end' by the deadline")
                    break
                try:
                    msg = await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    continue
                if msg.startswith("hello "):
                    conn.hello_at = time.monotonic()
                    gate.settled(conn)
                    if conn.leaves_after is not None:
                        end = conn.leaves_at = conn.hello_at + conn.leaves_after
                elif msg.startswith("tick "):
                    conn.ticks.append(int(msg[5:]))
                elif msg == "bcast end":
                    break
                elif msg.startswith("bcast "):
                    conn.bcasts.append(int(msg[6:]))
            if conn.leaves_at is not None and time.monotonic() >= conn.leaves_at:
                conn.errors = []       # it left on purpose
            if conn.leaves_at is not None and conn.idx % 2:
                ws.transport.abort()   # vanish: no close frame
    except Exception as e:  # noqa: BLE001 - recorded, checked below
        conn.errors.append(repr(e))
    finally:
        gate.settled(conn)


async def broadcaster(url, sent, until):
    async with websockets.connect(url, ping_interval=None, max_queue=None) as ws:
        await asyncio.wait_for(ws.recv(), 10)          # hello
        n = 0
        while time.monotonic() < until:
            n += 1
            sent.append((n, time.monotonic()))
            await ws.send("broadcast %d" % n)
            await asyncio.sleep(0.05)
        await ws.send("broadcast end")
        await ws.close()


def check_ticks(conns):
    bad = [c.idx for c in conns if c.ticks != list(range(1, len(c.ticks) + 1))]
    expect(not bad, "ticks out of order, lost or repeated on %d connections, e.g. #%s: %s"
           % (len(bad), bad[:1], bad and next(c.ticks[:20] for c in conns if c.idx == bad[0])))
    return "%d connections, %d ticks" % (len(conns), sum(len(c.ticks) for c in conns))


def check_flowing(conns, duration):
    stayed = [c for c in conns if c.leaves_after is None]
    # half the ideal: a loaded machine (and a slower server: WS_TEST_TIME_FACTOR)
    want = int(duration / TICK_S * 0.5 / time_factor())
    short = [c.idx for c in stayed if len(c.ticks) < want]
    expect(not short, "%d connections got fewer than %d ticks in %.0f s, e.g. #%s with %s"
           % (len(short), want, duration, short[:1],
              short and len(next(c.ticks for c in stayed if c.idx == short[0]))))
    return "%d stayed, at least %d ticks each" % (len(stayed), want)


def check_bcast_order(conns):
    bad = [c.idx for c in conns if c.bcasts != sorted(set(c.bcasts))]
    expect(not bad, "broadcasts out of order or repeated on %d connections" % len(bad))
    return "%d broadcasts received in all" % sum(len(c.bcasts) for c in conns)


def check_bcast_complete(conns, sent):
    missing = 0
    for c in conns:
        if c.leaves_after is not None or c.hello_at is None:
            continue
        want = [n for n, t in sent if t > c.hello_at]
        got = set(c.bcasts)
        missing += sum(1 for n in want if n not in got)
    expect(missing == 0, "%d broadcasts missing on connections that stayed" % missing)
    return "%d broadcasts, each to every connection open for it" % len(sent)


async def main():
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--path", default="/v2stress")
    p.add_argument("--clients", type=int, default=500)
    p.add_argument("--duration", type=float, default=6)
    p.add_argument("--leave", type=float, default=0.4)
    p.add_argument("--broadcasts", type=int, default=1)
    p.add_argument("--seed", type=int, default=int(time.time()))
    a = p.parse_args()
    rnd = random.Random(a.seed)
    url = "ws://%s:%d%s" % (a.host, a.port, a.path)
    start = time.monotonic()
    # A bound on the reading; without broadcasts checked, the stop time.
    deadline = start + a.duration + scaled(20 if a.broadcasts else 8)
    conns = [Conn(i, rnd.uniform(0.2, a.duration - 1)
                  if rnd.random() < a.leave else None)
             for i in range(a.clients)]
    sent = []
    r = Results()

    gate = Gate(len(conns))

    async def all_conns():
        await asyncio.gather(*(run_conn(url, c, deadline, a.broadcasts, gate)
                               for c in conns))

    receivers = asyncio.ensure_future(all_conns())
    # The broadcaster starts once every connection has its hello or has
    # failed (bounded: all_opened then reports the ones without one).
    try:
        await asyncio.wait_for(gate.event.wait(), scaled(15))
    except asyncio.TimeoutError:
        pass
    await broadcaster(url, sent, time.monotonic() + a.duration)
    await receivers

    async def opened():
        none = [c.idx for c in conns if c.hello_at is None]
        errs = [c.errors[0] for c in conns if c.errors]
        expect(not errs, "%d connections failed: %s" % (len(errs), errs[:3]))
        expect(not none, "%d connections got no hello (first errors: %s)"
               % (len(none), errs[:3]))
        return "%d connections" % len(conns)

    async def wrap(fn, *args):
        return fn(*args)
    await r.run("all_opened", opened, 5)
    await r.run("ticks_in_order", lambda: wrap(check_ticks, conns), 5)
    await r.run("ticks_flowing", lambda: wrap(check_flowing, conns, a.duration), 5)
    await r.run("bcast_in_order", lambda: wrap(check_bcast_order, conns), 5)
    if a.broadcasts:
        await r.run("bcast_complete", lambda: wrap(check_bcast_complete, conns, sent), 5)
    return r.exit_code()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
