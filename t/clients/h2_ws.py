#!/usr/bin/python3
"""WebSockets over HTTP/2 (RFC 8441) against mod_websocket, with Debian's python3-h2.

Usage: /usr/bin/python3 t/clients/h2_ws.py --port TLS_PORT [--host 127.0.0.1]

TLS with ALPN h2 (no certificate verification: the build's certificate is
self-signed; SNI "localhost") to the suite's websocket_tls vhost
(t/conf/extra.conf.in: Protocols h2 http/1.1, H2WebSockets on).  Checks, in
order, each reported as one JSON line (see interop_common.py):

  alpn_h2                   the server picked h2 in ALPN
  settings_connect_protocol its SETTINGS carry SETTINGS_ENABLE_CONNECT_PROTOCOL=1
  get_root                  a plain HTTP/2 GET / answers 200 with the tutorial page
  connect_200               extended CONNECT (:method CONNECT, :protocol websocket,
                            :scheme https, :path /echo, :authority,
                            sec-websocket-version 13) answers :status 200
  text_<n>, binary_<n>      masked client frames in DATA frames, echoed intact
                            (n = 0, 125, 126, 65535, 65536, 1048576)
  ping_pong                 a ping is answered by a pong with its payload
  close_1000                close 1000 is answered with close 1000, then the
                            server ends the stream (END_STREAM; mod_http2 may
                            follow it with RST_STREAM(NO_ERROR), RFC 9113 8.1)
  connect_denied_403        extended CONNECT to /denied answers 403
  two_streams_open          two WebSockets on ONE h2 connection, both 200
  stalled_stream_held       one of them asks for a 1 MiB echo and is never given
                            stream flow-control window: it receives no more
                            than the window allows (the server must hold it)
  other_stream_100_echoes   meanwhile the other echoes 100 messages promptly
  stalled_stream_resumes    once the window is granted the 1 MiB echo arrives
                            whole and intact
  two_streams_close         both close with 1000
  deflate_*                 then permessage-deflate (RFC 7692) on a third
                            connection: t/clients/h2_deflate.py lists them

Every wait is bounded (a per-check deadline, and the whole run by the caller's
`timeout`); exit 0 only if every check passed.
"""

import os
import select
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

import h2_deflate
from interop_common import CheckFailed, Results, base_args, expect, short

CHECK_TIMEOUT = 20.0
PROMPT = 2.0          # seconds: one echo on the free stream must take less
SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


# ---------------------------------------------------------------- WebSocket frames

def ws_frame(opcode, payload=b"", fin=True, rsv1=False):
    """A masked client frame (RFC 6455 5.2); rsv1: the "compressed" bit of
    permessage-deflate (RFC 7692 6)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    if n:
        rep = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(rep, "big")).to_bytes(n, "big")
    return head + key + payload


def ws_frame_len(buf):
    """Length of the frame at the front of `buf` once whole, None if its
    header is not complete yet."""
    if len(buf) < 2:
        return None
    n, pos = buf[1] & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, pos = struct.unpack("!H", bytes(buf[2:4]))[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, pos = struct.unpack("!Q", bytes(buf[2:10]))[0], 10
    return pos + (4 if buf[1] & 0x80 else 0) + n


def has_frame(buf):
    need = ws_frame_len(buf)
    return need is not None and len(buf) >= need


def ws_parse(buf, with_rsv=False):
    """Takes one frame off the front of bytearray `buf`: (fin, opcode, masked,
    payload), with with_rsv (fin, opcode, masked, payload, rsv) where rsv is
    the three RSV bits (4 = RSV1), or None if it does not hold a whole frame
    yet."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n = struct.unpack("!H", bytes(buf[2:4]))[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n = struct.unpack("!Q", bytes(buf[2:10]))[0]
        pos = 10
    masked = bool(b1 & 0x80)
    key = None
    if masked:
        if len(buf) < pos + 4:
            return None
        key = bytes(buf[pos:pos + 4])
        pos += 4
    if len(buf) < pos + n:
        return None
    payload = bytes(buf[pos:pos + n])
    del buf[:pos + n]
    if masked and n:
        rep = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(rep, "big")).to_bytes(n, "big")
    if with_rsv:
        return (bool(b0 & 0x80), b0 & 0x0F, masked, payload, (b0 >> 4) & 7)
    return (bool(b0 & 0x80), b0 & 0x0F, masked, payload)


# ---------------------------------------------------------------- HTTP/2 client

class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.headers = None       # dict of the response head
        self.data = bytearray()   # DATA payload not yet parsed as frames
        self.received = 0         # DATA bytes received in total
        self.ended = False        # END_STREAM from the server
        self.reset = None         # RST_STREAM error code
        self.stalled = False      # do not grant stream window while set
        self.owed = 0             # window not granted while stalled


class H2Client:
    """One TLS + h2 connection; non-blocking socket driven by select() with
    deadlines, so reading and writing never wait on each other."""

    def __init__(self, host, port, timeout=10.0):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")   # handshake, bounded
        self.alpn = self.sock.selected_alpn_protocol()
        self.sock.setblocking(False)
        self.authority = "localhost:%d" % port
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.out = bytearray()
        self.streams = {}
        self.remote_settings = {}
        self.settings_seen = False
        self.terminated = None
        self.eof = False
        self.conn.initiate_connection()

    # -- I/O
    def _handle(self, events):
        for ev in events:
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                for code, ch in ev.changed_settings.items():
                    self.remote_settings[int(code)] = ch.new_value
                self.settings_seen = True
            elif isinstance(ev, h2.events.ResponseReceived):
                self.streams[ev.stream_id].headers = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                s = self.streams[ev.stream_id]
                s.data += ev.data
                s.received += len(ev.data)
                n = ev.flow_controlled_length
                if s.stalled:
                    # Keep the CONNECTION window open (other streams go on),
                    # withhold the stream's own window.
                    if n:
                        self.conn.increment_flow_control_window(n)
                    s.owed += n
                elif n:
                    self.conn.acknowledge_received_data(n, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.streams[ev.stream_id].ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if ev.stream_id in self.streams:
                    self.streams[ev.stream_id].reset = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.terminated = "GOAWAY error %s last stream %s" % (ev.error_code, ev.last_stream_id)

    def step(self, timeout):
        """One round of I/O: write what is pending, read what arrived."""
        self.out += self.conn.data_to_send()
        if self.eof:
            raise CheckFailed("the server closed the h2 connection (%s)" % (self.terminated or "EOF"))
        readable = self.sock.pending() > 0
        if not readable:
            r, w, _ = select.select([self.sock], [self.sock] if self.out else [], [], max(timeout, 0))
            readable = bool(r)
            if w and self.out:
                try:
                    n = self.sock.send(self.out[:65536])
                    del self.out[:n]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
        elif self.out:
            try:
                n = self.sock.send(self.out[:65536])
                del self.out[:n]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                pass
        if readable:
            for _ in range(64):     # drain OpenSSL, bounded per round
                try:
                    data = self.sock.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    break
                except (ConnectionResetError, ssl.SSLError) as e:
                    self.eof = True
                    raise CheckFailed("h2 connection failed: %s" % e)
                if not data:
                    self.eof = True
                    break
                self._handle(self.conn.receive_data(data))
        self.out += self.conn.data_to_send()

    def wait(self, pred, deadline, what):
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed("timed out waiting for %s" % what)
            if self.terminated:
                raise CheckFailed("connection terminated (%s) while waiting for %s"
                                  % (self.terminated, what))
            self.step(min(left, 0.25))

    def flush(self, deadline):
        self.out += self.conn.data_to_send()
        self.wait(lambda: not self.out and not self.conn.data_to_send(), deadline, "writes to drain")

    # -- streams
    def request(self, headers, end_stream):
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = Stream(sid)
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        return self.streams[sid]

    def send_data(self, s, data, deadline):
        """Sends `data` on stream s within the peer's flow-control windows."""
        view = memoryview(data)
        while view:
            self.wait(lambda: self.conn.local_flow_control_window(s.sid) > 0 or s.reset is not None,
                      deadline, "flow-control window to send on stream %d" % s.sid)
            expect(s.reset is None, "stream %d reset (error %s)" % (s.sid, s.reset))
            n = min(len(view), self.conn.local_flow_control_window(s.sid),
                    self.conn.max_outbound_frame_size)
            self.conn.send_data(s.sid, bytes(view[:n]))
            view = view[n:]
            self.step(0)
        self.step(0)

    def websocket(self, path, deadline, extra=()):
        s = self.request([(":method", "CONNECT"), (":protocol", "websocket"),
                          (":scheme", "https"), (":path", path),
                          (":authority", self.authority),
                          ("sec-websocket-version", "13")] + list(extra), end_stream=False)
        self.wait(lambda: s.headers is not None or s.reset is not None or s.ended,
                  deadline, "the response to CONNECT %s" % path)
        return s

    def grant(self, s):
        """Ends a stall: gives the stream the window withheld so far."""
        s.stalled = False
        if s.owed:
            self.conn.increment_flow_control_window(s.owed, stream_id=s.sid)
            s.owed = 0

    def next_frame(self, s, deadline, skip_pongs=False, with_rsv=False):
        while True:
            f = ws_parse(s.data, with_rsv)
            if f is not None:
                if skip_pongs and f[1] == OP_PONG:
                    continue
                return f
            if s.ended or s.reset is not None:
                raise CheckFailed("stream %d ended before a whole frame arrived (reset=%s, "
                                  "%d bytes left)" % (s.sid, s.reset, len(s.data)))
            self.wait(lambda: has_frame(s.data) or s.ended or s.reset is not None,
                      deadline, "a WebSocket frame on stream %d" % s.sid)

    def message(self, s, deadline):
        """The next data message (fragments joined): (opcode, payload)."""
        fin, op, masked, payload = self.next_frame(s, deadline, skip_pongs=True)
        expect(not masked, "server frame is masked")
        while not fin:
            fin, op2, masked, more = self.next_frame(s, deadline, skip_pongs=True)
            if op2 >= 8:
                continue
            payload += more
        return op, payload

    def message_rsv(self, s, deadline):
        """The next data message: (opcode, payload joined, RSV bits of its
        first frame, RSV bits of the other frames OR-ed, frame count)."""
        fin, op, masked, payload, rsv = self.next_frame(s, deadline, skip_pongs=True, with_rsv=True)
        expect(not masked, "server frame is masked")
        later, frames = 0, 1
        while not fin:
            fin, op2, masked, more, r2 = self.next_frame(s, deadline, skip_pongs=True, with_rsv=True)
            if op2 >= 8:
                continue
            later |= r2
            frames += 1
            payload += more
        return op, payload, rsv, later, frames


# ---------------------------------------------------------------- checks

def expect_end_stream(c, s, deadline):
    # After its close frame the server must end the stream with
    # END_STREAM (RFC 8441 section 5.3: the FIN).  mod_http2 may then
    # reset the stream with NO_ERROR when our side is still open, which
    # RFC 9113 section 8.1 allows after a complete response; any other
    # reset, or one before END_STREAM, is a failure.
    c.wait(lambda: s.ended or s.reset is not None, deadline,
           "END_STREAM on %d after the close" % s.sid)
    expect(s.ended, "stream %d reset (error %s) before END_STREAM" % (s.sid, s.reset))
    expect(s.reset in (None, 0),
           "stream %d reset with error %s after END_STREAM" % (s.sid, s.reset))
    return "END_STREAM" if s.reset is None else "END_STREAM, then RST_STREAM(NO_ERROR)"


def main():
    args = base_args(__doc__).parse_args()
    R = Results()
    state = {}

    def run(name, fn):
        t0 = time.monotonic()
        try:
            detail = fn(t0 + CHECK_TIMEOUT)
        except CheckFailed as e:
            R.report(name, False, str(e), time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            R.report(name, False, "unexpected exception: %s: %s" % (type(e).__name__, e),
                     time.monotonic() - t0)
        else:
            R.report(name, True, detail or "", time.monotonic() - t0)

    def need(key):
        if key not in state:
            raise CheckFailed("not run: an earlier check (%s) failed" % key)
        return state[key]

    def alpn_h2(deadline):
        c = H2Client(args.host, args.port)
        state["c"] = c
        expect(c.alpn == "h2", "ALPN selected %r, expected 'h2'" % c.alpn)
        return "ALPN h2, %s" % c.sock.version()

    def settings_connect_protocol(deadline):
        c = need("c")
        c.wait(lambda: c.settings_seen, deadline, "the server's SETTINGS")
        v = c.remote_settings.get(int(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL))
        expect(v == 1, "SETTINGS_ENABLE_CONNECT_PROTOCOL is %r (settings %r)"
               % (v, c.remote_settings))
        return "SETTINGS %r" % c.remote_settings

    def get_root(deadline):
        c = need("c")
        s = c.request([(":method", "GET"), (":scheme", "https"), (":path", "/"),
                       (":authority", c.authority)], end_stream=True)
        c.wait(lambda: s.ended or s.reset is not None, deadline, "the response to GET /")
        expect(s.reset is None, "GET / reset (error %s)" % s.reset)
        status = (s.headers or {}).get(":status")
        expect(status == "200", "GET / :status %r" % status)
        expect(b"Run WebSocket" in s.data, "GET / body is not the tutorial page: %s"
               % short(bytes(s.data)))
        return "200, %d bytes" % len(s.data)

    def connect_200(deadline):
        c = need("c")
        s = c.websocket("/echo", deadline)
        status = (s.headers or {}).get(":status")
        expect(s.reset is None, "CONNECT /echo reset (error %s)" % s.reset)
        expect(status == "200", "CONNECT /echo :status %r (headers %r)" % (status, s.headers))
        expect(not s.ended, "the server ended the stream right after its 200")
        state["ws"] = s
        return "200 on stream %d" % s.sid

    def echo(opcode, n):
        def check(deadline):
            c = need("c")
            s = need("ws")
            if opcode == OP_TEXT:
                payload = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (n // 36 + 1))[:n]
            else:
                payload = os.urandom(n)
            c.send_data(s, ws_frame(opcode, payload), deadline)
            op, got = c.message(s, deadline)
            expect(op == opcode, "echo opcode %d, sent %d" % (op, opcode))
            expect(got == payload, "echo differs: sent %d bytes, got %d" % (n, len(got)))
            return "%d bytes" % n
        return check

    def ping_pong(deadline):
        c = need("c")
        s = need("ws")
        c.send_data(s, ws_frame(OP_PING, b"h2 ping"), deadline)
        fin, op, masked, payload = c.next_frame(s, deadline)
        expect(op == OP_PONG, "expected a pong, got opcode %d %s" % (op, short(payload)))
        expect(payload == b"h2 ping", "pong payload %s" % short(payload))
        return "pong 'h2 ping'"

    def end_our_side(c, s, deadline):
        # The server ended its side; end ours (the stream is then closed).
        try:
            c.conn.end_stream(s.sid)
        except h2.exceptions.StreamClosedError:
            pass
        c.flush(deadline)

    def close_1000(deadline):
        c = need("c")
        s = need("ws")
        c.send_data(s, ws_frame(OP_CLOSE, struct.pack("!H", 1000) + b"done"), deadline)
        fin, op, masked, payload = c.next_frame(s, deadline)
        expect(op == OP_CLOSE, "expected a close frame, got opcode %d" % op)
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        expect(code == 1000, "close code %r" % code)
        how = expect_end_stream(c, s, deadline)
        end_our_side(c, s, deadline)
        return "close 1000, " + how

    def connect_denied_403(deadline):
        c = need("c")
        s = c.websocket("/denied", deadline)
        status = (s.headers or {}).get(":status")
        expect(status == "403", "CONNECT /denied :status %r (reset %s)" % (status, s.reset))
        return "403"

    def two_streams_open(deadline):
        c = H2Client(args.host, args.port)
        state["c2"] = c
        expect(c.alpn == "h2", "ALPN selected %r" % c.alpn)
        a = c.websocket("/echo", deadline)
        b = c.websocket("/echo", deadline)
        for name, s in (("first", a), ("second", b)):
            status = (s.headers or {}).get(":status")
            expect(status == "200", "%s CONNECT /echo :status %r (reset %s)" % (name, status, s.reset))
        state["a"], state["b"] = a, b
        return "streams %d and %d on one connection" % (a.sid, b.sid)

    big = os.urandom(1024 * 1024)

    def stalled_stream_held(deadline):
        c = need("c2")
        b = need("b")
        b.stalled = True
        # Our SETTINGS_INITIAL_WINDOW_SIZE: what the server may send on
        # the stream before we grant more.
        window = c.conn.local_settings.initial_window_size
        c.send_data(b, ws_frame(OP_BINARY, big), deadline)
        # The server echoes 1 MiB into a stream window of `window` bytes:
        # it can send that much and must then wait.
        c.wait(lambda: b.received >= min(window, 60000), deadline,
               "the start of the 1 MiB echo on the stalled stream")
        state["window"] = window
        expect(b.received <= window,
               "stalled stream received %d bytes, more than its window %d" % (b.received, window))
        return "1 MiB sent; %d bytes of its echo received, window %d withheld" % (b.received, window)

    def other_stream_100_echoes(deadline):
        c = need("c2")
        a = need("a")
        b = need("b")
        need("window")
        worst = 0.0
        for i in range(100):
            t0 = time.monotonic()
            msg = ("message %d on the free stream " % i).encode() + b"x" * (i * 37 % 500)
            c.send_data(a, ws_frame(OP_TEXT, msg), min(deadline, t0 + PROMPT * 5))
            op, got = c.message(a, min(deadline, t0 + PROMPT * 5))
            took = time.monotonic() - t0
            worst = max(worst, took)
            expect(got == msg, "echo %d differs: %s" % (i, short(got)))
            expect(took < PROMPT, "echo %d took %.2f s (more than %.1f s) while the other "
                   "stream was stalled" % (i, took, PROMPT))
        expect(b.received <= state["window"],
               "the stalled stream got %d bytes past its window" % b.received)
        return "100 echoes, slowest %.3f s, stalled stream still at %d bytes" % (worst, b.received)

    def stalled_stream_resumes(deadline):
        c = need("c2")
        b = need("b")
        need("window")
        c.grant(b)
        op, got = c.message(b, deadline)
        expect(op == OP_BINARY, "opcode %d" % op)
        expect(got == big, "1 MiB echo differs after the stall: %d bytes" % len(got))
        return "1 MiB echo complete after the window was granted"

    def two_streams_close(deadline):
        c = need("c2")
        codes = []
        for s in (need("a"), need("b")):
            c.send_data(s, ws_frame(OP_CLOSE, struct.pack("!H", 1000)), deadline)
            fin, op, masked, payload = c.next_frame(s, deadline, skip_pongs=True)
            expect(op == OP_CLOSE, "stream %d: expected a close, got opcode %d" % (s.sid, op))
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            expect(code == 1000, "stream %d: close code %r" % (s.sid, code))
            expect_end_stream(c, s, deadline)
            end_our_side(c, s, deadline)
            codes.append(code)
        return "both closed %r" % codes

    checks = [("alpn_h2", alpn_h2), ("settings_connect_protocol", settings_connect_protocol),
              ("get_root", get_root), ("connect_200", connect_200)]
    for n in SIZES:
        checks.append(("text_%d" % n, echo(OP_TEXT, n)))
        checks.append(("binary_%d" % n, echo(OP_BINARY, n)))
    checks += [("ping_pong", ping_pong), ("close_1000", close_1000),
               ("connect_denied_403", connect_denied_403),
               ("two_streams_open", two_streams_open),
               ("stalled_stream_held", stalled_stream_held),
               ("other_stream_100_echoes", other_stream_100_echoes),
               ("stalled_stream_resumes", stalled_stream_resumes),
               ("two_streams_close", two_streams_close)]
    checks += h2_deflate.checks(sys.modules[__name__], args, state, need, end_our_side)
    for name, fn in checks:
        run(name, fn)
    for key in ("c", "c2", "c3"):
        if key in state:
            try:
                state[key].sock.close()
            except OSError:
                pass
    return R.exit_code()


if __name__ == "__main__":
    sys.exit(main())
