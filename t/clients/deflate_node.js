#!/usr/bin/env node
// Interop client: npm `ws` (8.x, Node 20) with permessage-deflate against
// mod_websocket.
//
// Usage: node t/clients/deflate_node.js --port PORT [--host 127.0.0.1] [--tls]
//
// The client enables perMessageDeflate (ws's default offer is
// "permessage-deflate; client_max_window_bits"), and, in some checks,
// clientNoContextTakeover, serverNoContextTakeover or smaller windows.
// Locations (t/conf/extra.conf.in): /deflate (shared mode: no context
// takeover either way, messages under 64 bytes go out plain,
// WebSocketMaxMessageSize 65536), /deflate/dedicated (context kept both
// ways unless the client asks otherwise, server window 11, every message
// compressed) and /echo (WebSocketDeflate off).
//
// Wire bytes are ws._socket.bytesRead / bytesWritten, taken from the
// 'open' event on (the opening handshake left out); over TLS Node counts
// the decrypted stream, i.e. the WebSocket frames.  For each WebSocket at
// /deflate* it closed, the client prints
//   {"conn": {"port": P, "path": "...", "raw_in": a, "raw_out": b, "close": c}}
// which the wrapper compares with the server's WSLOG line (DeflateLog.pm).
// Results: one {"check": ..., "ok": ..., "detail": ..., "elapsed": ...} line
// per check; exit 0 only if every check passed.  Every wait is bounded.
'use strict';

const WebSocket = require('ws');

const OPEN_TIMEOUT = 10000;
const RECV_TIMEOUT = 10000;
const CHECK_TIMEOUT = 30000;

const ANSWER_SHARED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15';
const ANSWER_DEDICATED = 'permessage-deflate; server_max_window_bits=11; client_max_window_bits=15';
const MIN_SIZE = 64;

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: null, tls: false };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--host') out.host = argv[++i];
    else if (argv[i] === '--tls') out.tls = true;
    else if (argv[i] === '--port') out.port = parseInt(argv[++i], 10);
    else { process.stderr.write(`unknown argument ${argv[i]}\n`); process.exit(2); }
  }
  if (!out.port) { process.stderr.write('usage: deflate_node.js --port PORT [--host H] [--tls]\n'); process.exit(2); }
  return out;
}

let TLS_OPTIONS = {};

class CheckFailed extends Error {}
function expect(cond, msg) { if (!cond) throw new CheckFailed(msg); }
function short(v, limit = 80) {
  let s = Buffer.isBuffer(v) ? `<Buffer ${v.length} bytes ${v.subarray(0, 16).toString('hex')}...>` : JSON.stringify(v);
  if (s === undefined) s = String(v);
  return s.length > limit ? `${s.slice(0, limit)}...(${s.length} chars)` : s;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new CheckFailed(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// Deterministic pseudo-random numbers (an LCG), so every run sends the same.
function rng(seed) {
  let x = seed >>> 0;
  return () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 4294967296; };
}

// JSON-like text of about `size` characters, different per seed.
function jsonText(seed, size = 4096) {
  const r = rng(seed);
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel',
    'india', 'juliett', 'kilo', 'lima', 'mike', 'november'];
  const pick = () => words[Math.floor(r() * words.length)];
  const recs = [];
  let total = 2;
  for (let i = 0; total < size; i++) {
    const note = Array.from({ length: 1 + Math.floor(r() * 5) }, pick).join(' ');
    const rec = `{"id":${seed * 1000 + i},"user":"${pick()}-${Math.floor(r() * 10000)}","tags":["${pick()}","${pick()}"],` +
      `"score":${(r() * 1000).toFixed(3)},"active":${r() < 0.5},"note":"${note}"}`;
    recs.push(rec);
    total += rec.length + 1;
  }
  const s = `[${recs.join(',')}]`;
  return s.length > size ? `${s.slice(0, size - 1)}]` : s;
}

// Structured binary: 16-byte little-endian records, compressible.
function binaryBlob(seed, size = 4096) {
  const r = rng(seed);
  const b = Buffer.alloc(size);
  for (let off = 0, n = 0; off + 16 <= size; off += 16, n++) {
    b.writeUInt32LE(n, off);
    b[off + 4] = Math.floor(r() * 4);
    b.writeUInt32LE(Math.floor(r() * 65536), off + 8);
  }
  return b;
}

function randomText(seed, n) {
  const r = rng(seed);
  const a = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += a[Math.floor(r() * a.length)];
  return s;
}

// A connection plus a queue of its events, so a check can await "the next
// message" with a bound; byte counters from the 'open' event on.
class Conn {
  constructor(url, options) {
    this.path = new URL(url).pathname;
    this.events = [];
    this.waiters = [];
    this.ws = new WebSocket(url, { handshakeTimeout: OPEN_TIMEOUT, ...TLS_OPTIONS, ...options });
    // What the client offered, from its request (ws drops it after the upgrade).
    this.offer = this.ws._req ? this.ws._req.getHeader('Sec-WebSocket-Extensions') : undefined;
    this.ws.on('upgrade', (res) => { this.answer = res.headers['sec-websocket-extensions']; });
    this.ws.on('open', () => {
      this.sock = this.ws._socket;
      this.port = this.sock.localPort;
      this.in0 = this.sock.bytesRead;
      this.out0 = this.sock.bytesWritten;
    });
    this.ws.on('message', (data, isBinary) => this.push({ type: 'message', data, isBinary }));
    this.ws.on('close', (code, reason) => { this.closed = true; this.push({ type: 'close', code, reason: reason.toString() }); });
    this.ws.on('error', (err) => this.push({ type: 'error', error: err }));
  }

  push(ev) { const w = this.waiters.shift(); if (w) w(ev); else this.events.push(ev); }

  next(what) {
    if (this.events.length) return Promise.resolve(this.events.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), RECV_TIMEOUT, what);
  }

  rawIn() { return this.sock.bytesRead - this.in0; }
  rawOut() { return this.sock.bytesWritten - this.out0; }

  async opened() {
    await withTimeout(new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) => reject(new CheckFailed(`HTTP ${res.statusCode} to the handshake`)));
    }), OPEN_TIMEOUT + 1000, 'opening handshake');
    return this;
  }

  async message(what) {
    const ev = await this.next(what);
    if (ev.type === 'message') return ev;
    if (ev.type === 'close') throw new CheckFailed(`${what}: closed instead (${ev.code} ${short(ev.reason)})`);
    if (ev.type === 'error') throw new CheckFailed(`${what}: error instead: ${ev.error.message}`);
    throw new CheckFailed(`${what}: unexpected ${ev.type}`);
  }

  async closeEvent(what) {
    for (;;) {
      const ev = await this.next(what);
      if (ev.type === 'close') return ev;
      if (ev.type === 'message') throw new CheckFailed(`${what}: message ${short(ev.data)} instead of a close`);
      if (ev.type === 'error') throw new CheckFailed(`${what}: error ${ev.error.message}`);
    }
  }

  report(code) {
    if (!this.path.startsWith('/deflate')) return;
    process.stdout.write(JSON.stringify({ conn: { port: this.port, path: this.path, raw_in: this.rawIn(),
      raw_out: this.rawOut(), close: code } }) + '\n');
  }

  // A clean client close: the server must answer 1000.
  async close1000() {
    this.ws.close(1000);
    const ev = await this.closeEvent(`${this.path}: close`);
    expect(ev.code === 1000, `${this.path}: the server answered close ${ev.code}, expected 1000`);
    this.report(ev.code);
  }

  terminate() { try { this.ws.terminate(); } catch (e) { /* gone */ } }
}

const conns = [];
async function open(url, pmd = true) {
  const c = new Conn(url, { perMessageDeflate: pmd });
  conns.push(c);
  try { return await c.opened(); } catch (e) { c.terminate(); throw e; }
}

async function echo(c, payload, label) {
  const binary = Buffer.isBuffer(payload);
  c.ws.send(payload, { binary });
  const m = await c.message(label);
  expect(m.isBinary === binary, `${label}: sent ${binary ? 'binary' : 'text'}, received ${m.isBinary ? 'binary' : 'text'}`);
  const same = binary ? Buffer.compare(m.data, payload) === 0 : m.data.toString('utf8') === payload;
  expect(same, `${label}: echo differs: sent ${payload.length}, got ${m.data.length}: ${short(m.data.toString())}`);
}

// Echo one message and return [bytes in, bytes out] on the wire for it.
async function measured(c, payload, label) {
  const i0 = c.rawIn(), o0 = c.rawOut();
  await echo(c, payload, label);
  return [c.rawIn() - i0, c.rawOut() - o0];
}

function expectAnswer(c, want, label) {
  expect(typeof c.offer === 'string' && c.offer.startsWith('permessage-deflate'), `${label}: offer ${short(c.offer)}`);
  expect(c.answer === want, `${label}: Sec-WebSocket-Extensions answer ${short(c.answer, 200)}, expected ${short(want, 200)}`);
  expect(c.ws.extensions === 'permessage-deflate', `${label}: ws.extensions ${short(c.ws.extensions)}`);
  return c.ws._extensions['permessage-deflate'].params;
}

const shrinks = (s) => s.slice(1).every((x) => x < s[0] / 4);
const steady = (s) => s.every((x) => Math.abs(x - s[0]) <= s[0] * 0.1);

async function main() {
  const args = parseArgs(process.argv);
  if (args.tls) TLS_OPTIONS = { rejectUnauthorized: false, servername: 'localhost' };
  const base = `${args.tls ? 'wss' : 'ws'}://${args.host}:${args.port}`;
  let passed = 0, failed = 0;
  const report = (check, ok, detail, elapsed) => {
    if (ok) passed++; else failed++;
    process.stdout.write(JSON.stringify({ check, ok, detail: String(detail || ''), elapsed }) + '\n');
  };

  // Sends `msg` 5 times and returns the wire sizes each way.
  async function repeated(c, msg) {
    const sin = [], sout = [];
    for (let k = 0; k < 5; k++) {
      const [i, o] = await measured(c, msg, `${c.path} copy ${k + 1}`);
      sin.push(i); sout.push(o);
    }
    return [sin, sout];
  }

  async function roundtrip(path) {
    const c = await open(`${base}${path}`);
    for (let k = 0; k < 6; k++) {
      await echo(c, jsonText(100 + k), `${path} JSON #${k}`);
      await echo(c, binaryBlob(200 + k), `${path} binary #${k}`);
    }
    await echo(c, 'h\u00e9llo w\u00f6rld \u2713 \u{1F680} '.repeat(200), `${path} non-ASCII`);
    await c.close1000();
    return '13 messages (4 KiB JSON, 4 KiB binary, non-ASCII) equal';
  }

  async function wireCompressed(path) {
    const c = await open(`${base}${path}`);
    let total = 0;
    for (let k = 0; k < 10; k++) { const p = jsonText(300 + k); await echo(c, p, `${path} JSON #${k}`); total += Buffer.byteLength(p); }
    const i = c.rawIn(), o = c.rawOut();
    expect(i < total * 0.5, `${path}: ${i} bytes read for ${total} bytes of echoed text (not compressed?)`);
    expect(o < total * 0.5, `${path}: ${o} bytes written for ${total} bytes of text`);
    await c.close1000();
    return `${total} bytes of text: ${i} read (${Math.round(100 * i / total)}%), ${o} written`;
  }

  async function fragmented(path, pmd) {
    const c = await open(`${base}${path}`, pmd);
    const text = jsonText(400, 6000);
    const o0 = c.rawOut();
    // ws decides compression on the first fragment (threshold 1024 by default).
    const parts = [text.slice(0, 1500), text.slice(1500, 1501), '', text.slice(1501, 4000), text.slice(4000)];
    parts.forEach((p, k) => c.ws.send(p, { fin: k === parts.length - 1, compress: true }));
    let m = await c.message(`${path} fragmented text`);
    expect(!m.isBinary && m.data.toString() === text, `${path}: fragmented text echo: ${short(m.data.toString())}`);
    const written = c.rawOut() - o0;
    expect(written < text.length * 0.5, `${path}: ${written} bytes written for ${text.length} in fragments: not compressed`);
    const blob = binaryBlob(401, 9000);
    for (let off = 0; off < blob.length; off += 2000) {
      c.ws.send(blob.subarray(off, off + 2000), { binary: true, fin: off + 2000 >= blob.length, compress: true });
    }
    m = await c.message(`${path} fragmented binary`);
    expect(m.isBinary && Buffer.compare(m.data, blob) === 0, `${path}: fragmented binary echo: ${short(m.data)}`);
    await echo(c, text, `${path} whole text after fragments`);
    await c.close1000();
    return `text in ${parts.length} fragments (${written} bytes written for ${text.length}), binary in 5, echoed whole`;
  }

  async function threadOrdered(path) {
    const c = await open(`${base}${path}`);
    const i0 = c.rawIn();
    c.ws.send('thread 50');
    let plain = 0;
    for (let i = 1; i <= 50; i++) {
      const m = await c.message(`${path} thread message ${i}`);
      expect(m.data.toString() === `thread ${i}`, `${path}: message ${i} from the handler thread is ${short(m.data.toString())}`);
      plain += 2 + `thread ${i}`.length;
    }
    const got = c.rawIn() - i0;
    await echo(c, jsonText(700), `${path} echo after the thread`);
    await c.close1000();
    return [got, plain];
  }

  const checks = [
    ['negotiated_shared', async () => {
      const c = await open(`${base}/deflate`);
      const p = expectAnswer(c, ANSWER_SHARED, '/deflate');
      await echo(c, jsonText(1), '/deflate first echo');
      await c.close1000();
      return JSON.stringify(p);
    }],
    ['negotiated_dedicated', async () => {
      const c = await open(`${base}/deflate/dedicated`);
      const p = expectAnswer(c, ANSWER_DEDICATED, '/deflate/dedicated');
      expect(p.server_max_window_bits === 11, `params ${JSON.stringify(p)}`);
      await echo(c, jsonText(2), '/deflate/dedicated first echo');
      await c.close1000();
      return JSON.stringify(p);
    }],
    ['roundtrip_shared', () => roundtrip('/deflate')],
    ['roundtrip_dedicated', () => roundtrip('/deflate/dedicated')],
    ['wire_compressed_shared', () => wireCompressed('/deflate')],
    ['wire_compressed_dedicated', () => wireCompressed('/deflate/dedicated')],
    ['short_messages', async () => {
      // /deflate: under 64 bytes the echo is plain: exactly 2 + n bytes on
      // the wire; from 64 on it is compressed (repetitive, so much smaller).
      // ws itself sends messages under its 1024-byte threshold plain.
      const sizes = [0, 1, 2, 10, 63, 64, 65, 100];
      let c = await open(`${base}/deflate`);
      const seen = [];
      for (const n of sizes) {
        const [ti] = await measured(c, 's'.repeat(n), `/deflate text ${n}`);
        const [bi] = await measured(c, Buffer.alloc(n, n & 0xff), `/deflate binary ${n}`);
        seen.push([n, ti, bi]);
        for (const got of [ti, bi]) {
          if (n < MIN_SIZE) expect(got === 2 + n, `/deflate ${n}-byte echo took ${got} bytes, expected ${2 + n} (plain)`);
          else expect(got < 2 + n, `/deflate ${n}-byte echo took ${got} bytes: not compressed`);
        }
      }
      c.ws.send('push 5');
      for (let i = 1; i <= 5; i++) {
        const m = await c.message(`push ${i}`);
        expect(m.data.toString() === `push ${i}`, `/deflate push 5: message ${i} is ${short(m.data.toString())}`);
      }
      await c.close1000();
      // /deflate/dedicated (WebSocketDeflateMinSize 0): short ones compressed too.
      c = await open(`${base}/deflate/dedicated`);
      for (const n of [10, 32, 63]) {
        const [got] = await measured(c, 'd'.repeat(n), `/deflate/dedicated text ${n}`);
        expect(got < 2 + n, `/deflate/dedicated ${n}-byte echo took ${got} bytes: not compressed`);
      }
      await c.close1000();
      return `[n, text bytes, binary bytes] at /deflate: ${JSON.stringify(seen)}`;
    }],
    ['fragmented_shared', () => fragmented('/deflate', true)],
    ['fragmented_dedicated', () => fragmented('/deflate/dedicated', true)],
    ['fragmented_small_threshold0', async () => {
      // threshold 0: ws compresses even a 3-byte first fragment.
      const c = await open(`${base}/deflate/dedicated`, { threshold: 0 });
      const parts = ['abc', 'def'.repeat(300), 'ghi'];
      parts.forEach((p, k) => c.ws.send(p, { fin: k === parts.length - 1, compress: true }));
      const m = await c.message('small fragments');
      expect(m.data.toString() === parts.join(''), `echo ${short(m.data.toString())}`);
      expect(c.rawOut() < 200, `${c.rawOut()} bytes written for ${parts.join('').length}: not compressed`);
      await c.close1000();
      return `${parts.join('').length} chars in 3 fragments, ${c.rawOut()} bytes written in all`;
    }],
    ['context_takeover_on', async () => {
      // 1.5 KiB: a repeat lies within the server's 2 KiB window (bits 11).
      const c = await open(`${base}/deflate/dedicated`);
      const [sin, sout] = await repeated(c, jsonText(500, 1500));
      await c.close1000();
      expect(shrinks(sin), `server->client bytes ${sin}: repeats not much smaller (context not kept?)`);
      expect(shrinks(sout), `client->server bytes ${sout}: the client did not keep its context`);
      return `in ${sin}, out ${sout}`;
    }],
    ['context_takeover_off', async () => {
      const c = await open(`${base}/deflate`);
      const [sin, sout] = await repeated(c, jsonText(500, 1500));
      await c.close1000();
      expect(steady(sin) && sin[0] < 750, `server->client bytes ${sin}: expected compressed and no smaller on repeats`);
      expect(steady(sout), `client->server bytes ${sout}`);
      return `in ${sin}, out ${sout}`;
    }],
    ['client_no_context_takeover', async () => {
      // The client asks to reset its own compressor; /deflate/dedicated keeps the server's.
      const c = await open(`${base}/deflate/dedicated`, { clientNoContextTakeover: true });
      expectAnswer(c, 'permessage-deflate; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=15',
        'clientNoContextTakeover');
      const [sin, sout] = await repeated(c, jsonText(501, 1500));
      await c.close1000();
      expect(shrinks(sin), `server->client bytes ${sin}: the server should keep its context`);
      expect(steady(sout), `client->server bytes ${sout}: the client should reset`);
      return `in ${sin}, out ${sout}`;
    }],
    ['server_no_context_takeover', async () => {
      // The client asks the server to reset: even /deflate/dedicated must.
      const c = await open(`${base}/deflate/dedicated`, { serverNoContextTakeover: true });
      expectAnswer(c, 'permessage-deflate; server_no_context_takeover; server_max_window_bits=11; client_max_window_bits=15',
        'serverNoContextTakeover');
      const [sin, sout] = await repeated(c, jsonText(502, 1500));
      await c.close1000();
      expect(steady(sin), `server->client bytes ${sin}: the server kept its context although asked not to`);
      expect(shrinks(sout), `client->server bytes ${sout}: the client may keep its context here`);
      return `in ${sin}, out ${sout}`;
    }],
    ['window_bits_offer', async () => {
      // Smaller windows asked for by the client are answered and used:
      // at /deflate/dedicated with server_max_window_bits=9 a repeat 1 KiB
      // back is out of reach (ws inflates with a 512-byte window).
      let c = await open(`${base}/deflate`, { serverMaxWindowBits: 10, clientMaxWindowBits: 9 });
      expectAnswer(c, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
        'server_max_window_bits=10; client_max_window_bits=9', '/deflate windows 10/9');
      for (let k = 0; k < 3; k++) await echo(c, jsonText(600 + k, 8000), `/deflate windows 10/9 #${k}`);
      await c.close1000();
      c = await open(`${base}/deflate/dedicated`, { serverMaxWindowBits: 9 });
      expectAnswer(c, 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=15', '/deflate/dedicated window 9');
      const x = randomText(603, 1024);
      const sizes = [];
      for (let k = 0; k < 3; k++) sizes.push((await measured(c, x, `1 KiB copy ${k + 1}`))[0]);
      await c.close1000();
      expect(sizes.slice(1).every((s) => s > sizes[0] * 0.8), `sizes ${sizes}: a back-reference beyond the agreed 512 bytes?`);
      return `10/9 at /deflate: 3 x 8 KB; window 9 at dedicated: 1 KiB x3 ${sizes}`;
    }],
    ['pipelined_50', async () => {
      // 50 messages sent back to back, mixed sizes and types, compressed with
      // context both ways: echoed in order, each intact.
      const c = await open(`${base}/deflate/dedicated`, { threshold: 0 });
      const sent = [];
      for (let i = 0; i < 50; i++) sent.push(i % 3 === 0 ? binaryBlob(1000 + i, 100 + 37 * i) : jsonText(1000 + i, 20 + 91 * i));
      for (const p of sent) c.ws.send(p, { binary: Buffer.isBuffer(p) });
      for (let i = 0; i < 50; i++) {
        const m = await c.message(`pipelined #${i}`);
        const p = sent[i], bin = Buffer.isBuffer(p);
        expect(m.isBinary === bin && (bin ? Buffer.compare(m.data, p) === 0 : m.data.toString() === p),
          `message #${i} out of order or corrupted: ${short(m.data.toString())}`);
      }
      await c.close1000();
      return '50 back-to-back echoed in order';
    }],
    ['thread_shared', async () => {
      const [got, plain] = await threadOrdered('/deflate');
      expect(got === plain, `/deflate: the 50 short thread messages took ${got} bytes, plain would be ${plain}`);
      return `50 in order, ${got} bytes = plain`;
    }],
    ['thread_dedicated', async () => {
      const [got, plain] = await threadOrdered('/deflate/dedicated');
      expect(got < plain, `/deflate/dedicated: the 50 thread messages took ${got} bytes, plain ${plain}: not compressed`);
      return `50 in order, ${got} bytes (plain ${plain})`;
    }],
    ['inflated_size_limit', async () => {
      const c = await open(`${base}/deflate`);
      await echo(c, jsonText(800, 60000), '/deflate 60000 bytes');
      const o0 = c.rawOut();
      c.ws.send(jsonText(801, 100000));
      const ev = await c.closeEvent('100000-byte message');
      expect(ev.code === 1009, `closed with ${ev.code}, expected 1009`);
      const wire = c.rawOut() - o0;
      expect(wire < 65536, `the 100 KB message was ${wire} bytes on the wire: not a useful test`);
      c.report(ev.code);
      return `60000 echoed; 100000 (${wire} bytes written) closed 1009`;
    }],
    ['echo_no_extension', async () => {
      const c = await open(`${base}/echo`);
      const offer = c.offer;
      expect(typeof offer === 'string' && offer.startsWith('permessage-deflate'), `the client did not offer permessage-deflate: ${short(offer)}`);
      expect(c.answer === undefined, `/echo (WebSocketDeflate off) answered ${short(c.answer)}`);
      expect(c.ws.extensions === '', `ws.extensions at /echo: ${short(c.ws.extensions)}`);
      const p = jsonText(900);
      const [i] = await measured(c, p, '/echo JSON');
      await echo(c, binaryBlob(901), '/echo binary');
      expect(i >= p.length + 4, `/echo: ${i} bytes read for ${p.length} (compressed without the extension?)`);
      await c.close1000();
      return `offer ${short(offer)}, no answer, ${i} bytes read for ${p.length}`;
    }],
  ];

  for (const [name, fn] of checks) {
    const t0 = Date.now();
    try {
      const detail = await withTimeout(fn(), CHECK_TIMEOUT, `check ${name}`);
      report(name, true, detail, (Date.now() - t0) / 1000);
    } catch (e) {
      report(name, false, e instanceof CheckFailed ? e.message : `unexpected exception: ${e && e.stack ? e.stack.split('\n')[0] : e}`,
        (Date.now() - t0) / 1000);
    }
  }
  conns.forEach((c) => { if (!c.closed) c.terminate(); });
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main().catch((e) => { process.stderr.write(`fatal: ${e.stack || e}\n`); process.exitCode = 2; });
