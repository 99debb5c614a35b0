#!/usr/bin/env node
// Browser interop of permessage-deflate (RFC 7692): Debian's headless
// Chromium (/usr/bin/chromium) through npm puppeteer-core, as browser.js,
// against the suite's /deflate locations (t/conf/extra.conf.in).
//
// Usage: node t/clients/browser_deflate.js --port PORT --error-log FILE
//             [--host 127.0.0.1] [--chromium PATH] [--tls]
//
// Chromium always offers "permessage-deflate; client_max_window_bits" and
// compresses what it sends once the server accepts.  The page (the tutorial
// page, loaded only to give the WebSockets an origin) opens
//   /deflate            shared mode: the server answers
//                       server_no_context_takeover; client_no_context_takeover
//   /deflate/dedicated  dedicated mode: context kept both ways, server window 11
// and on each sends 6 JSON texts of ~4 KiB and 4 binary ArrayBuffers of 4 KiB
// (compressible, all different), checks every echo equal and of its type,
// then asks for "push 5" (short: plain in shared mode) or "thread 20" (sent
// from the handler's own thread, compressed with context: Chromium's single
// inflater decodes them only in wire order), and closes with 1000.
//
// What is on the wire is not visible to the page nor to CDP (CDP reports
// inflated payloads), so the server's log is the proof: each closed WebSocket
// of /deflate* logs one line into --error-log
//   WS00310: WSLOG /deflate ext=permessage-deflate in=<wire bytes> out=<wire bytes> close=<code>
// The line of each connection is the only one of its path written after this
// client started.  It must say ext=permessage-deflate, close=1000, and both
// in (Chromium compressed, the server inflated: the echoes are right) and out
// (the server compressed) far below the payload bytes.
//
// --tls: https:// and wss://; Chromium then opens the WebSockets as RFC 8441
// extended CONNECT streams over HTTP/2 (mpm_event), which
// t/interop/browser_deflate.t checks in the server's tls_access_log.
//
// Output: one JSON line per check ({"check", "ok", "detail", "elapsed"}) and
// one {"deflate": ...} line (what CDP and the log showed); exit 0 only if
// every check passed.  Every wait is bounded; a watchdog bounds the whole run.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const WATCHDOG_MS = 90000;
const STEP_TIMEOUT = 15000;
const LOG_WAIT_MS = 5000;       // the log line is written as the server closes
// "Far below": compressed wire bytes (frame headers and the close included)
// under a third of the payload.  The payloads compress ~10x; a server that
// sends them plain has out > total.
const RATIO = 3;

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: null, chromium: '/usr/bin/chromium', tls: false, errorLog: null };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--host') out.host = argv[++i];
    else if (argv[i] === '--tls') out.tls = true;
    else if (argv[i] === '--port') out.port = parseInt(argv[++i], 10);
    else if (argv[i] === '--chromium') out.chromium = argv[++i];
    else if (argv[i] === '--error-log') out.errorLog = argv[++i];
    else { process.stderr.write(`unknown argument ${argv[i]}\n`); process.exit(2); }
  }
  if (!out.port || !out.errorLog) {
    process.stderr.write('usage: browser_deflate.js --port PORT --error-log FILE [--host H] [--chromium PATH] [--tls]\n');
    process.exit(2);
  }
  return out;
}

class CheckFailed extends Error {}
function expect(cond, msg) { if (!cond) throw new CheckFailed(msg); }
const j = (v) => JSON.stringify(v);

let passed = 0, failed = 0;
function report(check, ok, detail, elapsed) {
  if (ok) passed++; else failed++;
  process.stdout.write(JSON.stringify({ check, ok, detail: String(detail || ''), elapsed }) + '\n');
}

async function runCheck(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    report(name, true, detail, (Date.now() - t0) / 1000);
  } catch (e) {
    report(name, false, e instanceof CheckFailed ? e.message : `unexpected exception: ${e && e.message ? e.message : e}`,
      (Date.now() - t0) / 1000);
  }
}

// Evaluated in the page: one WebSocket to `url`, the echoes, the short
// messages `command` asks for (`expected`), the close.  Resolves with plain
// data; every wait has its own timer.
async function pageDeflate(url, command, expected, stepMs) {
  const out = { url, sent: 0, rounds: [], extensions: null };
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const queue = [];
  let waiter = null;
  const push = (ev) => { if (waiter) { const w = waiter; waiter = null; w(ev); } else queue.push(ev); };
  ws.onopen = () => push({ type: 'open' });
  ws.onerror = () => push({ type: 'error' });
  ws.onmessage = (m) => push({ type: 'message', data: m.data });
  ws.onclose = (c) => push({ type: 'close', code: c.code, reason: c.reason, wasClean: c.wasClean });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => {
    const t = setTimeout(() => { waiter = null; resolve({ type: 'timeout' }); }, stepMs);
    waiter = (ev) => { clearTimeout(t); resolve(ev); };
  }));

  const first = await next();
  if (first.type !== 'open') { out.openError = first; return out; }
  out.extensions = ws.extensions;

  // ~4 KiB of JSON records, different in every message.
  const json = (n) => JSON.stringify({ batch: n, url, rows: Array.from({ length: 48 }, (_, i) => ({
    id: n * 1000 + i, symbol: ['ACME', 'INIT', 'GLOB'][i % 3], price: +(100 + n + i / 7).toFixed(3),
    side: i % 2 ? 'buy' : 'sell', venue: 'XLOOP' })) });
  // 4 KiB of 32-bit little-endian counters and a per-message tag.
  const bin = (n) => {
    const a = new Uint32Array(1024);
    for (let i = 0; i < a.length; i++) a[i] = (n << 24) | (i * 3);
    return a.buffer;
  };
  const msgs = [];
  for (let n = 0; n < 10; n++) msgs.push(n % 5 < 3 ? json(n) : bin(n));
  for (const m of msgs) {
    const isText = typeof m === 'string';
    out.sent += isText ? new TextEncoder().encode(m).length : m.byteLength;
    ws.send(m);
    const ev = await next();
    const r = { kind: isText ? 'text' : 'binary', length: isText ? m.length : m.byteLength, type: ev.type };
    if (ev.type === 'message') {
      if (isText) r.equal = ev.data === m;
      else {
        r.equal = ev.data instanceof ArrayBuffer && ev.data.byteLength === m.byteLength
          && new Uint8Array(ev.data).every((v, i) => v === new Uint8Array(m)[i]);
      }
      r.gotType = typeof ev.data === 'string' ? 'text' : Object.prototype.toString.call(ev.data);
    } else if (ev.type === 'close') r.code = ev.code;
    out.rounds.push(r);
    if (ev.type !== 'message') return out;
  }

  ws.send(command);
  out.short = [];
  for (let i = 0; i < expected.length; i++) {
    const ev = await next();
    if (ev.type !== 'message') { out.short.push(ev); break; }
    out.short.push(ev.data);
  }
  ws.close(1000);
  let ev;
  do ev = await next(); while (ev.type === 'message');
  out.close = ev;
  return out;
}

// The WSLOG lines of `logPath` after byte `from`: [{path, ext, in, out, close}].
function wslogLines(logPath, from) {
  let text = '';
  try {
    const fd = fs.openSync(logPath, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size > from) {
        const buf = Buffer.alloc(size - from);
        fs.readSync(fd, buf, 0, buf.length, from);
        text = buf.toString('latin1');
      }
    } finally { fs.closeSync(fd); }
  } catch (e) { return []; }
  const re = /WSLOG (\S+) ext=(\S+) in=(\d+) out=(\d+) close=(\S+)/g;
  const lines = [];
  let m;
  while ((m = re.exec(text)) !== null) {
    lines.push({ path: m[1], ext: m[2], in: +m[3], out: +m[4], close: m[5] });
  }
  return lines;
}

async function main() {
  const args = parseArgs(process.argv);
  const origin = `${args.tls ? 'https' : 'http'}://${args.host}:${args.port}`;
  const wsBase = `${args.tls ? 'wss' : 'ws'}://${args.host}:${args.port}`;
  const handshakeOk = (st) => st === 101 || (args.tls && st === 200);
  let logFrom = 0;
  try { logFrom = fs.statSync(args.errorLog).size; } catch (e) { /* not there yet */ }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mod-websocket-chromium-'));
  let browser = null;

  const watchdog = setTimeout(() => {
    process.stderr.write(`watchdog: browser test exceeded ${WATCHDOG_MS} ms\n`);
    report('watchdog', false, `browser test exceeded ${WATCHDOG_MS} ms`);
    if (browser && browser.process()) browser.process().kill('SIGKILL');
    fs.rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  }, WATCHDOG_MS);

  const summary = {};
  try {
    browser = await puppeteer.launch({
      executablePath: args.chromium,
      headless: 'new',
      userDataDir,
      timeout: 30000,
      protocolTimeout: 30000,
      ignoreHTTPSErrors: args.tls,
      args: [...(args.tls ? ['--ignore-certificate-errors'] : []),
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage', `--user-data-dir=${userDataDir}`],
    });
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    page.on('console', (m) => process.stderr.write(`page console.${m.type()}: ${m.text()}\n`));

    const cdp = await page.target().createCDPSession();
    const sockets = new Map();  // requestId -> {url, request, handshake, errors, closed}
    const sock = (id) => {
      if (!sockets.has(id)) sockets.set(id, { url: null, request: null, handshake: null, errors: [], closed: false });
      return sockets.get(id);
    };
    cdp.on('Network.webSocketCreated', (e) => { sock(e.requestId).url = e.url; });
    cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => { sock(e.requestId).request = e.request; });
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => { sock(e.requestId).handshake = e.response; });
    cdp.on('Network.webSocketFrameError', (e) => { sock(e.requestId).errors.push(e.errorMessage); });
    cdp.on('Network.webSocketClosed', (e) => { sock(e.requestId).closed = true; });
    await cdp.send('Network.enable');
    const header = (h, name) => {
      if (!h) return undefined;
      const k = Object.keys(h).find((x) => x.toLowerCase() === name.toLowerCase());
      return k === undefined ? undefined : h[k];
    };

    let pageOk = false;
    await runCheck('deflate_page_loaded', async () => {
      const resp = await page.goto(`${origin}/`, { waitUntil: 'load', timeout: STEP_TIMEOUT });
      expect(resp && resp.status() === 200, `GET / answered ${resp ? resp.status() : 'nothing'}`);
      pageOk = true;
      return `GET ${origin}/ 200 (${resp.securityDetails() ? 'TLS' : 'plain'})`;
    });

    const modes = [
      { name: 'shared', path: '/deflate', command: 'push 5',
        expected: [1, 2, 3, 4, 5].map((i) => `push ${i}`),
        answer: /^permessage-deflate; server_no_context_takeover; client_no_context_takeover(; client_max_window_bits=\d+)?$/ },
      { name: 'dedicated', path: '/deflate/dedicated', command: 'thread 20',
        expected: Array.from({ length: 20 }, (_, i) => `thread ${i + 1}`),
        answer: /^permessage-deflate; server_max_window_bits=11(; client_max_window_bits=\d+)?$/ },
    ];
    for (const m of modes) {
      let res = null;
      await runCheck(`deflate_${m.name}_echo`, async () => {
        expect(pageOk, 'page not loaded');
        res = await page.evaluate(pageDeflate, wsBase + m.path, m.command, m.expected, 5000);
        expect(!res.openError, `${m.path} did not open: ${j(res.openError)}`);
        expect(res.rounds.length === 10, `${res.rounds.length} of 10 echoes: ${j(res.rounds.slice(-1))}`);
        for (const [i, r] of res.rounds.entries()) {
          expect(r.type === 'message', `message ${i} (${r.kind}, ${r.length}): ${j(r)}`);
          expect(r.gotType === (r.kind === 'text' ? 'text' : '[object ArrayBuffer]'),
            `message ${i}: sent ${r.kind}, echo arrived as ${r.gotType}`);
          expect(r.equal, `message ${i} (${r.kind}, ${r.length} bytes): the echo differs`);
        }
        expect(j(res.short) === j(m.expected), `"${m.command}" gave ${j(res.short).slice(0, 300)}`);
        expect(res.close && res.close.type === 'close' && res.close.code === 1000 && res.close.wasClean,
          `client close: ${j(res.close)}`);
        return `${res.sent} payload bytes in 6 texts + 4 ArrayBuffers echoed equal; "${m.command}" in order; close 1000`;
      });

      await runCheck(`deflate_${m.name}_negotiated`, async () => {
        const s = [...sockets.values()].find((x) => x.url === wsBase + m.path);
        expect(s, `CDP saw no WebSocket to ${wsBase + m.path}`);
        const offer = s.request && header(s.request.headers, 'Sec-WebSocket-Extensions');
        expect(offer && /permessage-deflate/.test(offer), `Chromium's offer: ${j(offer)}`);
        expect(s.handshake && handshakeOk(s.handshake.status), `handshake status ${s.handshake && s.handshake.status}`);
        const answer = header(s.handshake.headers, 'Sec-WebSocket-Extensions');
        expect(answer !== undefined && m.answer.test(answer),
          `handshake response Sec-WebSocket-Extensions ${j(answer)}, expected ${m.answer}`);
        expect(res && res.extensions === answer, `ws.extensions ${j(res && res.extensions)} in the page`);
        expect(s.errors.length === 0, `CDP frame errors: ${j(s.errors)}`);
        summary[m.name] = { offer, status: s.handshake.status, answer };
        return `offer ${j(offer)}, ${s.handshake.status} answered ${j(answer)}`;
      });

      await runCheck(`deflate_${m.name}_wire`, async () => {
        expect(res && res.sent > 0, 'nothing was sent');
        const deadline = Date.now() + LOG_WAIT_MS;
        let lines;
        for (;;) {
          lines = wslogLines(args.errorLog, logFrom).filter((l) => l.path === m.path);
          if (lines.length || Date.now() >= deadline) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(lines.length === 1, `${lines.length} WSLOG lines for ${m.path} in ${args.errorLog} since this run started, expected 1`);
        const l = lines[0];
        summary[m.name] = Object.assign(summary[m.name] || {}, { payload: res.sent, log: l });
        expect(l.ext === 'permessage-deflate', `the server logged ext=${l.ext}`);
        expect(l.close === '1000', `the server logged close=${l.close}`);
        expect(l.out * RATIO < res.sent,
          `the server sent ${l.out} wire bytes for ${res.sent} payload bytes echoed: not compressed (want < 1/${RATIO})`);
        expect(l.in * RATIO < res.sent,
          `the server received ${l.in} wire bytes for ${res.sent} payload bytes: Chromium did not compress`);
        return `payload ${res.sent} bytes each way; wire in=${l.in} out=${l.out} (${(res.sent / l.out).toFixed(1)}x)`;
      });
    }
    process.stdout.write(JSON.stringify({ deflate: summary }) + '\n');
  } catch (e) {
    report('browser_session', false, `browser session failed: ${e && e.stack ? e.stack.split('\n')[0] : e}`);
  } finally {
    if (browser) {
      let t;
      await Promise.race([browser.close(), new Promise((r) => { t = setTimeout(r, 10000); })]).catch(() => {});
      clearTimeout(t);
    }
    if (browser && browser.process() && browser.process().exitCode === null) browser.process().kill('SIGKILL');
    fs.rmSync(userDataDir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main().catch((e) => { process.stderr.write(`fatal: ${e.stack || e}\n`); process.exitCode = 2; });
