#!/usr/bin/python3
"""Topics (ws_subscribe/ws_publish) against t/handlers/pubsub_handler.c.

Usage: /usr/bin/python3 t/clients/pubsub.py --port PORT [--host 127.0.0.1]
           [--subscribers 1000] [--pidfile t/logs/httpd.pid]
           [--status-port PORT]

All connections must share one child (mpm_event with one child): without
WebSocketPubSub topics do not cross children.  Checks (JSON lines, see
interop_common.py):

  fanout            --subscribers connections subscribe to one topic
                    (ws_subscribers() counts them all); two handler threads
                    each publish 200 messages: every subscriber receives all
                    400 exactly once, each publisher's in its order
  exclude_self      ws_publish_from(..., exclude_self) reaches the others,
                    not the sender; after ws_unsubscribe nothing more arrives
  close_unsubscribes  closing unsubscribes: the counts return to 0
  slow_drop         a subscriber that never reads (queue bound 256 KiB,
                    WebSocketSlowSubscriber drop) while 300 x 64 KiB are
                    published: a reading subscriber (with room for the
                    burst, 64 MiB) gets all 300 in order,
                    the server counts drops (mod_status), the child's memory
                    grows by well under the 19 MiB published, and the slow
                    one, reading at last, gets an in-order subset
  slow_close        the same with WebSocketSlowSubscriber close 1013: the
                    slow one is closed with 1013
  deflate_shared    subscribers with and without permessage-deflate on one
                    topic: all get the messages intact; the compressed ones
                    take far fewer bytes on the wire
"""

import asyncio
import os
import re
import socket
import struct
import urllib.request

import websockets

from interop_common import CheckFailed as CheckFailedError, Results, base_args, expect

OPEN_TIMEOUT = 20
RECV_TIMEOUT = 15


class Counting(websockets.WebSocketClientProtocol):
    """Counts the bytes that arrive on the wire."""
    wire_in = 0

    def data_received(self, data):
        self.wire_in += len(data)
        super().data_received(data)


def connect(url, **kw):
    kw.setdefault("open_timeout", OPEN_TIMEOUT)
    kw.setdefault("close_timeout", 5)
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_queue", None)
    kw.setdefault("compression", None)
    return websockets.connect(url, **kw)


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def command(ws, cmd, want_prefix):
    """Sends a command and returns its answer, skipping nothing: the caller
    knows nothing else is due on this connection."""
    await ws.send(cmd)
    got = await recv(ws)
    expect(isinstance(got, str) and got.startswith(want_prefix),
           "%r answered %r, not %s..." % (cmd, got, want_prefix))
    return got


async def count(ws, topic):
    return int((await command(ws, "count " + topic, "count "))[6:])


async def wait_count(ws, topic, want, timeout=10):
    """Subscriptions end as connections finish, a moment after their close:
    asks until the count is right (each ask is a round trip)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    n = await count(ws, topic)
    while n != want and loop.time() < end:
        n = await count(ws, topic)
    return n


class Args:
    base = None
    subscribers = 1000
    pidfile = None
    status = None


def url(path):
    return Args.base + path


async def start_publishers(pubs, topic, n, size=0):
    """Each publisher connection starts a handler thread publishing n."""
    for p in pubs:
        await p.send("threadpub %s %d %d" % (topic, n, size))


async def check_fanout():
    subs = []
    try:
        for _ in range(Args.subscribers):
            subs.append(await connect(url("/pubsub")))
        await asyncio.gather(*(command(s, "sub news", "sub 0") for s in subs))
        pubs = [await connect(url("/pubsub")) for _ in range(2)]
        expect(await count(pubs[0], "news") == Args.subscribers,
               "ws_subscribers counts %d" % await count(pubs[0], "news"))
        await start_publishers(pubs, "news", 200)
        results = await asyncio.gather(*(collect(s, 400) for s in subs))
        for p in pubs:
            expect((await recv(p)) == "threadpub done 0", "a publish failed")
        for seen in results:
            expect(len(seen) == 2, "publishers seen: %s" % sorted(seen))
            for tag, seq in seen.items():
                expect(seq == list(range(1, 201)),
                       "publisher %s: got %d, first gap near %s" % (
                           tag, len(seq), next((a for a, b in zip(seq, range(1, 201))
                                                if a != b), "end")))
        for p in pubs:
            await p.close()
        return "%d subscribers x 400 publications, each publisher in order" % len(subs)
    finally:
        await asyncio.gather(*(s.close() for s in subs), return_exceptions=True)


async def collect(ws, n):
    seen = {}
    for _ in range(n):
        m = await recv(ws)
        tag, i = m.split(" ", 1)
        i = int(i.rstrip("."))
        lst = seen.setdefault(tag, [])
        expect(not lst or lst[-1] < i,
               "publisher %s out of order: %d after %d" % (tag, i, lst[-1] if lst else 0))
        lst.append(i)
    return seen


async def check_exclude_and_unsubscribe():
    a = await connect(url("/pubsub"))
    b = await connect(url("/pubsub"))
    try:
        await command(a, "sub x", "sub 0")
        await command(b, "sub x", "sub 0")
        await a.send("pubx x hello")
        got = await recv(b)
        expect(got == "hello", "the other subscriber got %r" % got)
        expect(await count(a, "x") == 2, "two subscribers")  # next on a: count
        await command(b, "unsub x", "unsub 0")
        await a.send("pub x after")
        expect((await recv(a)) == "after", "the sender, not excluded now, gets it")
        expect(await count(b, "x") == 1, "one subscriber left")  # not "after"
        return "excluded sender, unsubscribed receiver"
    finally:
        await a.close()
        await b.close()


async def check_close_unsubscribes():
    probe = await connect(url("/pubsub"))
    try:
        n = await wait_count(probe, "news", 0)
        expect(n == 0, "%d subscriptions of closed connections remain" % n)
        n = await wait_count(probe, "x", 0)
        expect(n == 0, "%d subscriptions to x remain" % n)
        return "counts back to 0"
    finally:
        await probe.close()


# ---- a subscriber that never reads: a raw socket -----------------------------

def raw_send_text(s, text):
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
              + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def raw_subscriber(path, topic):
    # Default buffers: the kernel takes a few MiB before the server's
    # queue fills, the 19 MiB published are far more than that.
    s = socket.create_connection((Args.host, Args.port), timeout=10)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        expect(chunk, "handshake cut")
        head += chunk
    expect(b" 101 " in head.split(b"\r\n")[0], "no 101: %r" % head[:60])
    raw_send_text(s, "sub " + topic)
    return s


class RawReader:
    """Server frames off a raw socket: [(opcode, payload)] in .frames."""

    def __init__(self, s):
        self.s, self.buf, self.frames = s, b"", []

    def _parse(self):
        buf = self.buf
        if len(buf) < 2:
            return None
        n = buf[1] & 0x7F
        hl = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        if len(buf) < hl:
            return None
        if n == 126:
            n = struct.unpack(">H", buf[2:4])[0]
        elif n == 127:
            n = struct.unpack(">Q", buf[2:10])[0]
        if len(buf) < hl + n:
            return None
        self.buf = buf[hl + n:]
        return (buf[0] & 0x0F, buf[hl:hl + n])

    def read_until(self, stop_prefix, timeout):
        """True once a close frame, EOF or a text starting with stop_prefix
        came; False after timeout seconds without any byte."""
        self.s.settimeout(timeout)
        while True:
            f = self._parse()
            while f:
                self.frames.append(f)
                if f[0] == 8 or (f[0] == 1 and f[1].startswith(stop_prefix)):
                    return True
                f = self._parse()
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return False
            if not chunk:
                return True
            self.buf += chunk


def read_frames(s, stop_prefix, timeout):
    r = RawReader(s)
    expect(r.read_until(stop_prefix, timeout), "nothing came for %ss" % timeout)
    return r.frames


def drain_backlog(s, topic):
    """Reads what was queued for s.  A command's answer queues behind it
    and so ends the backlog, but while the queue is full the handler's
    answer is refused (WS_EFULL): ask again after each quiet second, at
    most 20 times."""
    r = RawReader(s)
    for _ in range(20):
        raw_send_text(s, "count " + topic)
        if r.read_until(b"count ", 1):
            return r.frames
    raise CheckFailedError("no answer after the backlog")


def status_dropped():
    with urllib.request.urlopen("http://%s:%d/server-status?auto"
                                % (Args.host, Args.status), timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^WebSocketPublicationsDropped: (\d+)", text, re.M)
    expect(m, "no WebSocketPublicationsDropped in server-status")
    return int(m.group(1))


def children_hwm_kib():
    with open(Args.pidfile) as f:
        parent = int(f.read().strip())
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/status" % pid) as f:
                st = f.read()
        except OSError:
            continue
        pp = re.search(r"^PPid:\s+(\d+)", st, re.M)
        hwm = re.search(r"^VmHWM:\s+(\d+)", st, re.M)
        if pp and hwm and int(pp.group(1)) == parent:
            out[pid] = int(hwm.group(1))
    return out


async def slow_case(path, topic):
    """Publishes 300 x 64 KiB while one subscriber never reads.  Returns
    (frames the slow one then read, drops counted, memory growth KiB)."""
    slow = await asyncio.to_thread(raw_subscriber, path, topic)
    try:
        first = await asyncio.to_thread(read_frames, slow, b"sub ", 10)
        expect(first and first[-1][1] == b"sub 0", "slow subscribe: %r" % first[-1:])
        fast = await connect(url("/pubsub/roomy"), max_size=None)
        pub = await connect(url("/pubsub"))
        await command(fast, "sub " + topic, "sub 0")
        dropped0 = await asyncio.to_thread(status_dropped)
        hwm0 = children_hwm_kib()
        await pub.send("threadpub %s 300 65536" % topic)
        seen = await collect(fast, 300)
        expect(len(seen) == 1 and list(seen.values())[0] == list(range(1, 301)),
               "the reading subscriber missed publications")
        expect((await recv(pub)) == "threadpub done 0", "a publish failed")
        hwm1 = children_hwm_kib()
        growth = max([hwm1[p] - hwm0.get(p, hwm1[p]) for p in hwm1] or [0])
        dropped = await asyncio.to_thread(status_dropped) - dropped0
        await fast.close()
        await pub.close()
        frames = await asyncio.to_thread(drain_backlog, slow, topic)
        return frames, dropped, growth
    finally:
        slow.close()


async def check_slow_drop():
    frames, dropped, growth = await slow_case("/pubsub/slow", "big")
    seqs = [int(p.split(b" ")[1].rstrip(b".")) for op, p in frames
            if op == 1 and not p.startswith(b"count ")]
    expect(dropped > 0, "no drop counted")
    expect(seqs == sorted(seqs) and len(seqs) == len(set(seqs)),
           "the slow subscriber's subset is out of order")
    expect(len(seqs) < 300, "the slow subscriber got everything (%d)" % len(seqs))
    expect(growth < 12 * 1024, "a child's peak memory grew by %d KiB" % growth)
    return "slow one got %d of 300, %d drops counted, peak +%d KiB" % (
        len(seqs), dropped, growth)


async def check_slow_close():
    frames, dropped, growth = await slow_case("/pubsub/slowclose", "big2")
    closes = [p for op, p in frames if op == 8]
    expect(closes, "no close frame reached the slow subscriber")
    code = struct.unpack(">H", closes[0][:2])[0]
    expect(code == 1013, "closed with %d" % code)
    return "closed 1013 after %d frames, peak +%d KiB" % (len(frames), growth)


async def check_deflate_shared():
    text = "".join('{"id":%d,"user":"alice","text":"hello, everybody in the room"},' % i
                   for i in range(60))
    zs = [await connect(url("/pubsub/deflate"), compression="deflate",
                        create_protocol=Counting) for _ in range(3)]
    plain = await connect(url("/pubsub/deflate"), create_protocol=Counting)
    pub = await connect(url("/pubsub"))
    try:
        for ws in zs:
            expect(ws.extensions, "permessage-deflate not negotiated")
            await command(ws, "sub room", "sub 0")
        await command(plain, "sub room", "sub 0")
        base = [ws.wire_in for ws in zs + [plain]]
        for i in range(10):
            await pub.send("pub room %d %s" % (i, text))
        for ws in zs + [plain]:
            for i in range(10):
                got = await recv(ws)
                expect(got == "%d %s" % (i, text), "publication %d differs" % i)
        wire = [ws.wire_in - b for ws, b in zip(zs + [plain], base)]
        expect(all(w < wire[-1] / 4 for w in wire[:-1]),
               "compressed subscribers read %s bytes, the plain one %d"
               % (wire[:-1], wire[-1]))
        return "wire bytes %s compressed, %d plain" % (wire[:-1], wire[-1])
    finally:
        for ws in zs + [plain, pub]:
            await ws.close()


async def main():
    p = base_args(__doc__)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--status-port", type=int)
    a = p.parse_args()
    Args.host, Args.port = a.host, a.port
    Args.base = "ws://%s:%d" % (a.host, a.port)
    Args.subscribers = a.subscribers
    Args.pidfile = a.pidfile
    Args.status = a.status_port or a.port
    r = Results()
    await r.run("fanout", check_fanout, 120)
    await r.run("exclude_self", check_exclude_and_unsubscribe, 30)
    await r.run("close_unsubscribes", check_close_unsubscribes, 30)
    await r.run("slow_drop", check_slow_drop, 60)
    await r.run("slow_close", check_slow_close, 60)
    await r.run("deflate_shared", check_deflate_shared, 30)
    return r.exit_code()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
