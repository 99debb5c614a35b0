#!/usr/bin/python3
"""Idle-connection scale test: N (default 2000) WebSockets to /echo open at once.

Usage: /usr/bin/python3 t/clients/scale.py --port PORT [--host 127.0.0.1] [--count 2000]

Phases, each bounded in time:
  1. open all N connections (at most --concurrency opening handshakes in
     flight at once) and keep every one of them open;
  2. check that all N are still open at the same time (none closed yet);
  3. every connection sends one text message and must receive its echo;
  4. every connection closes with 1000 and must see the server's 1000 in reply;
  5. a new connection then opens and echoes at once.

Under a thread-per-connection design (25 threads) phase 1 cannot complete.
Prints JSON result lines (see interop_common.py) with the counts in "detail",
and a "counts" line; exit 0 iff every check passed.
"""

import asyncio
import collections
import json
import resource
import sys
import time

import websockets

from interop_common import CheckFailed, Results, base_args

OPEN_PHASE = 60.0     # s, the whole opening phase
ECHO_PHASE = 30.0     # s
CLOSE_PHASE = 30.0    # s
OPEN_TIMEOUT = 20.0   # s, one opening handshake
CLOSE_TIMEOUT = 10.0  # s, one closing handshake


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(target, soft), hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def summarize(errors, limit=5):
    c = collections.Counter(errors)
    return "; ".join("%dx %s" % (n, e) for e, n in c.most_common(limit))


async def scale(args, R):
    url = "ws://%s:%d/echo" % (args.host, args.port)
    n = args.count
    conns = [None] * n
    open_err = []
    early_close = []
    sem = asyncio.Semaphore(args.concurrency)

    def log(msg):
        sys.stderr.write("[scale %.1fs] %s\n" % (time.monotonic() - t_start, msg))
        sys.stderr.flush()

    t_start = time.monotonic()

    async def open_one(i):
        async with sem:
            try:
                conns[i] = await websockets.connect(
                    url, open_timeout=OPEN_TIMEOUT, close_timeout=CLOSE_TIMEOUT,
                    ping_interval=None, compression=None, max_queue=4)
            except Exception as e:  # noqa: BLE001
                open_err.append("%s: %s" % (type(e).__name__, e))

    # Phase 1: open all.
    tasks = [asyncio.ensure_future(open_one(i)) for i in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=OPEN_PHASE)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
    opened = sum(1 for c in conns if c is not None)
    t_open = time.monotonic() - t_start
    log("opened %d/%d in %.1fs (%d still pending at the deadline)" % (opened, n, t_open, len(pending)))
    detail = "opened %d of %d in %.1fs" % (opened, n, t_open)
    if pending:
        detail += "; %d handshakes still pending after %ss" % (len(pending), OPEN_PHASE)
    if open_err:
        detail += "; errors: " + summarize(open_err)
    R.report("opened", opened == n, detail, t_open)

    # Phase 2: all open simultaneously (none closed by the server meanwhile).
    alive = [c for c in conns if c is not None and c.open]
    for i, c in enumerate(conns):
        if c is not None and not c.open:
            early_close.append("code %s" % c.close_code)
    R.report("all_open_at_once", opened == n and len(alive) == n,
             "%d of %d open at the same moment%s" % (
                 len(alive), n, ("; closed early: " + summarize(early_close)) if early_close else ""))

    # Phase 3: one message each, echoed.
    echo_err = []
    echoed = 0

    async def echo_one(i, c):
        nonlocal echoed
        msg = "scale message %d" % i
        try:
            await c.send(msg)
            got = await c.recv()
            if got == msg:
                echoed += 1
            else:
                echo_err.append("wrong echo")
        except websockets.ConnectionClosed as e:
            echo_err.append("closed during echo: code %s" % (e.rcvd.code if e.rcvd else "none (1006)"))
        except Exception as e:  # noqa: BLE001
            echo_err.append("%s: %s" % (type(e).__name__, e))

    t0 = time.monotonic()
    etasks = [asyncio.ensure_future(echo_one(i, c)) for i, c in enumerate(conns) if c is not None]
    if etasks:
        _, epending = await asyncio.wait(etasks, timeout=ECHO_PHASE)
        for t in epending:
            t.cancel()
        if epending:
            echo_err += ["no echo within %ss" % ECHO_PHASE] * len(epending)
            await asyncio.wait(epending, timeout=5)
    log("echoed %d/%d in %.1fs" % (echoed, n, time.monotonic() - t0))
    R.report("echoed", echoed == n,
             "echoed %d of %d%s" % (echoed, n, ("; errors: " + summarize(echo_err)) if echo_err else ""),
             time.monotonic() - t0)

    # Phase 4: clean close, 1000 both ways.
    close_codes = collections.Counter()
    close_err = []

    async def close_one(c):
        try:
            await c.close(1000, "scale done")
        except Exception as e:  # noqa: BLE001
            close_err.append("%s: %s" % (type(e).__name__, e))
        close_codes[c.close_code] += 1

    t0 = time.monotonic()
    ctasks = [asyncio.ensure_future(close_one(c)) for c in conns if c is not None]
    if ctasks:
        _, cpending = await asyncio.wait(ctasks, timeout=CLOSE_PHASE)
        for t in cpending:
            t.cancel()
        if cpending:
            close_err += ["close not finished within %ss" % CLOSE_PHASE] * len(cpending)
            await asyncio.wait(cpending, timeout=5)
    for c in conns:
        if c is not None and c.transport is not None and not c.transport.is_closing():
            c.transport.abort()
    clean = close_codes.get(1000, 0)
    log("closed clean %d/%d in %.1fs, codes %s" % (clean, n, time.monotonic() - t0, dict(close_codes)))
    R.report("closed_clean", clean == n,
             "closed with 1000 both ways: %d of %d; close codes seen: %s%s" % (
                 clean, n, json.dumps({str(k): v for k, v in close_codes.items()}),
                 ("; errors: " + summarize(close_err)) if close_err else ""),
             time.monotonic() - t0)
    # Afterwards the server must still take a new connection at once.
    async def after():
        async with websockets.connect(url, open_timeout=10, close_timeout=5,
                                      ping_interval=None) as ws:
            await ws.send("after the crowd")
            got = await asyncio.wait_for(ws.recv(), 10)
            if got != "after the crowd":
                raise CheckFailed("echo after the crowd: %r" % (got,))
            await asyncio.wait_for(ws.close(1000), 8)
            if ws.close_code != 1000:
                raise CheckFailed("close code after the crowd: %r" % ws.close_code)
    await R.run("usable_after", after, 30)

    sys.stdout.write(json.dumps({"counts": {"opened": opened, "echoed": echoed, "closed_clean": clean,
                                            "count": n}}) + "\n")
    sys.stdout.flush()


def main():
    p = base_args(__doc__)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    args = p.parse_args()
    limit = raise_nofile(args.count + 256)
    if limit < args.count + 64:
        sys.stderr.write("RLIMIT_NOFILE %d is too low for %d connections\n" % (limit, args.count))
        return 2
    R = Results()
    asyncio.run(scale(args, R))
    return R.exit_code()


if __name__ == "__main__":
    sys.exit(main())
