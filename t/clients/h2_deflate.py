"""permessage-deflate (RFC 7692) over WebSockets on HTTP/2 (RFC 8441): the
deflate checks of h2_ws.py, which runs them after its own, on a connection
of their own, against t/conf/extra.conf.in's /deflate (shared mode) and
/deflate/dedicated (context kept both ways, server window 11).  The client
side is Python's zlib in raw mode (wbits < 0), as RFC 7692 7.2 describes.

  deflate_connect_200       extended CONNECT /deflate with "permessage-deflate;
                            client_max_window_bits" answers :status 200 and
                            sec-websocket-extensions: permessage-deflate;
                            server_no_context_takeover;
                            client_no_context_takeover; client_max_window_bits=15
  deflate_text_compressed   a compressed (RSV1) masked text is echoed with RSV1,
                            under a third of its size, and inflates alone (fresh
                            inflater) to the text sent
  deflate_fragmented        a compressed text in 3 frames (RSV1 on the first
                            only) with a ping between them: the pong comes
                            first, plain; the echo is the whole message
  deflate_two_fields        two sec-websocket-extensions fields ("x-foo", then
                            "permessage-deflate; client_max_window_bits=9") are
                            one list: client_max_window_bits=9 answered, and a
                            message compressed with a 2^9 window is inflated
  deflate_dedicated_200     CONNECT /deflate/dedicated answers
                            server_max_window_bits=11; client_max_window_bits=15
  deflate_dedicated_context the same text twice, our context kept: the server's
                            second copy is under a quarter of the first and both
                            inflate with one inflater kept across messages
  deflate_dedicated_thread  "thread 30": 30 messages from the handler's thread,
                            each RSV1, inflate in order with that inflater
  deflate_dedicated_window  2 x 3000 random bytes (+ 6000 compressible) echoed
                            so that a window of 2^11 inflates it (strict
                            inflater: no back-reference beyond the window)
  deflate_dedicated_bfinal  a message ended by a final block (BFINAL, RFC 7692
                            7.2.3.4), then one whose new stream refers into it:
                            with context takeover the server keeps the window
                            across the stream's end (7.2.2); both echoed
  deflate_server_window_10  /deflate offered server_max_window_bits=10: answered
                            so, and the shared compressor's echo of 2 x 1500
                            random bytes (+ 3000) inflates within 2^10
  deflate_bomb_1009         50 MiB of zeros compressed to ~50 KiB (under the
                            64 KiB limit): close 1009, then END_STREAM
  deflate_close_1000        /deflate and /deflate/dedicated still open after the
                            bomb on a stream beside them; both close with 1000
"""

import os
import struct
import zlib

from interop_common import CheckFailed, expect, short

# permessage-deflate (RFC 7692): the offer Chromium sends, and the answers of
# t/conf/extra.conf.in's /deflate (shared mode: no context on either side)
# and /deflate/dedicated (context kept both ways, server window 11).
PMD_OFFER = [("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")]
PMD_SHARED = ("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
              "client_max_window_bits=15")
PMD_DEDICATED = "permessage-deflate; server_max_window_bits=11; client_max_window_bits=15"
PMD_TAIL = b"\x00\x00\xff\xff"
PMD_JSON = ("[" + ",".join('{"id":%d,"type":"tick","symbol":"ACME","price":123.45}' % i
                           for i in range(1, 21)) + "]").encode()


def pmd_deflater():
    return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)


def pmd_compress(co, data):
    """One message as RFC 7692 7.2.1 compresses it: raw deflate, sync flush,
    the 00 00 ff ff tail removed.  A fresh `co` per message is
    client_no_context_takeover; one kept across messages keeps context."""
    out = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
    expect(out.endswith(PMD_TAIL), "zlib's sync flush did not end in 00 00 ff ff")
    return out[:-4]


def pmd_inflate(do, data, limit=16 * 1024 * 1024):
    """The payload of a compressed message (RFC 7692 7.2.2: the tail appended),
    or None if `do` (a raw inflater, fresh or kept) cannot inflate it.
    Strict about the window: at most 256 bytes come out of each inflate()
    call, so a back-reference farther than the window the server agreed to
    (server_max_window_bits) must come from zlib's window and fails ("invalid
    distance too far back"); a single call into one large buffer would
    resolve it from the output and hide the violation."""
    buf, out = data + PMD_TAIL, bytearray()
    try:
        while True:
            chunk = do.decompress(buf, 256)
            out += chunk
            buf = do.unconsumed_tail
            if len(out) > limit:
                return None
            if not chunk and not buf:
                return bytes(out)
    except zlib.error:
        return None


def checks(w, args, state, need, end_our_side):
    """The deflate checks as (name, fn(deadline)) pairs.  w: the h2_ws module
    (H2Client, ws_frame, OP_*); state, need, end_our_side: h2_ws.main()'s."""
    H2Client, ws_frame = w.H2Client, w.ws_frame
    OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = (
        w.OP_CONT, w.OP_TEXT, w.OP_BINARY, w.OP_CLOSE, w.OP_PING, w.OP_PONG)

    def deflate_stream(c, path, deadline, answer):
        s = c.websocket(path, deadline, PMD_OFFER)
        h = s.headers or {}
        expect(s.reset is None, "CONNECT %s reset (error %s)" % (path, s.reset))
        expect(h.get(":status") == "200", "CONNECT %s :status %r (headers %r)" % (path, h.get(":status"), h))
        got = h.get("sec-websocket-extensions")
        expect(got == answer, "CONNECT %s: sec-websocket-extensions %r, expected %r" % (path, got, answer))
        expect(not s.ended, "the server ended the stream right after its 200")
        return s

    def deflate_connect_200(deadline):
        c = H2Client(args.host, args.port)
        state["c3"] = c
        expect(c.alpn == "h2", "ALPN selected %r" % c.alpn)
        state["pmd"] = deflate_stream(c, "/deflate", deadline, PMD_SHARED)
        return "200, sec-websocket-extensions: %s" % PMD_SHARED

    def deflate_text_compressed(deadline):
        c = need("c3")
        s = need("pmd")
        z = pmd_compress(pmd_deflater(), PMD_JSON)
        c.send_data(s, ws_frame(OP_TEXT, z, rsv1=True), deadline)
        op, got, rsv, later, frames = c.message_rsv(s, deadline)
        expect(op == OP_TEXT, "echo opcode %d" % op)
        expect(rsv == 4, "echo RSV bits %d, expected RSV1 (compressed)" % rsv)
        expect(later == 0, "RSV bits %d on a continuation of the echo" % later)
        expect(len(got) * 3 < len(PMD_JSON),
               "echo is %d bytes on the wire for %d inflated: not compressed" % (len(got), len(PMD_JSON)))
        # server_no_context_takeover: a fresh inflater must do.
        plain = pmd_inflate(zlib.decompressobj(-15), got)
        expect(plain == PMD_JSON, "the echo inflates to %s" % short(plain))
        return "sent %d compressed bytes (%d inflated); echo RSV1, %d bytes, inflates alone to the same" \
            % (len(z), len(PMD_JSON), len(got))

    def deflate_fragmented(deadline):
        c = need("c3")
        s = need("pmd")
        msg = PMD_JSON.replace(b"tick", b"frag")
        z = pmd_compress(pmd_deflater(), msg)
        third = len(z) // 3
        # RSV1 on the first frame only (RFC 7692 6.1); a ping between the
        # fragments is answered at once, plain.
        c.send_data(s, ws_frame(OP_TEXT, z[:third], fin=False, rsv1=True), deadline)
        c.send_data(s, ws_frame(OP_PING, b"mid"), deadline)
        c.send_data(s, ws_frame(OP_CONT, z[third:2 * third], fin=False), deadline)
        c.send_data(s, ws_frame(OP_CONT, z[2 * third:]), deadline)
        fin, op, masked, payload, rsv = c.next_frame(s, deadline, with_rsv=True)
        expect(op == OP_PONG and payload == b"mid" and rsv == 0,
               "expected the pong 'mid' first (RSV 0), got opcode %d RSV %d %s" % (op, rsv, short(payload)))
        op, got, rsv, later, frames = c.message_rsv(s, deadline)
        expect(op == OP_TEXT, "echo opcode %d" % op)
        expect(rsv == 4 and later == 0, "echo RSV bits %d first, %d later" % (rsv, later))
        plain = pmd_inflate(zlib.decompressobj(-15), got)
        expect(plain == msg, "the echo of a compressed message in 3 frames inflates to %s" % short(plain))
        return "3 frames of %d compressed bytes, a ping between them ponged; echoed whole " \
            "(%d frame(s), RSV1)" % (len(z), frames)

    def deflate_two_fields(deadline):
        c = need("c3")
        # Two sec-websocket-extensions fields on one HTTP/2 request: one
        # list (RFC 9113 8.2.3 / RFC 9110 5.3), the second one's offer wins.
        s = c.websocket("/deflate", deadline, [
            ("sec-websocket-extensions", "x-foo"),
            ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits=9")])
        h = s.headers or {}
        want = ("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                "client_max_window_bits=9")
        expect(h.get(":status") == "200", "CONNECT /deflate :status %r" % h.get(":status"))
        expect(h.get("sec-websocket-extensions") == want,
               "sec-websocket-extensions %r, expected %r" % (h.get("sec-websocket-extensions"), want))
        # The server inflates what we compress with our 2^9 window.
        co = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -9)
        c.send_data(s, ws_frame(OP_TEXT, pmd_compress(co, PMD_JSON), rsv1=True), deadline)
        op, got, rsv, later, frames = c.message_rsv(s, deadline)
        plain = pmd_inflate(zlib.decompressobj(-15), got) if rsv == 4 else got
        expect(op == OP_TEXT and plain == PMD_JSON, "echo opcode %d RSV %d: %s" % (op, rsv, short(plain)))
        c.send_data(s, ws_frame(OP_CLOSE, struct.pack("!H", 1000)), deadline)
        fin, op, masked, payload = c.next_frame(s, deadline, skip_pongs=True)
        expect(op == OP_CLOSE, "expected the close, got opcode %d" % op)
        c.wait(lambda: s.ended or s.reset is not None, deadline, "END_STREAM after the close")
        end_our_side(c, s, deadline)
        return "answered %r; a window-9 message inflated and echoed" % want

    def deflate_dedicated_200(deadline):
        c = need("c3")
        state["pmdd"] = deflate_stream(c, "/deflate/dedicated", deadline, PMD_DEDICATED)
        return "200, sec-websocket-extensions: %s" % PMD_DEDICATED

    def deflate_dedicated_context(deadline):
        c = need("c3")
        s = need("pmdd")
        co = pmd_deflater()                 # our context kept (no client_no_context_takeover)
        do = zlib.decompressobj(-11)        # and the server's: one inflater, window 11
        state["pmdd_inflater"] = do
        sizes, sent = [], []
        for n in range(2):
            z = pmd_compress(co, PMD_JSON)
            sent.append(len(z))
            c.send_data(s, ws_frame(OP_TEXT, z, rsv1=True), deadline)
            op, got, rsv, later, frames = c.message_rsv(s, deadline)
            expect(op == OP_TEXT and rsv == 4, "copy %d: opcode %d RSV %d" % (n + 1, op, rsv))
            plain = pmd_inflate(do, got)
            expect(plain == PMD_JSON, "copy %d does not inflate with the kept inflater: %s"
                   % (n + 1, short(plain)))
            sizes.append(len(got))
        expect(sent[1] * 4 < sent[0], "our second copy (%d bytes vs %d) is no back-reference" % (sent[1], sent[0]))
        expect(sizes[1] * 4 < sizes[0],
               "the server's second copy is %d bytes, the first %d: no context kept" % (sizes[1], sizes[0]))
        return "echo sizes %d then %d (we sent %d then %d)" % (sizes[0], sizes[1], sent[0], sent[1])

    def deflate_dedicated_thread(deadline):
        c = need("c3")
        s = need("pmdd")
        do = need("pmdd_inflater")
        c.send_data(s, ws_frame(OP_TEXT, b"thread 30"), deadline)
        for n in range(1, 31):
            op, got, rsv, later, frames = c.message_rsv(s, deadline)
            expect(rsv == 4, "thread message %d: RSV %d, expected compressed (WebSocketDeflateMinSize 0)"
                   % (n, rsv))
            plain = pmd_inflate(do, got)
            expect(plain == b"thread %d" % n, "thread message %d inflates to %s (out of order or "
                   "context lost)" % (n, short(plain)))
        return "30 messages from the handler's thread inflate in order with one inflater"

    def window_message(n):
        # n random bytes twice: the second copy compresses only by a
        # back-reference n bytes away, farther than the window agreed; then
        # 2n bytes that compress within any window, so that the message
        # shrinks (goes out compressed) in shared mode as well.
        r = os.urandom(n)
        return r + r + b"=" * (2 * n)

    def deflate_dedicated_window(deadline):
        c = need("c3")
        s = need("pmdd")
        do = need("pmdd_inflater")
        msg = window_message(3000)
        c.send_data(s, ws_frame(OP_BINARY, msg), deadline)
        op, got, rsv, later, frames = c.message_rsv(s, deadline)
        expect(op == OP_BINARY and rsv == 4, "opcode %d RSV %d" % (op, rsv))
        plain = pmd_inflate(do, got)
        expect(plain == msg, "the echo of 2 x 3000 random bytes does not inflate with a window of "
               "2^11 (%d bytes on the wire): the server used a larger window than "
               "server_max_window_bits=11" % len(got))
        return "%d bytes on the wire for %d: within the 2 KiB window" % (len(got), len(msg))

    def deflate_dedicated_bfinal(deadline):
        c = need("c3")
        s = need("pmdd")
        do = need("pmdd_inflater")
        # RFC 7692 7.2.3.4: a sender may end a message with a final block
        # (BFINAL); with context takeover the next message is still
        # inflated with the window (7.2.2): its new stream refers back.
        m1 = PMD_JSON.replace(b"tick", b"fin1")
        co = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        z1 = co.compress(m1) + co.flush(zlib.Z_FINISH)
        co = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15, zdict=m1)
        z2 = pmd_compress(co, m1)
        expect(len(z2) * 4 < len(z1), "message 2 (%d bytes) is no back-reference" % len(z2))
        for n, z in ((1, z1), (2, z2)):
            c.send_data(s, ws_frame(OP_TEXT, z, rsv1=True), deadline)
            fin, op, masked, payload, rsv = c.next_frame(s, deadline, skip_pongs=True, with_rsv=True)
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise CheckFailed("message %d (%s): the server closed with %r" % (
                    n, "ends with BFINAL" if n == 1 else "refers into message 1 after its BFINAL", code))
            expect(op == OP_TEXT and rsv == 4, "echo %d: opcode %d RSV %d" % (n, op, rsv))
            expect(pmd_inflate(do, payload) == m1, "echo %d differs" % n)
        return "a BFINAL message (%d bytes), then one of %d bytes referring into it: both echoed" \
            % (len(z1), len(z2))

    def deflate_server_window_10(deadline):
        c = need("c3")
        offer = [("sec-websocket-extensions", "permessage-deflate; server_max_window_bits=10")]
        want = ("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                "server_max_window_bits=10")
        s = c.websocket("/deflate", deadline, offer)
        h = s.headers or {}
        expect(h.get(":status") == "200", "CONNECT /deflate :status %r" % h.get(":status"))
        expect(h.get("sec-websocket-extensions") == want,
               "sec-websocket-extensions %r, expected %r" % (h.get("sec-websocket-extensions"), want))
        msg = window_message(1500)
        c.send_data(s, ws_frame(OP_BINARY, msg), deadline)
        op, got, rsv, later, frames = c.message_rsv(s, deadline)
        expect(op == OP_BINARY, "opcode %d" % op)
        expect(rsv == 4, "the echo went out plain (RSV %d, %d bytes): it should shrink" % (rsv, len(got)))
        plain = pmd_inflate(zlib.decompressobj(-10), got)
        expect(plain == msg, "the echo of 2 x 1500 random bytes does not inflate with a window "
               "of 2^10 (%d bytes on the wire): the shared compressor ignored "
               "server_max_window_bits=10" % len(got))
        c.send_data(s, ws_frame(OP_CLOSE, struct.pack("!H", 1000)), deadline)
        fin, op, masked, payload = c.next_frame(s, deadline, skip_pongs=True)
        expect(op == OP_CLOSE, "expected the close, got opcode %d" % op)
        c.wait(lambda: s.ended or s.reset is not None, deadline, "END_STREAM after the close")
        end_our_side(c, s, deadline)
        return "answered %r; echo RSV1, %d bytes for %d, inflates within 2^10" % (want, len(got), len(msg))

    def deflate_bomb_1009(deadline):
        c = need("c3")
        s = deflate_stream(c, "/deflate", deadline, PMD_SHARED)
        # 50 MiB of zeros in ~50 KiB: under the 64 KiB limit on the wire,
        # 800 times over it inflated.
        bomb = pmd_compress(pmd_deflater(), bytes(50 * 1024 * 1024))
        expect(len(bomb) < 65536, "the bomb is %d bytes" % len(bomb))
        c.send_data(s, ws_frame(OP_BINARY, bomb, rsv1=True), deadline)
        fin, op, masked, payload = c.next_frame(s, deadline, skip_pongs=True)
        expect(op == OP_CLOSE, "expected a close, got opcode %d (%d bytes)" % (op, len(payload)))
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        expect(code == 1009, "close code %r, expected 1009 (message too big)" % code)
        how = w.expect_end_stream(c, s, deadline)
        end_our_side(c, s, deadline)
        return "%d bytes on the wire: close 1009, %s" % (len(bomb), how)

    def deflate_close_1000(deadline):
        c = need("c3")
        codes = []
        for key in ("pmd", "pmdd"):
            s = need(key)
            c.send_data(s, ws_frame(OP_CLOSE, struct.pack("!H", 1000)), deadline)
            fin, op, masked, payload = c.next_frame(s, deadline, skip_pongs=True)
            expect(op == OP_CLOSE, "stream %d: expected a close, got opcode %d" % (s.sid, op))
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            expect(code == 1000, "stream %d: close code %r" % (s.sid, code))
            w.expect_end_stream(c, s, deadline)
            end_our_side(c, s, deadline)
            codes.append(code)
        return "/deflate and /deflate/dedicated closed %r (the bomb closed only its own stream)" % codes

    return [("deflate_connect_200", deflate_connect_200),
            ("deflate_text_compressed", deflate_text_compressed),
            ("deflate_fragmented", deflate_fragmented),
            ("deflate_two_fields", deflate_two_fields),
            ("deflate_dedicated_200", deflate_dedicated_200),
            ("deflate_dedicated_context", deflate_dedicated_context),
            ("deflate_dedicated_thread", deflate_dedicated_thread),
            ("deflate_dedicated_window", deflate_dedicated_window),
            ("deflate_dedicated_bfinal", deflate_dedicated_bfinal),
            ("deflate_server_window_10", deflate_server_window_10),
            ("deflate_bomb_1009", deflate_bomb_1009),
            ("deflate_close_1000", deflate_close_1000)]
