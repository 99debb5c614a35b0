#!/usr/bin/env node
// Interop client: npm `ws` (8.x, Node 20) against mod_websocket.
//
// Usage: node t/clients/node_client.js --port PORT [--host 127.0.0.1] [--tls]
//
// --tls: wss:// to the TLS vhost's port, without certificate verification
// (the build's certificate is self-signed), SNI localhost.  ws speaks
// HTTP/1.1 only: the Upgrade handshake over TLS.
//
// Locations used (see t/conf/extra.conf.in): /echo, /test, /small.
// Prints one JSON object per line on stdout:
//   {"check": "<name>", "ok": true|false, "detail": "<text>", "elapsed": <s>}
// and exits 0 only if every check passed (1 otherwise, 2 on a usage error).
// Every wait is bounded; every check runs under CHECK_TIMEOUT.
'use strict';

const WebSocket = require('ws');

const OPEN_TIMEOUT = 10000;
const RECV_TIMEOUT = 10000;
const CHECK_TIMEOUT = 30000;
const PROMPT_CLOSE = 3000; // ms: closing handshake + TCP close must be this quick

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: null, tls: false };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--host') out.host = argv[++i];
    else if (argv[i] === '--tls') out.tls = true;
    else if (argv[i] === '--port') out.port = parseInt(argv[++i], 10);
    else { process.stderr.write(`unknown argument ${argv[i]}\n`); process.exit(2); }
  }
  if (!out.port) { process.stderr.write('usage: node_client.js --port PORT [--host H] [--tls]\n'); process.exit(2); }
  return out;
}

// wss:// options (main() sets them for --tls): no verification, SNI localhost.
let TLS_OPTIONS = {};

class CheckFailed extends Error {}
function expect(cond, msg) { if (!cond) throw new CheckFailed(msg); }
function short(v, limit = 80) {
  let s;
  if (Buffer.isBuffer(v)) s = `<Buffer ${v.length} bytes ${v.subarray(0, 16).toString('hex')}...>`;
  else s = JSON.stringify(v);
  if (s === undefined) s = String(v);
  return s.length > limit ? `${s.slice(0, limit)}...(${s.length} chars)` : s;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// A connection plus a queue of everything it reports, so a check can await
// "the next event" with a bound.
class Conn {
  constructor(url, protocols, options = {}) {
    this.events = [];
    this.waiters = [];
    this.upgradeHeaders = null;
    this.ws = new WebSocket(url, protocols, { handshakeTimeout: OPEN_TIMEOUT, ...TLS_OPTIONS, ...options });
    this.ws.on('upgrade', (res) => { this.upgradeHeaders = res.headers; this.upgradeStatus = res.statusCode; });
    this.ws.on('message', (data, isBinary) => this.push({ type: 'message', data, isBinary }));
    this.ws.on('pong', (data) => this.push({ type: 'pong', data }));
    this.ws.on('close', (code, reason) => {
      this.closedAt = Date.now();
      this.push({ type: 'close', code, reason: reason.toString('utf8') });
    });
    this.ws.on('error', (err) => { this.error = err; this.push({ type: 'error', error: err }); });
  }

  push(ev) {
    const w = this.waiters.shift();
    if (w) w(ev); else this.events.push(ev);
  }

  next(ms = RECV_TIMEOUT, what = 'next event') {
    if (this.events.length) return Promise.resolve(this.events.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), ms, what);
  }

  async opened() {
    if (this.ws.readyState === WebSocket.OPEN) return this;
    await withTimeout(new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) =>
        reject(new CheckFailed(`unexpected HTTP response ${res.statusCode} to the opening handshake`)));
    }), OPEN_TIMEOUT + 1000, 'opening handshake');
    return this;
  }

  async message(what = 'message') {
    const ev = await this.next(RECV_TIMEOUT, what);
    if (ev.type === 'message') return ev;
    if (ev.type === 'close') throw new CheckFailed(`${what}: connection closed instead (code ${ev.code} ${short(ev.reason)})`);
    if (ev.type === 'error') throw new CheckFailed(`${what}: error instead: ${ev.error.message}`);
    throw new CheckFailed(`${what}: unexpected ${ev.type} event`);
  }

  // Wait for the close event; the 'close' event of ws fires once the TCP
  // connection is gone (ws waits up to 30 s for the server to close it).
  async closeEvent(what = 'close') {
    for (;;) {
      const ev = await this.next(RECV_TIMEOUT, what);
      if (ev.type === 'close') return ev;
      if (ev.type === 'message') throw new CheckFailed(`${what}: got a message ${short(ev.data)} instead of a close`);
      if (ev.type === 'error') throw new CheckFailed(`${what}: error: ${ev.error.message}`);
    }
  }

  terminate() { try { this.ws.terminate(); } catch (e) { /* already gone */ } }
}

async function open(url, protocols) {
  const c = new Conn(url, protocols);
  try { return await c.opened(); } catch (e) { c.terminate(); throw e; }
}

async function echo(c, payload, label) {
  const binary = Buffer.isBuffer(payload);
  c.ws.send(payload, { binary });
  const m = await c.message(label);
  expect(m.isBinary === binary,
    `${label}: sent ${binary ? 'binary' : 'text'}, received ${m.isBinary ? 'binary' : 'text'} (type not preserved)`);
  const got = binary ? m.data : m.data.toString('utf8');
  const same = binary ? Buffer.compare(got, payload) === 0 : got === payload;
  expect(same, `${label}: echo differs: sent ${payload.length}, got ${got.length}: ${short(got)}`);
}

async function expectServerClose(c, code, reason, label, sentAt) {
  const ev = await c.closeEvent(label);
  expect(ev.code === code, `${label}: expected close code ${code}, got ${ev.code} (reason ${short(ev.reason)})` +
    (ev.code === 1006 ? ' [1006 = no close frame received]' : ''));
  if (reason !== null) expect(ev.reason === reason, `${label}: expected reason ${short(reason)}, got ${short(ev.reason)}`);
  if (sentAt) {
    const took = c.closedAt - sentAt;
    expect(took < PROMPT_CLOSE, `${label}: the server did not close the TCP connection promptly (${took} ms)`);
  }
  return `close ${ev.code} ${short(ev.reason)}`;
}

function seededBytes(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 16; }
  return b;
}

async function main() {
  const args = parseArgs(process.argv);
  if (args.tls) TLS_OPTIONS = { rejectUnauthorized: false, servername: 'localhost' };
  const base = `${args.tls ? 'wss' : 'ws'}://${args.host}:${args.port}`;
  let passed = 0, failed = 0;
  const report = (check, ok, detail, elapsed) => {
    if (ok) passed++; else failed++;
    process.stdout.write(JSON.stringify({ check, ok, detail: String(detail || ''), elapsed }) + '\n');
  };
  const conns = [];
  const track = (c) => { conns.push(c); return c; };

  const checks = [
    ['text_echo', async () => {
      const c = track(await open(`${base}/echo`));
      for (const p of ['hello', 'h\u00e9llo w\u00f6rld \u2713 \u{1F680}', 'a'.repeat(125), 'b'.repeat(126),
        'c'.repeat(65535), 'd'.repeat(65536)]) await echo(c, p, `text len ${p.length}`);
      c.ws.close(1000);
      return '6 text messages';
    }],
    ['binary_echo', async () => {
      const c = track(await open(`${base}/echo`));
      const ps = [Buffer.from([...Array(256).keys()]), Buffer.alloc(125, 0), Buffer.alloc(126, 0xff),
        seededBytes(65535, 1), seededBytes(65536, 2)];
      for (const p of ps) await echo(c, p, `binary len ${p.length}`);
      c.ws.close(1000);
      return '5 binary messages, isBinary true';
    }],
    ['empty_text', async () => {
      const c = track(await open(`${base}/echo`)); await echo(c, '', 'empty text'); c.ws.close(1000);
    }],
    ['empty_binary', async () => {
      const c = track(await open(`${base}/echo`)); await echo(c, Buffer.alloc(0), 'empty binary'); c.ws.close(1000);
    }],
    ['text_1mib', async () => {
      const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 ';
      const r = seededBytes(1024 * 1024, 6455);
      let s = '';
      const parts = [];
      for (let i = 0; i < r.length; i++) { s += alphabet[r[i] % alphabet.length]; if (s.length === 4096) { parts.push(s); s = ''; } }
      parts.push(s);
      const c = track(await open(`${base}/echo`)); await echo(c, parts.join(''), '1 MiB text'); c.ws.close(1000);
    }],
    ['binary_1mib', async () => {
      const c = track(await open(`${base}/echo`)); await echo(c, seededBytes(1024 * 1024, 6455), '1 MiB binary'); c.ws.close(1000);
    }],
    ['subprotocol_chat', async () => {
      const c = track(await open(`${base}/test`, ['chat']));
      expect(c.ws.protocol === 'chat', `ws.protocol is ${short(c.ws.protocol)}, expected "chat"`);
      c.ws.send('protocol');
      const m = await c.message('protocol reply');
      expect(m.data.toString() === 'chat', `server reports protocol ${short(m.data.toString())}`);
      c.ws.close(1000);
    }],
    ['subprotocol_preference', async () => {
      const c = track(await open(`${base}/test`, ['bogus', 'superchat', 'chat']));
      expect(c.ws.protocol === 'superchat', `offered bogus,superchat,chat: ws.protocol is ${short(c.ws.protocol)}, expected "superchat"`);
      c.ws.send('protocol');
      const m = await c.message('protocol reply');
      expect(m.data.toString() === 'superchat', `server reports protocol ${short(m.data.toString())}`);
      c.ws.close(1000);
    }],
    ['subprotocol_bogus', async () => {
      // ws (stricter than RFC 6455) fails the connection with "Server sent no
      // subprotocol" when it offered protocols and the 101 selects none; what we
      // check is the server's answer: 101 without a Sec-WebSocket-Protocol header.
      const c = track(new Conn(`${base}/test`, ['bogus']));
      let err = null;
      try { await c.opened(); } catch (e) { err = e; }
      expect(c.upgradeHeaders !== null, `no 101 response: ${err && err.message}`);
      expect(c.upgradeStatus === 101, `status ${c.upgradeStatus}`);
      expect(!('sec-websocket-protocol' in c.upgradeHeaders),
        `server selected ${short(c.upgradeHeaders['sec-websocket-protocol'])} although only "bogus" was offered`);
      expect(err && /Server sent no subprotocol/.test(err.message),
        `expected ws to report "Server sent no subprotocol", got ${err ? err.message : 'an open connection'}`);
      c.terminate();
      return '101 without Sec-WebSocket-Protocol';
    }],
    ['no_subprotocol_on_echo', async () => {
      const c = track(await open(`${base}/echo`));
      expect(c.ws.protocol === '', `ws.protocol is ${short(c.ws.protocol)} on /echo`);
      expect(!('sec-websocket-protocol' in c.upgradeHeaders), 'server sent Sec-WebSocket-Protocol on /echo');
      await echo(c, 'plain', 'echo'); c.ws.close(1000);
    }],
    ['ping_pong', async () => {
      const c = track(await open(`${base}/echo`));
      c.ws.ping(Buffer.from('are you there'));
      let ev = await c.next(RECV_TIMEOUT, 'pong');
      expect(ev.type === 'pong', `expected a pong, got ${ev.type}`);
      expect(ev.data.toString() === 'are you there', `pong payload ${short(ev.data.toString())} differs from the ping's`);
      c.ws.ping();
      ev = await c.next(RECV_TIMEOUT, 'pong (empty ping)');
      expect(ev.type === 'pong' && ev.data.length === 0, `empty ping: got ${ev.type} ${short(ev.data)}`);
      c.ws.close(1000);
      return 'pong events with the ping payload';
    }],
    ['test_push', async () => {
      const c = track(await open(`${base}/test`));
      c.ws.send('push 5');
      const got = [];
      for (let i = 0; i < 5; i++) got.push((await c.message(`push ${i + 1}`)).data.toString());
      expect(JSON.stringify(got) === JSON.stringify([1, 2, 3, 4, 5].map((i) => `push ${i}`)), `push 5 gave ${short(got, 200)}`);
      c.ws.close(1000);
    }],
    ['test_binary_command', async () => {
      const c = track(await open(`${base}/test`));
      c.ws.send('binary 300');
      const m = await c.message('binary 300');
      expect(m.isBinary, 'binary 300 gave a text message');
      const want = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
      expect(Buffer.compare(m.data, want) === 0, `binary 300 gave ${short(m.data)}`);
      c.ws.close(1000);
    }],
    ['ordered_50', async () => {
      const c = track(await open(`${base}/echo`));
      const sent = [];
      for (let i = 0; i < 50; i++) {
        // mixed sizes (some beyond 64 KiB) and mixed types, all sent back-to-back
        const size = [1, 100, 1000, 20000, 70000][i % 5];
        const p = i % 3 === 2 ? Buffer.alloc(size, i) : `msg ${i} `.padEnd(size, String.fromCharCode(97 + (i % 26)));
        sent.push(p);
        c.ws.send(p, { binary: Buffer.isBuffer(p) });
      }
      for (let i = 0; i < 50; i++) {
        const m = await c.message(`echo #${i}`);
        const p = sent[i];
        const binary = Buffer.isBuffer(p);
        expect(m.isBinary === binary, `message #${i}: type ${m.isBinary ? 'binary' : 'text'}, expected ${binary ? 'binary' : 'text'}`);
        const ok = binary ? Buffer.compare(m.data, p) === 0 : m.data.toString() === p;
        expect(ok, `message #${i} out of order or corrupted: got ${short(binary ? m.data : m.data.toString())}`);
      }
      c.ws.close(1000);
      return '50 back-to-back messages echoed in order';
    }],
    ['server_close_4001', async () => {
      const c = track(await open(`${base}/test`));
      const t0 = Date.now();
      c.ws.send('close 4001 bye');
      return expectServerClose(c, 4001, 'bye', 'close 4001 bye', t0);
    }],
    ['goodbye_1000', async () => {
      const c = track(await open(`${base}/echo`));
      const t0 = Date.now();
      c.ws.send('Goodbye');
      const m = await c.message('Goodbye echo');
      expect(m.data.toString() === 'Goodbye', `Goodbye not echoed first: ${short(m.data.toString())}`);
      return expectServerClose(c, 1000, null, 'after Goodbye', t0);
    }],
    ['small_limit_1009', async () => {
      const c = track(await open(`${base}/small`));
      await echo(c, 's'.repeat(1000), '/small 1000 bytes');
      const t0 = Date.now();
      c.ws.send('t'.repeat(2000));
      return expectServerClose(c, 1009, null, '/small 2000 bytes', t0);
    }],
    ['client_close_1000', async () => {
      const c = track(await open(`${base}/echo`));
      await echo(c, 'bye soon', 'echo before close');
      const t0 = Date.now();
      c.ws.close(1000, 'client done');
      const ev = await c.closeEvent('close reply');
      expect(ev.code === 1000, `close event code ${ev.code}, expected 1000 echoed by the server`);
      const took = c.closedAt - t0;
      expect(took < PROMPT_CLOSE, `closing handshake + TCP close took ${took} ms`);
      return `server answered 1000 in ${took} ms`;
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
  // Wait (bounded) for the connections closed above, then drop stragglers.
  await withTimeout(Promise.all(conns.map((c) => c.closedAt ? null :
    new Promise((r) => c.ws.once('close', r)))), 5000, 'final closes').catch(() => {});
  conns.forEach((c) => c.terminate());
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main().catch((e) => { process.stderr.write(`fatal: ${e.stack || e}\n`); process.exitCode = 2; });
