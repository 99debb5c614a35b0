#!/usr/bin/python3
"""Topics across children and machines through Redis (WebSocketPubSub).

Usage: /usr/bin/python3 t/clients/pubsub_redis.py --a-port A --b-port B
           --redis-port P --redis-dir DIR --a-log FILE [--host 127.0.0.1]

Two private httpds made by t/api/pubsub_redis.t, both with the pubsub test
handler (t/handlers/pubsub_handler.c) at /pubsub: A (mpm_event, 4 children,
connections spread over them by SO_REUSEPORT buckets) reaches Redis at
127.0.0.1:P, B (mpm_prefork: a child per WebSocket) through the unix socket
DIR/redis.sock.  This client starts redis-server itself (no persistence,
loopback and that socket only), stops it in the middle and starts it again.
Checks (JSON lines, see interop_common.py):

  links_up          every child of A and B reports its Redis link up
                    (mod_status WebSocketPubSubLinksUp)
  across_children   40 subscribers on A, spread over at least 2 children,
                    and 10 on B (10 children): a handler thread on A
                    publishes 100 messages, every subscriber gets all 100
                    once, in order
  exclude_across    ws_publish_from(exclude_self) on A reaches B's
                    subscribers and A's others, not the sender
  redis_down        Redis stopped: every child sees its link down and A
                    logs it (WS00602); a connection's own publication still
                    reaches it (delivery within the child continues)
  redis_back        Redis started again: the links come back (WS00601) and
                    a publication on A reaches the subscribers on B that
                    subscribed before the outage, without restarting httpd
"""

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import websockets

from interop_common import Results, expect

A = B = None
RECV_TIMEOUT = 15


class Server:
    def __init__(self, host, port):
        self.base = "ws://%s:%d" % (host, port)
        self.status_url = "http://%s:%d/server-status?auto" % (host, port)

    def status(self):
        with urllib.request.urlopen(self.status_url, timeout=10) as r:
            return r.read().decode()

    def children(self, field):
        """{pid: value} of a per-child counter."""
        return {int(p): int(v) for p, v in
                re.findall(r"^Child(\d+)%s: (\d+)" % field, self.status(), re.M)}


class Redis:
    def __init__(self, port, rdir):
        self.port, self.dir, self.proc = port, rdir, None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--unixsocket", os.path.join(self.dir, "redis.sock"),
             "--unixsocketperm", "777", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--pidfile", os.path.join(self.dir, "redis.pid"),
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            expect(self.proc.poll() is None, "redis-server exited at start")
            time.sleep(0.05)        # redis-server is starting; bounded above
        raise AssertionError("redis-server did not answer PING within 10 s")

    def numsub(self, channel):
        """PUBSUB NUMSUB: how many connections (children) subscribe."""
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(b"PUBSUB NUMSUB %s\r\n" % channel.encode())
            data = b""
            while data.count(b"\r\n") < 4:      # *2 $n channel :count
                chunk = s.recv(4096)
                expect(chunk, "redis closed the connection")
                data += chunk
        return int(data.split(b"\r\n")[3][1:])

    async def wait_numsub(self, channel, want, timeout=15):
        """A child's SUBSCRIBE goes to Redis after ws_subscribe returned:
        until Redis counts want subscribers, a publication may miss some."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            n = await asyncio.to_thread(self.numsub, channel)
            if n == want:
                return
            expect(loop.time() < end, "%s: %d subscribers in Redis, not %d"
                   % (channel, n, want))
            await asyncio.sleep(0.05)   # polling Redis's state, bounded

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


async def wait_links(want_up, timeout=20):
    """Until every child of A and B reports its link up (1) or down (0)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        states = [await asyncio.to_thread(s.children, "WebSocketPubSubLinksUp")
                  for s in (A, B)]
        if all(st and all(v == want_up for v in st.values()) for st in states):
            return states
        expect(loop.time() < end, "links not all %s after %ss: %s"
               % ("up" if want_up else "down", timeout, states))
        await asyncio.sleep(0.1)   # polling the servers' state, bounded


def log(msg):
    sys.stderr.write("pubsub_redis: %s\n" % msg)
    sys.stderr.flush()


def connect(server, path="/pubsub"):
    return websockets.connect(server.base + path, open_timeout=20,
                              close_timeout=5, ping_interval=None,
                              max_queue=None, compression=None)


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def command(ws, cmd, want):
    await ws.send(cmd)
    got = await recv(ws)
    expect(got.startswith(want), "%r answered %r" % (cmd, got))
    return got


async def collect(ws, n):
    seq = []
    for _ in range(n):
        m = await recv(ws)
        seq.append(int(m.split(" ")[1].rstrip(".")))
    return seq


class State:
    subs_a = []
    subs_b = []
    redis = None
    channels = 0       # children subscribed to t:room
    up_lines = 0       # WS00601 lines in A's log before the outage


async def check_links_up():
    st = await wait_links(1)
    return "children up: A %d, B %d" % (len(st[0]), len(st[1]))


async def check_across_children():
    State.subs_a = [await connect(A) for _ in range(40)]
    State.subs_b = [await connect(B) for _ in range(10)]
    everyone = State.subs_a + State.subs_b
    await asyncio.gather(*(command(ws, "sub room", "sub 0") for ws in everyone))
    spread = [n for n in (await asyncio.to_thread(A.children, "WebSocketsOpen")).values() if n]
    expect(len(spread) >= 2, "A's WebSockets are in %d child(ren): %s" % (len(spread), spread))
    State.channels = len(spread) + len(State.subs_b)   # prefork: a child each
    log("A's WebSockets per child %s; waiting for %d subscriptions in Redis"
        % (spread, State.channels))
    await State.redis.wait_numsub("t:room", State.channels)
    log("subscribed; publishing")
    pub = await connect(A)
    await pub.send("threadpub room 100 0")
    got = await asyncio.gather(*(collect(ws, 100) for ws in everyone),
                               return_exceptions=True)
    lost = [i for i, g in enumerate(got) if isinstance(g, BaseException)]
    expect(not lost, "%d subscribers timed out (%s), e.g. #%d of %s"
           % (len(lost), type(got[lost[0]]).__name__ if lost else "",
              lost[0] if lost else -1, "A" if lost and lost[0] < 40 else "B"))
    expect((await recv(pub)) == "threadpub done 0", "a publish failed")
    bad = [i for i, seq in enumerate(got) if seq != list(range(1, 101))]
    expect(not bad, "%d subscribers missed or reordered (first: %s)"
           % (len(bad), got[bad[0]][:10] if bad else ""))
    await pub.close()
    return "%d subscribers on A over %d children, %d on B: 100 each, in order" % (
        len(State.subs_a), len(spread), len(State.subs_b))


async def check_exclude_across():
    sender = State.subs_a[0]
    await sender.send("pubx room 0 excluded-sender")
    others = State.subs_a[1:] + State.subs_b
    got = await asyncio.gather(*(recv(ws) for ws in others))
    expect(all(g == "0 excluded-sender" for g in got), "not every other subscriber got it")
    await sender.send("count room")     # the next thing the sender reads
    reply = await recv(sender)
    expect(reply.startswith("count "), "the sender got %r first" % reply)
    return "%d others got it, the sender did not" % len(others)


async def check_redis_down(redis, a_log):
    with open(a_log) as f:
        State.up_lines = f.read().count("WS00601")
    redis.stop()
    await wait_links(0)
    with open(a_log) as f:
        expect("WS00602" in f.read(), "A did not log the link going down")
    ws = await connect(A)
    try:
        await command(ws, "sub solo", "sub 0")
        await ws.send("pub solo 1 alone")
        expect((await recv(ws)) == "1 alone", "its own publication did not come back")
    finally:
        await ws.close()
    return "links down, logged, delivery within the child goes on"


async def check_redis_back(redis, a_log):
    redis.start()
    await wait_links(1)
    with open(a_log) as f:
        expect(f.read().count("WS00601") > State.up_lines, "A did not log the links back")
    await redis.wait_numsub("t:room", State.channels)   # restored
    pub = await connect(A)
    try:
        await pub.send("threadpub room 20 0")
        got = await asyncio.gather(*(collect(ws, 20) for ws in State.subs_b))
        expect(all(seq == list(range(1, 21)) for seq in got),
               "B's subscribers (from before the outage) did not get all 20")
        expect((await recv(pub)) == "threadpub done 0", "a publish failed")
        return "%d subscribers on B got all 20 after the restart" % len(State.subs_b)
    finally:
        await pub.close()


async def main():
    global A, B
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--a-port", type=int, required=True)
    p.add_argument("--b-port", type=int, required=True)
    p.add_argument("--redis-port", type=int, required=True)
    p.add_argument("--redis-dir", required=True)
    p.add_argument("--a-log", required=True)
    args = p.parse_args()
    A, B = Server(args.host, args.a_port), Server(args.host, args.b_port)
    redis = State.redis = Redis(args.redis_port, args.redis_dir)
    r = Results()
    try:
        redis.start()
        await r.run("links_up", check_links_up, 30)
        await r.run("across_children", check_across_children, 90)
        await r.run("exclude_across", check_exclude_across, 30)
        await r.run("redis_down", lambda: check_redis_down(redis, args.a_log), 40)
        await r.run("redis_back", lambda: check_redis_back(redis, args.a_log), 60)
    finally:
        for ws in State.subs_a + State.subs_b:
            await ws.close()
        redis.stop()
    return r.exit_code()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
