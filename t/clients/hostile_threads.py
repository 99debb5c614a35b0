#!/usr/bin/python3
"""Many clients of a handler that sends and closes from its own threads.

Usage: /usr/bin/python3 t/clients/hostile_threads.py --port PORT
           [--host 127.0.0.1] [--path /hostile/threads] [--clients 400]
           [--duration 12] [--reply-timeout 3] [--seed N]

Drives t/handlers/hostile_handler.c (see there for the commands).  Each of
--clients tasks runs sessions back to back for --duration seconds; a session
is one WebSocket doing random rounds:
  - "work <id> <n> done":  the handler's threads send <id>:1..<id>:<n> and
    <id>:done; all must arrive, in order;
  - "work <id> <n> close": the same, then the server's close 1000 "done <id>";
    the session ends there;
  - "techo <text>": the text must come back (sent by a handler thread) with
    the client sending nothing else meanwhile;
  - a random exit: the client sends "work <id> <n> ..." and then goes away
    at once, by TCP FIN without a close frame, or by RST;
  - a clean client close (1000), answered by the server's close.
Every wait for the next frame is bounded by --reply-timeout: a longer wait
is a stall (the data or the close the server owed never came).  A stalled
session is abandoned (TCP FIN, no close frame) and the task goes on with a
new one.  "work" rounds ask for padded messages at random (0-400 bytes), so
that queues reach the location's small WebSocketMaxPendingOutput.

Client keepalive pings are off: a ping would make the server flush, hiding
exactly the lost wakeups this looks for.

Prints JSON check lines (see interop_common.py):
  work_done      every "done" round got all its messages and its ":done"
  server_close   every "close" round got its messages and close 1000
  thread_echo    every "techo" came back within the bound
  client_close   every client close was answered
  no_stall       no wait longer than --reply-timeout, no error
and a {"counts": {...}} line; exit 0 iff all passed.
"""

import argparse
import asyncio
import collections
import json
import random
import sys
import time

import websockets

from interop_common import Results


class Stall(Exception):
    pass


class Stats:
    def __init__(self):
        self.c = collections.Counter()
        self.fail = collections.defaultdict(list)   # check -> details
        self.max_wait = 0.0

    def bad(self, check, detail):
        self.c[check + "_bad"] += 1
        if len(self.fail[check]) < 8:
            self.fail[check].append(detail)


async def recv_bounded(ws, timeout, st, what):
    t0 = time.monotonic()
    try:
        m = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        raise Stall("no frame within %.1f s while waiting for %s" % (timeout, what))
    st.max_wait = max(st.max_wait, time.monotonic() - t0)
    return m


async def session(args, rng, tid, sno, st, deadline):
    url = "ws://%s:%d%s" % (args.host, args.port, args.path)
    try:
        ws = await asyncio.wait_for(
            websockets.connect(url, ping_interval=None, close_timeout=args.reply_timeout,
                               open_timeout=None, max_queue=None),
            args.open_timeout)
    except Exception as e:
        st.bad("no_stall", "t%d s%d: open failed: %r" % (tid, sno, e))
        return
    st.c["sessions"] += 1
    rnd = 0
    check = "no_stall"
    try:
        while True:
            rnd += 1
            rid = "t%d.%d.%d" % (tid, sno, rnd)
            if time.monotonic() >= deadline:
                # The end: a clean client close, answered by the server.
                st.c["client_close"] += 1
                try:
                    await asyncio.wait_for(ws.close(1000, "bye"), args.reply_timeout + 1)
                except asyncio.TimeoutError:
                    pass
                if ws.close_code != 1000:
                    st.bad("client_close", "%s: close answered with %r" % (rid, ws.close_code))
                return
            r = rng.random()
            n = rng.randint(1, 20)
            pad = rng.choice((0, 0, 100, 400))
            padding = (" " + "x" * pad) if pad else ""
            check = "no_stall"
            if r < 0.15:
                check = "thread_echo"
                st.c["techo"] += 1
                text = "echo-" + rid
                await ws.send("techo " + text)
                m = await recv_bounded(ws, args.reply_timeout, st, "techo reply " + rid)
                if m != text:
                    st.bad("thread_echo", "%s: got %r" % (rid, m))
            elif r < 0.25:
                # A random exit in the middle of the handler's work.
                st.c["exit"] += 1
                await ws.send("work %s %d %s %d" % (rid, n, rng.choice(("done", "close")), pad))
                if rng.random() < 0.5:
                    ws.transport.close()      # FIN, no close frame
                    st.c["exit_fin"] += 1
                else:
                    ws.transport.abort()      # RST
                    st.c["exit_rst"] += 1
                return
            else:
                end = "close" if r < 0.45 else "done"
                check = "work_done" if end == "done" else "server_close"
                st.c["work_" + end] += 1
                await ws.send("work %s %d %s %d" % (rid, n, end, pad))
                want = ["%s:%d%s" % (rid, i, padding) for i in range(1, n + 1)]
                if end == "done":
                    want.append(rid + ":done")
                got = []
                try:
                    for _ in want:
                        got.append(await recv_bounded(
                            ws, args.reply_timeout, st,
                            "%s message %d/%d" % (rid, len(got) + 1, len(want))))
                except websockets.ConnectionClosed as e:
                    st.bad(check, "%s: closed (%s) after %d of %d messages"
                           % (rid, e, len(got), len(want)))
                    return
                if got != want:
                    st.bad(check, "%s: got %r..., want %r..." % (rid, got[:3], want[:3]))
                if end == "close":
                    try:
                        m = await recv_bounded(ws, args.reply_timeout, st, rid + " close")
                        st.bad("server_close", "%s: got %r instead of the close" % (rid, m))
                    except websockets.ConnectionClosed:
                        pass
                    if ws.close_code != 1000 or ws.close_reason != "done " + rid:
                        st.bad("server_close", "%s: close %r %r" % (rid, ws.close_code,
                                                                     ws.close_reason))
                    return
    except Stall as e:
        st.bad("no_stall", "%s: %s" % (rid, e))
        if check != "no_stall":
            st.bad(check, "%s: %s" % (rid, e))
        st.c["stalls"] += 1
        # Leave like a client that gives up: FIN, no close frame.  The server
        # must notice and finish the connection.
        ws.transport.close()
    except websockets.ConnectionClosed as e:
        st.bad("no_stall", "%s: connection closed unexpectedly: %s" % (rid, e))
        ws.transport.abort()
    except Exception as e:
        st.bad("no_stall", "%s: %r" % (rid, e))
        ws.transport.abort()


async def client(args, tid, st, deadline):
    rng = random.Random(args.seed * 100003 + tid)
    sno = 0
    while time.monotonic() < deadline:
        sno += 1
        await session(args, rng, tid, sno, st, deadline)


async def main_async(args, R):
    st = Stats()
    t0 = time.monotonic()
    deadline = t0 + args.duration
    await asyncio.wait_for(
        asyncio.gather(*(client(args, i, st, deadline) for i in range(args.clients))),
        args.duration + 4 * args.reply_timeout + args.open_timeout + 10)
    el = time.monotonic() - t0
    c = st.c

    def report(check, count_key, what):
        nbad = c[check + "_bad"]
        R.report(check, nbad == 0 and (count_key is None or c[count_key] > 0),
                 "%d %s, %d bad%s" % (c[count_key] if count_key else 0, what, nbad,
                                     (": " + "; ".join(st.fail[check])) if nbad else ""),
                 el)

    report("work_done", "work_done", "'done' rounds")
    report("server_close", "work_close", "'close' rounds")
    report("thread_echo", "techo", "handler-thread echoes")
    report("client_close", "client_close", "client closes")
    # Rounds that ended with a missing message are counted in work_*.
    report("no_stall", "sessions", "sessions")
    out = dict(c)
    out["max_wait"] = round(st.max_wait, 3)
    out["seconds"] = round(el, 2)
    sys.stdout.write(json.dumps({"counts": out}) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/hostile/threads")
    p.add_argument("--clients", type=int, default=400)
    p.add_argument("--duration", type=float, default=12.0)
    p.add_argument("--reply-timeout", type=float, default=3.0)
    p.add_argument("--open-timeout", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=int(time.time()))
    args = p.parse_args()
    sys.stderr.write("hostile_threads: seed %d\n" % args.seed)
    R = Results()
    try:
        asyncio.run(main_async(args, R))
    except asyncio.TimeoutError:
        R.report("overall", False, "the run did not finish in time")
    sys.exit(0 if R.failed == 0 else 1)


if __name__ == "__main__":
    main()
