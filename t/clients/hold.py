#!/usr/bin/python3
"""Holds many WebSockets open at once, driven by its parent (t/ops/hold20k.t).

Usage: /usr/bin/python3 t/clients/hold.py --port PORT [--host 127.0.0.1]
           [--path /echo] [--count 5000] [--source 127.0.0.2]
           [--concurrency 200] [--open-phase 90]

Every connection binds its local end to --source (port chosen by the
kernel), so several processes, each with its own source address, do not
share one address's ephemeral ports.

Phases, each bounded; the parent says when to go on by writing a line on
stdin, and each phase ends with one JSON line on stdout:

  1. open --count WebSockets (at most --concurrency handshakes in flight)
     and keep them open:                      {"phase": "opened", ...}
  2. stdin "echo <seconds>": count those still open, then each sends one
     text message and awaits its echo:        {"phase": "echoed", ...}
  3. stdin "closewait <seconds>": wait until the server has closed every
     connection (e.g. after a graceful stop) and count the close codes it
     sent (a connection that ended without a close frame counts as 1006):
                                               {"phase": "closed", ...}
Then it exits: 0 if every phase accounted for all --count connections.
A line "quit" (or EOF on stdin) ends it at once.  Diagnostics go to stderr.
"""

import argparse
import asyncio
import collections
import json
import resource
import sys
import time

import websockets

OPEN_TIMEOUT = 30.0   # s, one opening handshake
CLOSE_TIMEOUT = 10.0  # s, one closing handshake


def log(msg):
    sys.stderr.write("[hold %s %.1fs] %s\n" % (ARGS.source, time.monotonic() - T0, msg))
    sys.stderr.flush()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def top(counter, n=5):
    return "; ".join("%dx %s" % (k, e) for e, k in counter.most_common(n))


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(target, soft), hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def read_command(loop):
    line = await loop.run_in_executor(None, sys.stdin.readline)
    parts = line.split()
    return parts if parts else ["quit"]


async def main():
    loop = asyncio.get_running_loop()
    url = "ws://%s:%d%s" % (ARGS.host, ARGS.port, ARGS.path)
    n = ARGS.count
    conns = [None] * n
    errors = collections.Counter()
    sem = asyncio.Semaphore(ARGS.concurrency)

    async def open_one(i):
        async with sem:
            try:
                conns[i] = await websockets.connect(
                    url, local_addr=(ARGS.source, 0), open_timeout=OPEN_TIMEOUT,
                    close_timeout=CLOSE_TIMEOUT, ping_interval=None,
                    compression=None, max_queue=2, read_limit=2 ** 12,
                    write_limit=2 ** 12)
            except Exception as e:  # noqa: BLE001 - every failure is counted
                errors["%s: %s" % (type(e).__name__, e)] += 1

    t = time.monotonic()
    tasks = [asyncio.ensure_future(open_one(i)) for i in range(n)]
    _, pending = await asyncio.wait(tasks, timeout=ARGS.open_phase)
    for p in pending:
        p.cancel()
    if pending:
        errors["handshake still pending after %ss" % ARGS.open_phase] += len(pending)
        await asyncio.wait(pending, timeout=5)
    opened = sum(1 for c in conns if c is not None)
    log("opened %d/%d in %.1fs%s" % (opened, n, time.monotonic() - t,
                                    ("; errors: " + top(errors)) if errors else ""))
    emit({"phase": "opened", "opened": opened, "count": n,
          "seconds": round(time.monotonic() - t, 2), "errors": top(errors)})
    ok = opened == n

    cmd = await read_command(loop)
    if cmd[0] != "echo":
        return 1
    limit = float(cmd[1]) if len(cmd) > 1 else 60.0
    live = [c for c in conns if c is not None]
    still_open = sum(1 for c in live if c.open)
    echo_err = collections.Counter()
    echoed = 0

    async def echo_one(i, c):
        nonlocal echoed
        msg = "hold %s %d" % (ARGS.source, i)
        try:
            await c.send(msg)
            got = await c.recv()
            if got == msg:
                echoed += 1
            else:
                echo_err["wrong echo"] += 1
        except websockets.ConnectionClosed as e:
            echo_err["closed during echo: %s" % (e.rcvd.code if e.rcvd else "1006")] += 1
        except Exception as e:  # noqa: BLE001
            echo_err["%s: %s" % (type(e).__name__, e)] += 1

    t = time.monotonic()
    etasks = [asyncio.ensure_future(echo_one(i, c)) for i, c in enumerate(live)]
    if etasks:
        _, epending = await asyncio.wait(etasks, timeout=limit)
        for p in epending:
            p.cancel()
        if epending:
            echo_err["no echo within %ss" % limit] += len(epending)
            await asyncio.wait(epending, timeout=5)
    log("echoed %d/%d in %.1fs (open at start: %d)%s" % (
        echoed, len(live), time.monotonic() - t, still_open,
        ("; errors: " + top(echo_err)) if echo_err else ""))
    emit({"phase": "echoed", "open_at_echo": still_open, "echoed": echoed, "count": n,
          "seconds": round(time.monotonic() - t, 2), "errors": top(echo_err)})
    ok = ok and echoed == n and still_open == n

    cmd = await read_command(loop)
    if cmd[0] != "closewait":
        return 1
    limit = float(cmd[1]) if len(cmd) > 1 else 60.0
    t = time.monotonic()
    waits = [asyncio.ensure_future(c.wait_closed()) for c in live]
    if waits:
        _, wpending = await asyncio.wait(waits, timeout=limit)
        for p in wpending:
            p.cancel()
    codes = collections.Counter()
    reasons = collections.Counter()
    for c in live:
        if c.close_rcvd is not None:
            codes[str(c.close_rcvd.code)] += 1
            reasons[c.close_rcvd.reason] += 1
        elif c.closed:
            codes["1006"] += 1
        else:
            codes["still open"] += 1
    log("closed in %.1fs: codes %s, reasons %s" % (time.monotonic() - t, dict(codes), dict(reasons)))
    emit({"phase": "closed", "codes": dict(codes), "reasons": dict(reasons), "count": n,
          "seconds": round(time.monotonic() - t, 2)})
    for c in live:
        if c.transport is not None and not c.transport.is_closing():
            c.transport.abort()
    ok = ok and codes.get("1001", 0) == n
    return 0 if ok else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/echo")
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--source", default="127.0.0.1")
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--open-phase", type=float, default=90.0)
    ARGS = p.parse_args()
    T0 = time.monotonic()
    limit = raise_nofile(ARGS.count + 256)
    if limit < ARGS.count + 64:
        log("RLIMIT_NOFILE %d is too low for %d connections" % (limit, ARGS.count))
        sys.exit(2)
    sys.exit(asyncio.run(main()))
