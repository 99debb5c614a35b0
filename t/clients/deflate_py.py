#!/usr/bin/python3
"""Interop client: Debian's python3-websockets (10.4) with permessage-deflate.

Usage: /usr/bin/python3 t/clients/deflate_py.py --port PORT [--host 127.0.0.1] [--tls]

websockets offers permessage-deflate by default ("permessage-deflate;
client_max_window_bits") and compresses every data message it sends; this
client keeps that default and checks, against the module's /deflate (shared
mode: no context takeover either way, messages under 64 bytes go out plain,
WebSocketMaxMessageSize 65536) and /deflate/dedicated (context kept both
ways, server window 11, every message compressed) locations, and /echo
(WebSocketDeflate off), that RFC 7692 really happens on the wire:

* the raw bytes the client receives are counted below websockets' framing
  (data_received of a protocol subclass, create_protocol=); over TLS that
  is the decrypted stream, i.e. the WebSocket frames;
* the raw bytes it writes are counted at the transport (transport.write);
* every data frame, as it comes off the wire and before it is inflated, is
  recorded with its RSV1 bit and payload length (a wrapper around the
  negotiated extension's decode()), and likewise every frame the client
  sends after compression (encode()).

Prints one JSON result per check (see interop_common.py); exit 0 iff all passed.
"""

import asyncio
import json
import random
import sys
import time

import websockets
from websockets.client import WebSocketClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import OP_CONT, OP_TEXT, OP_BINARY

from interop_common import (CheckFailed, Results, base_args, client_tls_context,
                            expect, short)

OPEN_TIMEOUT = 10
CLOSE_TIMEOUT = 5
RECV_TIMEOUT = 10
CHECK_TIMEOUT = 30

# What the module answers to websockets' default offer (t/conf/extra.conf.in,
# t/protocol/deflate.t checks the same answers with a raw client).
ANSWER_SHARED = ("permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover; client_max_window_bits=15")
ANSWER_DEDICATED = "permessage-deflate; server_max_window_bits=11; client_max_window_bits=15"
MIN_SIZE = 64   # WebSocketDeflateMinSize default: shorter messages go out plain at /deflate

TLS = None


class CountingProtocol(WebSocketClientProtocol):
    """Counts the raw bytes in and out and records every data frame."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.raw_in = 0
        self.raw_out = 0
        self.frames_in = []    # (opcode, rsv1, fin, wire payload length), before inflating
        self.frames_out = []   # the same for frames the client sends, after deflating

    def connection_made(self, transport):
        super().connection_made(transport)
        write = transport.write

        def counting_write(data):
            self.raw_out += len(data)
            return write(data)
        transport.write = counting_write

    def data_received(self, data):
        self.raw_in += len(data)
        super().data_received(data)

    def hook_extension(self):
        """Wraps decode/encode of the negotiated permessage-deflate, if any.
        Called right after the opening handshake: what was counted so far is
        the HTTP request and response, which the server's byte counts
        (WSLOG in=/out=) leave out."""
        self.hs_in, self.hs_out = self.raw_in, self.raw_out
        self.local_port = self.transport.get_extra_info("sockname")[1]
        for ext in self.extensions:
            dec, enc = ext.decode, ext.encode

            def decode(frame, *, max_size=None, _dec=dec):
                if frame.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                    self.frames_in.append((frame.opcode, frame.rsv1, frame.fin, len(frame.data)))
                return _dec(frame, max_size=max_size)

            def encode(frame, _enc=enc):
                out = _enc(frame)
                if out.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                    self.frames_out.append((out.opcode, out.rsv1, out.fin, len(out.data)))
                return out
            ext.decode, ext.encode = decode, encode


async def connect(url, **kw):
    if TLS is not None:
        kw.setdefault("ssl", TLS)
        kw.setdefault("server_hostname", "localhost")
    kw.setdefault("open_timeout", OPEN_TIMEOUT)
    kw.setdefault("close_timeout", CLOSE_TIMEOUT)
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", 4 * 1024 * 1024)
    kw.setdefault("create_protocol", CountingProtocol)
    # compression="deflate" is websockets' default: left as is on purpose.
    ws = await websockets.connect(url, **kw)
    ws.hook_extension()
    return ws


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def send(ws, payload, timeout=RECV_TIMEOUT):
    await asyncio.wait_for(ws.send(payload), timeout)


async def echo(ws, payload, label):
    await send(ws, payload)
    got = await recv(ws)
    expect(type(got) is type(payload),
           "%s: sent %s, received %s" % (label, type(payload).__name__, type(got).__name__))
    expect(got == payload, "%s: echo differs: sent %d, got %d: %s"
           % (label, len(payload), len(got), short(got)))
    return got


def report_conn(ws, path):
    """One {"conn": ...} line: the wrapper finds the server's WSLOG line of
    this WebSocket (by the client's port) and compares the byte counts."""
    rec = {"conn": {"port": ws.local_port, "path": path,
                    "raw_in": ws.raw_in - ws.hs_in, "raw_out": ws.raw_out - ws.hs_out,
                    "close": ws.close_code}}
    sys.stdout.write(json.dumps(rec) + "\n")
    sys.stdout.flush()


async def close_1000(ws, label):
    """A clean client close: the server must answer 1000."""
    try:
        await asyncio.wait_for(ws.close(1000), CLOSE_TIMEOUT + 2)
    finally:
        if not ws.closed:
            ws.transport.abort()
    expect(ws.close_rcvd is not None and ws.close_code == 1000,
           "%s: server's close answer %r (expected 1000)" % (label, ws.close_code))
    if label.startswith("/deflate"):
        report_conn(ws, label)


def json_text(seed, size=4096):
    """JSON-like text of about `size` characters, different for each seed."""
    rnd = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
             "hotel", "india", "juliett", "kilo", "lima", "mike", "november"]
    recs = []
    total = 2
    i = 0
    while total < size:
        rec = ('{"id":%d,"user":"%s-%d","tags":["%s","%s"],"score":%.3f,"active":%s,'
               '"note":"%s"}' % (seed * 1000 + i, rnd.choice(words), rnd.randrange(10000),
                                 rnd.choice(words), rnd.choice(words), rnd.random() * 1000,
                                 "true" if rnd.random() < 0.5 else "false",
                                 " ".join(rnd.choice(words) for _ in range(rnd.randrange(1, 6)))))
        recs.append(rec)
        total += len(rec) + 1
        i += 1
    s = "[" + ",".join(recs) + "]"
    return s[:size - 1] + "]" if len(s) > size else s


def binary_blob(seed, size=4096):
    """Structured binary (records of little-endian fields): compressible, not text."""
    rnd = random.Random(seed)
    out = bytearray()
    n = 0
    while len(out) < size:
        out += n.to_bytes(4, "little") + bytes([rnd.randrange(4), 0, 0, 0]) \
            + rnd.randrange(1 << 16).to_bytes(4, "little") + b"\x00" * 4
        n += 1
    return bytes(out[:size])


def main():
    global TLS
    args = base_args(__doc__).parse_args()
    if args.tls:
        TLS = client_tls_context()
    base = "%s://%s:%d" % ("wss" if args.tls else "ws", args.host, args.port)
    R = Results()

    def expect_answer(ws, want, label):
        got = ws.response_headers.get("Sec-WebSocket-Extensions")
        offer = ws.request_headers.get("Sec-WebSocket-Extensions")
        expect(offer is not None and offer.startswith("permessage-deflate"),
               "%s: the client did not offer permessage-deflate (%r)" % (label, offer))
        expect(got == want, "%s: Sec-WebSocket-Extensions answer %r, expected %r"
               % (label, got, want))
        expect(len(ws.extensions) == 1 and ws.extensions[0].name == "permessage-deflate",
               "%s: negotiated extensions %r" % (label, ws.extensions))
        return ws.extensions[0]

    async def negotiated_shared():
        ws = await connect(base + "/deflate")
        ext = expect_answer(ws, ANSWER_SHARED, "/deflate")
        expect(ext.remote_no_context_takeover and ext.local_no_context_takeover,
               "/deflate: websockets did not take no_context_takeover both ways: %r" % ext)
        expect(ext.remote_max_window_bits == 15 and ext.local_max_window_bits == 15,
               "/deflate: windows %r" % ext)
        await echo(ws, json_text(1), "/deflate first echo")
        await close_1000(ws, "/deflate")
        return "%s (offer %r)" % (ext, ws.request_headers["Sec-WebSocket-Extensions"])

    async def negotiated_dedicated():
        ws = await connect(base + "/deflate/dedicated")
        ext = expect_answer(ws, ANSWER_DEDICATED, "/deflate/dedicated")
        expect(not ext.remote_no_context_takeover and not ext.local_no_context_takeover,
               "/deflate/dedicated: context takeover should be on both ways: %r" % ext)
        expect(ext.remote_max_window_bits == 11 and ext.local_max_window_bits == 15,
               "/deflate/dedicated: windows %r (expected server 11, client 15)" % ext)
        await echo(ws, json_text(2), "/deflate/dedicated first echo")
        await close_1000(ws, "/deflate/dedicated")
        return str(ext)

    async def roundtrip(path):
        ws = await connect(base + path)
        n = 0
        for k in range(6):
            await echo(ws, json_text(100 + k), "%s JSON text #%d" % (path, k))
            await echo(ws, binary_blob(200 + k), "%s binary #%d" % (path, k))
            n += 2
        # Non-ASCII text, compressed, must come back as the same code points.
        t = ("h\u00e9llo w\u00f6rld \u2713 \U0001F680 " * 200)
        await echo(ws, t, "%s non-ASCII text" % path)
        # Every frame from the server was compressed (all of these are >= 64 bytes).
        plain = [f for f in ws.frames_in if f[0] != OP_CONT and not f[1]]
        expect(not plain, "%s: %d of %d messages came back without RSV1" % (path, len(plain), n + 1))
        expect(len(ws.frames_in) == n + 1, "%s: %d data frames for %d messages"
               % (path, len(ws.frames_in), n + 1))
        await close_1000(ws, path)
        return "%d messages (4 KiB JSON, 4 KiB binary, non-ASCII), all RSV1" % (n + 1)

    async def roundtrip_shared():
        return await roundtrip("/deflate")

    async def roundtrip_dedicated():
        return await roundtrip("/deflate/dedicated")

    async def wire_compressed(path):
        ws = await connect(base + path)
        in0, out0 = ws.raw_in, ws.raw_out
        total = 0
        for k in range(10):
            p = json_text(300 + k)
            await echo(ws, p, "%s JSON #%d" % (path, k))
            total += len(p.encode())
        got_in, got_out = ws.raw_in - in0, ws.raw_out - out0
        expect(got_in < total * 0.5,
               "%s: received %d raw bytes for %d bytes of echoed text (not compressed?)"
               % (path, got_in, total))
        expect(got_out < total * 0.5,
               "%s: the client wrote %d raw bytes for %d bytes of text" % (path, got_out, total))
        await close_1000(ws, path)
        return "%d bytes of text: %d raw bytes in (%.0f%%), %d out" % (
            total, got_in, 100.0 * got_in / total, got_out)

    async def wire_compressed_shared():
        return await wire_compressed("/deflate")

    async def wire_compressed_dedicated():
        return await wire_compressed("/deflate/dedicated")

    async def short_messages():
        # /deflate: under 64 bytes the server sends plain (RSV1 clear), from 64
        # on compressed; websockets compresses all of them, even the empty ones.
        ws = await connect(base + "/deflate")
        sizes = [0, 1, 2, 10, 63, 64, 65, 100]
        for n in sizes:
            await echo(ws, "s" * n, "/deflate text %d bytes" % n)
            await echo(ws, bytes([n & 0xff]) * n, "/deflate binary %d bytes" % n)
        rsv1 = [f[1] for f in ws.frames_in]
        want = [n >= MIN_SIZE for n in sizes for _ in (0, 1)]
        expect(rsv1 == want, "/deflate: RSV1 of the echoes %r, expected %r (sizes %r, text and binary)"
               % (rsv1, want, sizes))
        expect(all(f[1] for f in ws.frames_out), "the client did not compress everything: %r" % ws.frames_out)
        await send(ws, "push 5")
        got = [await recv(ws) for _ in range(5)]
        expect(got == ["push %d" % i for i in range(1, 6)], "/deflate push 5: %r" % got)
        await close_1000(ws, "/deflate")
        # /deflate/dedicated (WebSocketDeflateMinSize 0): every message compressed.
        ws = await connect(base + "/deflate/dedicated")
        for n in sizes:
            await echo(ws, "d" * n, "/deflate/dedicated text %d bytes" % n)
        expect(all(f[1] for f in ws.frames_in),
               "/deflate/dedicated: RSV1 of the echoes %r (all expected)" % [f[1] for f in ws.frames_in])
        await close_1000(ws, "/deflate/dedicated")
        return "sizes %r: plain below 64 at /deflate, all compressed at /deflate/dedicated" % sizes

    async def fragmented(path):
        ws = await connect(base + path)
        text = json_text(400, 6000)
        parts = [text[:1000], text[1000:1001], "", text[1001:4000], text[4000:]]
        await send(ws, parts)
        got = await recv(ws)
        expect(got == text, "%s: fragmented text echo: %d of %d chars, %s"
               % (path, len(got), len(text), short(got)))
        # websockets 10.4 sends each part as a frame, then an empty final one.
        fr = [f[:3] for f in ws.frames_out]
        expect(len(fr) >= len(parts) and fr[0] == (OP_TEXT, True, False)
               and all(f[:2] == (OP_CONT, False) for f in fr[1:])
               and [f[2] for f in fr] == [False] * (len(fr) - 1) + [True],
               "%s: the client's frames were %r (expected RSV1 on the first only)"
               % (path, ws.frames_out))
        blob = binary_blob(401, 9000)

        async def chunks():
            for i in range(0, len(blob), 2000):
                yield blob[i:i + 2000]
        await send(ws, chunks())
        got = await recv(ws)
        expect(got == blob, "%s: fragmented binary echo (async iterator): %d of %d bytes"
               % (path, len(got), len(blob)))
        # Twice more, to see the server's inflater state right after fragments.
        await echo(ws, text, "%s whole text after fragments" % path)
        await send(ws, [text[:3000], text[3000:]])
        expect(await recv(ws) == text, "%s: second fragmented text" % path)
        await close_1000(ws, path)
        return "text in %d frames (RSV1 on the first only), binary in 2000-byte parts from an async iterator, echoed whole" % len(fr)

    async def fragmented_shared():
        return await fragmented("/deflate")

    async def fragmented_dedicated():
        return await fragmented("/deflate/dedicated")

    async def repeated_sizes(path, msg, times=5):
        ws = await connect(base + path)
        sizes_in, sizes_out, raw = [], [], []
        for k in range(times):
            r0 = ws.raw_in
            n_in, n_out = len(ws.frames_in), len(ws.frames_out)
            await echo(ws, msg, "%s copy %d" % (path, k + 1))
            expect(len(ws.frames_in) == n_in + 1 and len(ws.frames_out) == n_out + 1,
                   "%s: one frame each way expected per message" % path)
            sizes_in.append(ws.frames_in[-1][3])
            sizes_out.append(ws.frames_out[-1][3])
            raw.append(ws.raw_in - r0)
        await close_1000(ws, path)
        return sizes_in, sizes_out, raw

    async def context_takeover_on():
        # 1.5 KiB: a repeat is within the server's 2 KiB window (bits 11).
        msg = json_text(500, 1500)
        sizes_in, sizes_out, raw = await repeated_sizes("/deflate/dedicated", msg)
        expect(all(s < sizes_in[0] / 4 for s in sizes_in[1:]),
               "server->client sizes %r: repeats not much smaller (context not kept?)" % sizes_in)
        expect(all(s < raw[0] / 4 for s in raw[1:]), "raw bytes in per message %r" % raw)
        expect(all(s < sizes_out[0] / 4 for s in sizes_out[1:]),
               "client->server sizes %r: the client did not keep its context" % sizes_out)
        return "%d-byte message x5: server sent %r, client sent %r (raw in %r)" % (
            len(msg), sizes_in, sizes_out, raw)

    async def context_takeover_off():
        msg = json_text(500, 1500)
        sizes_in, sizes_out, raw = await repeated_sizes("/deflate", msg)
        expect(all(abs(s - sizes_in[0]) <= sizes_in[0] * 0.1 for s in sizes_in),
               "server->client sizes %r: a repeat got smaller although "
               "server_no_context_takeover was agreed" % sizes_in)
        expect(all(abs(s - sizes_out[0]) <= sizes_out[0] * 0.1 for s in sizes_out),
               "client->server sizes %r (client_no_context_takeover)" % sizes_out)
        expect(sizes_in[0] < len(msg) / 2, "not compressed at all: %r" % sizes_in)
        return "%d-byte message x5: server sent %r, client sent %r" % (len(msg), sizes_in, sizes_out)

    async def window_bits_respected():
        # /deflate/dedicated agreed server_max_window_bits=11: websockets
        # inflates with a 2 KiB window kept between messages.  A message
        # sent twice whose copy lies 3 KiB back cannot be referenced by an
        # 11-bit deflater; had the server used a larger window, the second
        # echo would not inflate (and websockets would close 1007).
        rnd = random.Random(600)
        x = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3072))
        ws = await connect(base + "/deflate/dedicated")
        for k in range(3):
            await echo(ws, x, "3 KiB copy %d" % (k + 1))
        sizes = [f[3] for f in ws.frames_in]
        await close_1000(ws, "/deflate/dedicated")
        expect(all(s > sizes[0] * 0.8 for s in sizes[1:]),
               "sizes %r: a back-reference longer than the agreed 2 KiB window?" % sizes)
        return "3 KiB x3, all inflated with an 11-bit window; sizes %r" % sizes

    async def thread_ordered(path, want_rsv1):
        ws = await connect(base + path)
        await send(ws, "thread 50")
        for i in range(1, 51):
            got = await recv(ws)
            expect(got == "thread %d" % i, "%s: message %d from the handler thread is %s"
                   % (path, i, short(got)))
        rsv1 = [f[1] for f in ws.frames_in]
        expect(rsv1 == [want_rsv1] * 50, "%s: RSV1 of the 50 messages %r, expected all %r"
               % (path, rsv1, want_rsv1))
        # The connection is still in a good state afterwards.
        await echo(ws, json_text(700), "%s echo after the thread" % path)
        await close_1000(ws, path)
        return "50 in order, RSV1 %s" % want_rsv1

    async def thread_shared():
        return await thread_ordered("/deflate", False)       # short: plain

    async def thread_dedicated():
        return await thread_ordered("/deflate/dedicated", True)   # every message, with context

    async def inflated_size_limit():
        # WebSocketMaxMessageSize 65536 counts the inflated message: 60 KiB
        # passes, 100 KiB of JSON (about 25 KiB on the wire) is closed 1009.
        ws = await connect(base + "/deflate")
        ok = json_text(800, 60000)
        await echo(ws, ok, "/deflate 60000 bytes")
        big = json_text(801, 100000)
        await send(ws, big)
        wire = ws.frames_out[-1][3]
        expect(wire < 65536, "the 100 KB message is %d bytes on the wire: not a useful test" % wire)
        try:
            got = await recv(ws)
        except ConnectionClosed as e:
            expect(e.rcvd is not None and e.rcvd.code == 1009,
                   "closed with %r, expected 1009" % (e.rcvd,))
        else:
            raise CheckFailed("100000-byte message echoed (%d): the limit was not applied after "
                              "inflating" % len(got))
        await asyncio.wait_for(ws.wait_closed(), CLOSE_TIMEOUT + 2)
        report_conn(ws, "/deflate")
        return "60000 echoed; 100000 (%d on the wire) closed 1009" % wire

    async def echo_no_extension():
        ws = await connect(base + "/echo")
        offer = ws.request_headers.get("Sec-WebSocket-Extensions")
        expect(offer is not None and "permessage-deflate" in offer,
               "the client did not offer permessage-deflate (%r)" % offer)
        answer = ws.response_headers.get("Sec-WebSocket-Extensions")
        expect(answer is None, "/echo (WebSocketDeflate off) answered extensions %r" % answer)
        expect(ws.extensions == [], "extensions negotiated at /echo: %r" % ws.extensions)
        r0 = ws.raw_in
        p = json_text(900)
        await echo(ws, p, "/echo JSON")
        await echo(ws, binary_blob(901), "/echo binary")
        await echo(ws, "short", "/echo short")
        got = ws.raw_in - r0
        expect(got >= len(p) + 4096 + 5, "/echo: %d raw bytes for %d bytes of messages"
               % (got, len(p) + 4096 + 5))
        await close_1000(ws, "/echo")
        return "offer %r, no answer, %d raw bytes in (uncompressed)" % (offer, got)

    async def all_checks():
        for name, fn in [
            ("negotiated_shared", negotiated_shared),
            ("negotiated_dedicated", negotiated_dedicated),
            ("roundtrip_shared", roundtrip_shared),
            ("roundtrip_dedicated", roundtrip_dedicated),
            ("wire_compressed_shared", wire_compressed_shared),
            ("wire_compressed_dedicated", wire_compressed_dedicated),
            ("short_messages", short_messages),
            ("fragmented_shared", fragmented_shared),
            ("fragmented_dedicated", fragmented_dedicated),
            ("context_takeover_on", context_takeover_on),
            ("context_takeover_off", context_takeover_off),
            ("window_bits_respected", window_bits_respected),
            ("thread_shared", thread_shared),
            ("thread_dedicated", thread_dedicated),
            ("inflated_size_limit", inflated_size_limit),
            ("echo_no_extension", echo_no_extension),
        ]:
            await R.run(name, fn, CHECK_TIMEOUT)

    asyncio.run(all_checks())
    return R.exit_code()


if __name__ == "__main__":
    sys.exit(main())
