#!/usr/bin/python3
"""bench/soak.py - the client, monitor and checks of bench/soak.

    bench/soak.py --port P --pidfile F --errlog F --csv F [--minutes M]
                  [--restart-every R] [--conns N] [--warmup S] ...

Runs against an httpd bench/soak started (bench/soak.conf.in): /echo
(echo handler) and /increment (a counter the server pushes every 50 ms),
one log line "SOAK path in out code who" per closed WebSocket.

The client: --conns slots, one WebSocket each at any time; a third of
them (--push-share) on /increment/<id>, the rest on /echo/<id>, every id
unique.  Each connection lives a random --life-min..--life-max seconds
(constant churn), then the client closes it with 1000; when the server
closes first (1001 at a graceful restart) the slot reconnects at once.
An echo connection sends "<id> <seq>" every --interval s while fewer than
--window are unanswered; before its own close it waits (bounded) for
every echo.  Pushes are checked to be 0, 1, 2, ... on each connection.

Definitions (what is checked at the end, each one fails the run):
  echo cut     on a connection the server closed first, the messages the
               client sent that were not echoed before the server's close
               frame (it reached the server after its 1001, or was read
               and dropped by the closing handshake).  At most --window
               per connection; 0 on connections the client closed.
  lost         an echo sent and neither echoed nor cut: must be 0.  The
               server's own count decides: per connection the server's
               %{in}m = %{out}m = the echoes the client got, in order, so
               every message the server took before its 1001 was echoed.
  pushes       per /increment connection the server's %{out}m = the
               numbers the client got, consecutive from 0.
  totals       WebSocketsTotal = connections opened; WebSocketMessagesIn =
               echoes the client got; WebSocketMessagesOut = echoes +
               pushes; Closes1000/1001 = the client's counts; no 1006.
  memory/fds   after the run, clients closed and WebSocketsOpen back to 0,
               against the baseline (idle after a --warmup of the same
               load): total RSS of parent + children within --rss-tol-kb
               plus --rss-tol-pct of the baseline (defaults 2 MiB + 5%:
               allocator slack, while a 5-minute generation of ~8,000
               connections leaking 400 bytes each would exceed it), the
               parent's RSS (it lives through every restart; its first
               graceful re-reads the configuration, ~300 KiB once) within
               --parent-tol-kb (1 MiB), the same number of processes, the
               same open fds (tolerance --fd-tol, 0; the parent's exactly).

Phases: warm-up (the load for --warmup s, then every client closes),
baseline (idle), run (--minutes, a graceful restart - SIGUSR1 to the
parent, as apachectl -k graceful - every --restart-every minutes), final
(clients close, idle).  A monitor samples every --sample s into the CSV:
RSS, PSS and fds of the httpd processes, the ?auto counters, the client's.
Every wait is bounded; exit 0 only if every check passed.
"""
import argparse
import asyncio
import csv
import os
import random
import re
import signal
import sys
import time

from websockets.client import ClientConnection
from websockets.frames import OP_CLOSE, OP_TEXT
from websockets.http11 import Response
from websockets.uri import parse_uri

KIB = 1024


def opts():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a = p.add_argument
    a("--port", type=int, required=True)
    a("--pidfile", required=True)
    a("--errlog", required=True)
    a("--csv", required=True)
    a("--summary", help="write the summary (key=value lines) here too")
    a("--minutes", type=float, default=30)
    a("--restart-every", type=float, default=5, help="minutes")
    a("--conns", type=int, default=300)
    a("--push-share", type=float, default=1 / 3)
    a("--life-min", type=float, default=2)
    a("--life-max", type=float, default=20)
    a("--interval", type=float, default=0.2, help="s between an echo connection's sends")
    a("--window", type=int, default=4)
    a("--warmup", type=float, default=30, help="s")
    a("--sample", type=float, default=5, help="s")
    a("--rss-tol-kb", type=int, default=2048)
    a("--rss-tol-pct", type=float, default=5)
    a("--parent-tol-kb", type=int, default=1024)
    a("--fd-tol", type=int, default=0)
    a("--children", type=int, default=2)
    return p.parse_args()


O = None
STOP = None            # asyncio.Event: clients close and do not reconnect


class Counts:
    def __init__(self):
        self.opened = self.open = self.handshake_fail = 0
        self.echo_sent = self.echo_recv = self.echo_cut = self.pushes = 0
        self.closed_ours = self.closed_1001 = self.closed_other = self.crossed = 0
        self.reconnects = 0
        self.errors = []         # every one fails the run (first 20 shown)

    def error(self, msg):
        self.errors.append(msg)


C = Counts()
RECORDS = {}             # path -> [kind, sent, got, end, cut]
LIVE = set()             # the Conns open now
SEQ = [0]


class Conn:
    """One WebSocket over asyncio streams, the protocol by websockets'
    sans-I/O ClientConnection (frames after our close are still seen)."""

    def __init__(self, kind, path):
        self.kind, self.path = kind, path
        self.ws = ClientConnection(parse_uri(f"ws://127.0.0.1:{O.port}{path}"))
        self.sent = self.got = 0
        self.next_push = 0
        self.end = None            # 'server:<code>' or 'ours:<code>' or 'eof' ...
        self.wake = asyncio.Event()       # STOP or the server's close frame
        self.drained = asyncio.Event()    # every echo back (or the close)
        self.ours = False

    def flush(self):
        for data in self.ws.data_to_send():
            if data:
                self.w.write(data)
            elif self.w.can_write_eof():
                self.w.write_eof()

    async def open(self):
        async with asyncio.timeout(10):
            self.r, self.w = await asyncio.open_connection("127.0.0.1", O.port)
            self.ws.send_request(self.ws.connect())
            self.flush()
            while True:
                data = await self.r.read(65536)
                if not data:
                    raise ConnectionError("EOF during the handshake")
                self.ws.receive_data(data)
                evs = self.ws.events_received()
                if evs and isinstance(evs[0], Response):
                    if self.ws.handshake_exc is not None:
                        raise ConnectionError(f"handshake: {self.ws.handshake_exc}")
                    self.frames(evs[1:])
                    return

    def frames(self, evs):
        for f in evs:
            if f.opcode is OP_TEXT:
                if self.kind == "echo":
                    want = f"{self.path} {self.got + 1}".encode()
                    if f.data != want:
                        C.error(f"{self.path}: echo {f.data[:40]!r}, want {want!r}")
                    self.got += 1
                    C.echo_recv += 1
                    if self.got == self.sent:
                        self.drained.set()
                else:
                    n = int(f.data) if f.data.isdigit() else -1
                    if n != self.next_push:
                        C.error(f"{self.path}: push {n}, want {self.next_push}")
                    self.next_push = n + 1
                    self.got += 1
                    C.pushes += 1
            elif f.opcode is OP_CLOSE and self.end is None:
                code = self.ws.close_rcvd.code if self.ws.close_rcvd else None
                self.end = f"{'ours' if self.ours else 'server'}:{code}"
                self.wake.set()
                self.drained.set()
        self.flush()

    async def reader(self):
        """Until the server's EOF (bounded: 30 s of silence, 10 s after the
        closing handshake)."""
        while True:
            quiet = 10 if self.end or self.ours else 30
            try:
                async with asyncio.timeout(quiet):
                    data = await self.r.read(65536)
            except TimeoutError:
                C.error(f"{self.path}: nothing for {quiet} s (end {self.end})")
                return
            except ConnectionError as e:
                C.error(f"{self.path}: {e!r} (end {self.end})")
                return
            if not data:
                self.ws.receive_eof()
                self.frames(self.ws.events_received())
                return
            self.ws.receive_data(data)
            self.frames(self.ws.events_received())

    async def driver(self, life):
        """Sends (echo) until the life is over or STOP, then closes with
        1000 once every echo came back (at most 10 s)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + life
        pace = O.interval if self.kind == "echo" else life
        while self.end is None and not STOP.is_set():
            left = end - loop.time()
            if left <= 0:
                break
            if self.kind == "echo" and self.sent - self.got < O.window:
                self.sent += 1
                C.echo_sent += 1
                self.drained.clear()
                self.ws.send_text(f"{self.path} {self.sent}".encode())
                self.flush()
            try:                     # the pace; woken early by STOP or a close
                async with asyncio.timeout(min(pace * random.uniform(0.5, 1.5), left)):
                    await self.wake.wait()
            except TimeoutError:
                pass
        if self.end is None and self.got < self.sent:
            try:
                async with asyncio.timeout(10):
                    await self.drained.wait()
            except TimeoutError:
                C.error(f"{self.path}: {self.sent - self.got} echoes missing after 10 s")
        if self.end is None:
            self.ours = True
            self.ws.send_close(1000)
            self.flush()

    async def run(self, life):
        LIVE.add(self)
        rd = asyncio.ensure_future(self.reader())
        dr = asyncio.ensure_future(self.driver(life))
        await rd
        LIVE.discard(self)
        self.wake.set()
        self.drained.set()
        if not dr.done():
            dr.cancel()
        try:
            await dr
        except asyncio.CancelledError:
            pass
        self.w.close()


async def slot(i, kind):
    """One connection after another until STOP; a short pause only after
    a failed handshake (the listener between generations)."""
    prefix = "/increment" if kind == "push" else "/echo"
    after_1001 = False
    while not STOP.is_set():
        SEQ[0] += 1
        c = Conn(kind, f"{prefix}/s{i}c{SEQ[0]}")
        try:
            await c.open()
        except (OSError, ConnectionError, TimeoutError) as e:
            C.handshake_fail += 1
            if C.handshake_fail > 50 + C.opened // 100:
                C.error(f"too many failed handshakes, last: {e!r}")
                stop()
            if hasattr(c, "w"):
                c.w.close()
            await asyncio.sleep(0.1)
            continue
        C.opened += 1
        C.open += 1
        C.reconnects += after_1001
        await c.run(random.uniform(O.life_min, O.life_max))
        C.open -= 1
        cut = c.sent - c.got if c.kind == "echo" else 0
        after_1001 = c.end == "server:1001"
        if c.end and c.end.startswith("ours:"):
            C.closed_ours += 1
            C.crossed += c.end == "ours:1001"   # our 1000 crossed its 1001
            if cut:
                C.error(f"{c.path}: closed by us with {cut} echoes missing")
        elif after_1001:
            C.closed_1001 += 1
            C.echo_cut += cut
            if cut > O.window:
                C.error(f"{c.path}: {cut} cut, more than the window {O.window}")
        else:
            C.closed_other += 1
            C.error(f"{c.path}: ended {c.end or 'without a close frame'}")
        RECORDS[c.path] = [c.kind, c.sent, c.got, c.end, cut]


# ------------------------------------------------------------ server side

def httpd_pids():
    with open(O.pidfile) as f:
        parent = int(f.read().split()[0])
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            if int(st[st.rindex(")") + 2:].split()[1]) == parent:
                kids.append(int(d))
    return parent, sorted(kids)


def proc_mem(pid):
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss, len(os.listdir(f"/proc/{pid}/fd"))


def server_sample():
    parent, kids = httpd_pids()
    s = {"procs": 1 + len(kids), "rss_kb": 0, "pss_kb": 0, "fds": 0, "child_fds": []}
    for pid in [parent] + kids:
        try:
            rss, pss, fds = proc_mem(pid)
        except OSError:          # a child that just exited
            s["procs"] -= 1
            continue
        s["rss_kb"] += rss
        s["pss_kb"] += pss
        s["fds"] += fds
        if pid == parent:
            s["parent_rss_kb"], s["parent_fds"] = rss, fds
        else:
            s["child_fds"].append(fds)
    return s


async def status():
    """The whole-server lines of /server-status?auto (bounded: 10 s)."""
    async with asyncio.timeout(10):
        r, w = await asyncio.open_connection("127.0.0.1", O.port)
        w.write(b"GET /server-status?auto HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        body = await r.read(-1)
        w.close()
    return {m[1]: int(m[2]) for m in re.finditer(rb"^(WebSocket\w+): (\d+)\r?$", body, re.M)}


COLS = ["t_s", "phase", "restarts", "procs", "rss_kb", "pss_kb", "parent_rss_kb", "fds",
        "parent_fds", "ws_open", "ws_total", "msg_in", "msg_out", "closes1000", "closes1001",
        "closes1006", "cl_open", "cl_opened", "cl_echo_sent", "cl_echo_recv", "cl_pushes",
        "cl_errors"]


class Monitor:
    def __init__(self, path):
        self.f = open(path, "w", newline="")
        self.csv = csv.writer(self.f)
        self.csv.writerow(COLS)
        self.t0 = time.monotonic()
        self.phase, self.restarts = "warmup", 0

    async def sample(self):
        s = server_sample()
        st = await status()
        row = [round(time.monotonic() - self.t0, 1), self.phase, self.restarts, s["procs"],
               s["rss_kb"], s["pss_kb"], s.get("parent_rss_kb", 0), s["fds"],
               s.get("parent_fds", 0), st.get(b"WebSocketsOpen", -1),
               st.get(b"WebSocketsTotal", -1), st.get(b"WebSocketMessagesIn", -1),
               st.get(b"WebSocketMessagesOut", -1), st.get(b"WebSocketCloses1000", -1),
               st.get(b"WebSocketCloses1001", -1), st.get(b"WebSocketCloses1006", -1),
               C.open, C.opened, C.echo_sent, C.echo_recv, C.pushes, len(C.errors)]
        self.csv.writerow(row)
        self.f.flush()
        return s, st

    async def run(self):
        while True:
            try:
                await self.sample()
            except (OSError, TimeoutError, ValueError) as e:
                C.error(f"monitor: {e!r}")
            await asyncio.sleep(O.sample)


def stop():
    STOP.set()
    for c in LIVE:
        c.wake.set()


async def load(seconds, restart_every=None):
    """The clients for SECONDS, then STOP: every slot closes (bounded)."""
    STOP.clear()
    n_push = round(O.conns * O.push_share)
    tasks = [asyncio.ensure_future(slot(i, "push" if i < n_push else "echo"))
             for i in range(O.conns)]
    t_end = time.monotonic() + seconds
    nxt = time.monotonic() + restart_every if restart_every else None
    while time.monotonic() < t_end and not STOP.is_set():
        wake = min(t_end, nxt) if nxt else t_end
        try:
            async with asyncio.timeout(max(0.0, wake - time.monotonic())):
                await STOP.wait()
        except TimeoutError:
            pass
        if nxt and time.monotonic() >= nxt and time.monotonic() < t_end - 1:
            await graceful()
            nxt += restart_every
    stop()
    done, pending = await asyncio.wait(tasks, timeout=60)
    for t in pending:
        t.cancel()
    if pending:
        C.error(f"{len(pending)} slots did not finish within 60 s of the stop")
    for t in done:
        if t.exception():
            C.error(f"slot: {t.exception()!r}")


RESTART_1001 = []


async def graceful():
    parent, _ = httpd_pids()
    before = C.closed_1001
    os.kill(parent, signal.SIGUSR1)
    MON.restarts += 1
    log(f"graceful restart {MON.restarts} (SIGUSR1 to {parent}), {C.open} client connections open")
    RESTART_1001.append(before)


async def idle(what):
    """Waits (at most 60 s) until WebSocketsOpen is 0 and the live
    generation's children are back to --children; returns a sample."""
    deadline = time.monotonic() + 60
    while True:
        s, st = await MON.sample()
        if st.get(b"WebSocketsOpen", -1) == 0 and s["procs"] == 1 + O.children:
            return s, st
        if time.monotonic() > deadline:
            C.error(f"{what}: not idle after 60 s: WebSocketsOpen "
                    f"{st.get(b'WebSocketsOpen')}, {s['procs']} processes")
            return s, st
        await asyncio.sleep(O.sample)


def log(msg):
    print(f"soak: {msg}", file=sys.stderr, flush=True)


MON = None


def check_log(st):
    """The server's line for every client connection (bounded: 30 s)."""
    lines = {}
    rx = re.compile(r"SOAK (\S+) (\d+) (\d+) (\d+) (\w+)")
    deadline = time.monotonic() + 30
    while True:
        with open(O.errlog, errors="replace") as f:
            for line in f:
                m = rx.search(line)
                if m:
                    lines[m[1]] = (int(m[2]), int(m[3]), int(m[4]), m[5])
        if len(lines) >= len(RECORDS) or time.monotonic() > deadline:
            break
        time.sleep(1)
    bad = 0
    for path, (kind, sent, got, end, cut) in RECORDS.items():
        ln = lines.get(path)
        if ln is None:
            why = "no server log line"
        elif kind == "echo" and not (ln[0] == ln[1] == got):
            why = f"server in {ln[0]} out {ln[1]}, client got {got} (sent {sent}, cut {cut})"
        elif kind == "push" and not (ln[0] == 0 and ln[1] == got):
            why = f"server in {ln[0]} out {ln[1]}, client got {got} pushes"
        elif str(ln[2]) != end.split(":")[1]:
            why = f"server close {ln[2]} by {ln[3]}, client {end}"
        else:
            continue
        bad += 1
        C.error(f"{path}: {why}")
    return len(lines), bad


async def main():
    global O, STOP, MON
    O = opts()
    STOP = asyncio.Event()
    MON = Monitor(O.csv)
    mon = asyncio.ensure_future(MON.run())
    log(f"warm-up: {O.conns} connections for {O.warmup:g} s")
    await load(O.warmup)
    MON.phase = "baseline"
    base, _ = await idle("baseline")
    log(f"baseline: {base['procs']} processes, RSS {base['rss_kb']} KiB, fds {base['fds']}")
    MON.phase = "run"
    run0 = dict(opened=C.opened)
    log(f"run: {O.minutes:g} min, a graceful restart every {O.restart_every:g} min")
    await load(O.minutes * 60, O.restart_every * 60)
    MON.phase = "final"
    fin, st = await idle("final")
    mon.cancel()
    n_lines, n_bad = check_log(st)

    # ---- figures and checks
    out = {}
    grow = fin["rss_kb"] - base["rss_kb"]
    tol = O.rss_tol_kb + base["rss_kb"] * O.rss_tol_pct / 100
    out.update(baseline_rss_kb=base["rss_kb"], final_rss_kb=fin["rss_kb"], rss_growth_kb=grow,
               rss_tolerance_kb=int(tol), baseline_parent_rss_kb=base["parent_rss_kb"],
               final_parent_rss_kb=fin["parent_rss_kb"], baseline_procs=base["procs"],
               final_procs=fin["procs"], baseline_fds=base["fds"], final_fds=fin["fds"],
               baseline_parent_fds=base["parent_fds"], final_parent_fds=fin["parent_fds"],
               fd_tolerance=O.fd_tol)
    run_conns = C.opened - run0["opened"]
    out["rss_growth_per_conn_bytes"] = round(grow * KIB / max(1, run_conns), 2)
    with open(O.csv) as f:
        rows = [r for r in csv.DictReader(f) if r["phase"] == "run"]
    if rows:
        pk = max(rows, key=lambda r: int(r["rss_kb"]))
        per = [(int(r["rss_kb"]) - base["rss_kb"]) * KIB / int(r["ws_open"])
               for r in rows if int(r["ws_open"]) > 0]
        out.update(peak_rss_kb=int(pk["rss_kb"]), peak_ws_open=int(pk["ws_open"]),
                   loaded_rss_per_open_conn_bytes=round(sorted(per)[len(per) // 2]) if per else 0)
    out.update(restarts=MON.restarts, connections_opened=C.opened, run_connections=run_conns,
               closed_by_client_1000=C.closed_ours, closed_by_server_1001=C.closed_1001,
               closed_otherwise=C.closed_other, closes_crossed=C.crossed,
               reconnects_after_1001=C.reconnects,
               handshake_failures=C.handshake_fail, echo_sent=C.echo_sent,
               echo_received=C.echo_recv, echo_cut_by_1001=C.echo_cut,
               echo_lost=C.echo_sent - C.echo_recv - C.echo_cut, pushes_received=C.pushes,
               server_log_lines=n_lines, server_log_mismatches=n_bad)
    g = lambda k: st.get(k.encode(), -1)
    out.update(server_ws_total=g("WebSocketsTotal"), server_msg_in=g("WebSocketMessagesIn"),
               server_msg_out=g("WebSocketMessagesOut"), server_closes1000=g("WebSocketCloses1000"),
               server_closes1001=g("WebSocketCloses1001"), server_closes1006=g("WebSocketCloses1006"))

    chk = [
        (grow <= tol, f"RSS back to the baseline: {base['rss_kb']} -> {fin['rss_kb']} KiB "
                      f"(+{grow}; tolerance {int(tol)} = {O.rss_tol_kb} KiB + {O.rss_tol_pct:g}%)"),
        (fin["parent_rss_kb"] - base["parent_rss_kb"] <= O.parent_tol_kb,
         f"the parent's RSS (it lives through every restart): {base['parent_rss_kb']} -> "
         f"{fin['parent_rss_kb']} KiB (tolerance +{O.parent_tol_kb} KiB)"),
        (fin["procs"] == base["procs"], f"processes {base['procs']} -> {fin['procs']}"),
        (fin["fds"] - base["fds"] <= O.fd_tol and fin["parent_fds"] == base["parent_fds"],
         f"open fds back to the baseline: {base['fds']} -> {fin['fds']} (tolerance "
         f"{O.fd_tol}), parent {base['parent_fds']} -> {fin['parent_fds']} (exactly)"),
        (out["echo_lost"] == 0, f"echoes: sent {C.echo_sent} = received {C.echo_recv} + cut by "
                                f"a 1001 {C.echo_cut}"),
        (n_bad == 0 and n_lines >= len(RECORDS),
         f"server log: {n_lines} lines for {len(RECORDS)} connections, {n_bad} mismatches "
         "(echo: in = out = client got; push: out = client got)"),
        (g("WebSocketsTotal") == C.opened, f"WebSocketsTotal {g('WebSocketsTotal')} = opened {C.opened}"),
        (g("WebSocketMessagesIn") == C.echo_recv,
         f"WebSocketMessagesIn {g('WebSocketMessagesIn')} = echoes received {C.echo_recv}"),
        (g("WebSocketMessagesOut") == C.echo_recv + C.pushes,
         f"WebSocketMessagesOut {g('WebSocketMessagesOut')} = echoes + pushes {C.echo_recv + C.pushes}"),
        # A crossing (our 1000 on the wire while the server sent its 1001)
        # is 1001 for the server: its close frame went first.
        (g("WebSocketCloses1000") == C.closed_ours - C.crossed
         and g("WebSocketCloses1001") == C.closed_1001 + C.crossed
         and g("WebSocketCloses1006") == 0,
         f"closes: 1000 {g('WebSocketCloses1000')} = ours {C.closed_ours} - crossed {C.crossed}, "
         f"1001 {g('WebSocketCloses1001')} = server's {C.closed_1001} + crossed, "
         f"1006 {g('WebSocketCloses1006')}"),
        (C.pushes > 0 and C.echo_recv > 0 and C.closed_1001 > 0 and C.closed_ours > 0,
         "traffic of every kind: echoes, pushes, 1001s, our 1000s"),
        (MON.restarts == int(O.minutes // O.restart_every - (O.minutes % O.restart_every == 0))
         and all(b < a for b, a in zip(RESTART_1001, RESTART_1001[1:] + [C.closed_1001])),
         f"{MON.restarts} graceful restarts, each followed by 1001s"),
        (not C.errors, f"client errors: {len(C.errors)}"),
    ]
    for k, v in out.items():
        print(f"{k}={v}")
    ok = True
    for good, what in chk:
        print(f"{'ok    ' if good else 'FAILED'} {what}")
        ok &= good
    for e in C.errors[:20]:
        print(f"  error: {e}")
    if O.summary:
        with open(O.summary, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in out.items())
            f.write(f"result={'PASS' if ok else 'FAIL'}\n")
    print(f"soak: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
