#!/usr/bin/env node
// Browser interop: Debian's headless Chromium (/usr/bin/chromium) driven by
// npm puppeteer-core (22.x, downloads no browser) against mod_websocket.
//
// Usage: node t/clients/browser.js --port PORT [--host 127.0.0.1] [--chromium PATH] [--tls]
//
// --tls: https:// and wss:// on the TLS vhost's port, the certificate errors
// of the build's self-signed certificate ignored (--ignore-certificate-errors).
// Chromium negotiates h2 by ALPN, loads the page over HTTP/2 and, since the
// server announces SETTINGS_ENABLE_CONNECT_PROTOCOL, opens the page's
// WebSockets as extended CONNECT streams on that connection (RFC 8441); the
// handshake the CDP reports is then a 200, not a 101.  A {"transport": ...}
// line reports what CDP saw (the page's protocol, each handshake's status);
// t/interop/browser.t checks the server's access log for the proof.
//
// 1. Tutorial page: load http://HOST:PORT/, click #run ("Run WebSocket"),
//    wait for #output to show "Received: Message to send" and the close report,
//    and check the browser's own WebSocket traffic through CDP (Network domain).
// 2. In the page: subprotocol "chat" on /test, an ArrayBuffer round trip on
//    /echo, and a server-initiated close 4001 "bye" on /test.
//
// Prints one JSON object per line on stdout:
//   {"check": "<name>", "ok": true|false, "detail": "<text>", "elapsed": <s>}
// and exits 0 only if every check passed. Everything is bounded: puppeteer
// timeouts, in-page timers, and a global watchdog (WATCHDOG_MS).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const WATCHDOG_MS = 100000;
const STEP_TIMEOUT = 15000;

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: null, chromium: '/usr/bin/chromium', tls: false };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--host') out.host = argv[++i];
    else if (argv[i] === '--tls') out.tls = true;
    else if (argv[i] === '--port') out.port = parseInt(argv[++i], 10);
    else if (argv[i] === '--chromium') out.chromium = argv[++i];
    else { process.stderr.write(`unknown argument ${argv[i]}\n`); process.exit(2); }
  }
  if (!out.port) { process.stderr.write('usage: browser.js --port PORT [--host H] [--chromium PATH] [--tls]\n'); process.exit(2); }
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

// Code evaluated inside the page: the second scenario. Every wait has its own
// timer; the function resolves with plain data for the Node side to check.
async function pageScenario(base, stepMs) {
  const out = {};
  function waitFor(ws, types, ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => { cleanup(); resolve({ type: 'timeout' }); }, ms);
      const handlers = {};
      function cleanup() { clearTimeout(t); for (const k of types) ws.removeEventListener(k, handlers[k]); }
      for (const k of types) {
        handlers[k] = (ev) => {
          cleanup();
          if (k === 'message') resolve({ type: 'message', data: ev.data });
          else if (k === 'close') resolve({ type: 'close', code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
          else resolve({ type: k });
        };
        ws.addEventListener(k, handlers[k]);
      }
    });
  }
  async function opened(ws) {
    const ev = await waitFor(ws, ['open', 'error', 'close'], stepMs);
    return ev.type === 'open' ? null : ev;
  }

  // (a) subprotocol selection
  {
    const ws = new WebSocket(base + '/test', ['chat']);
    const err = await opened(ws);
    if (err) out.chat = { openError: err };
    else {
      out.chat = { protocol: ws.protocol };
      ws.send('protocol');
      out.chat.reply = await waitFor(ws, ['message', 'close'], stepMs);
      ws.close(1000);
      out.chat.close = await waitFor(ws, ['close'], stepMs);
    }
  }
  // (b) binary round trip with ArrayBuffer
  {
    const ws = new WebSocket(base + '/echo');
    ws.binaryType = 'arraybuffer';
    const err = await opened(ws);
    if (err) out.binary = { openError: err };
    else {
      out.binary = { rounds: [] };
      for (const n of [256, 70000]) {
        const a = new Uint8Array(n);
        for (let i = 0; i < n; i++) a[i] = (i * 31 + 7) & 0xff;
        ws.send(a.buffer);
        const ev = await new Promise((resolve) => {
          const t = setTimeout(() => resolve({ type: 'timeout' }), stepMs);
          ws.onmessage = (m) => { clearTimeout(t); resolve({ type: 'message', data: m.data }); };
          ws.onclose = (c) => { clearTimeout(t); resolve({ type: 'close', code: c.code }); };
        });
        const r = { n, type: ev.type };
        if (ev.type === 'message') {
          r.isArrayBuffer = ev.data instanceof ArrayBuffer;
          r.kind = Object.prototype.toString.call(ev.data);
          if (r.isArrayBuffer) {
            const b = new Uint8Array(ev.data);
            r.length = b.length;
            r.equal = b.length === n && b.every((v, i) => v === a[i]);
          }
        } else if (ev.type === 'close') r.code = ev.code;
        out.binary.rounds.push(r);
        if (ev.type !== 'message') break;
      }
      ws.onmessage = null; ws.onclose = null;
      ws.close(1000);
      out.binary.close = await waitFor(ws, ['close'], stepMs);
    }
  }
  // (d) WebSocketOrigin: this page's Origin is not on /origin's list, so
  // the handshake is refused (403) and the browser fails the connection;
  // /echo has no list and accepts the same page.
  {
    const ws = new WebSocket(base + '/origin');
    out.origin = { refused: await waitFor(ws, ['open', 'close'], stepMs) };
    if (out.origin.refused.type === 'open') ws.close(1000);
    const ok = new WebSocket(base + '/echo');
    out.origin.accepted = await waitFor(ok, ['open', 'close'], stepMs);
    if (out.origin.accepted.type === 'open') ok.close(1000);
  }
  // (c) server-initiated close with code and reason
  {
    const ws = new WebSocket(base + '/test');
    const err = await opened(ws);
    if (err) out.close4001 = { openError: err };
    else {
      ws.send('close 4001 bye');
      out.close4001 = await waitFor(ws, ['message', 'close'], stepMs);
    }
  }
  return out;
}

async function main() {
  const args = parseArgs(process.argv);
  const origin = `${args.tls ? 'https' : 'http'}://${args.host}:${args.port}`;
  const wsBase = `${args.tls ? 'wss' : 'ws'}://${args.host}:${args.port}`;
  // The opening handshake's status as the browser reports it: 101 for the
  // HTTP/1.1 Upgrade; over HTTP/2 (extended CONNECT) the server answers 200.
  const handshakeOk = (st) => st === 101 || (args.tls && st === 200);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mod-websocket-chromium-'));
  let browser = null;

  const watchdog = setTimeout(() => {
    process.stderr.write(`watchdog: browser test exceeded ${WATCHDOG_MS} ms\n`);
    report('watchdog', false, `browser test exceeded ${WATCHDOG_MS} ms`);
    if (browser && browser.process()) browser.process().kill('SIGKILL');
    fs.rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  }, WATCHDOG_MS);

  try {
    browser = await puppeteer.launch({
      executablePath: args.chromium,
      headless: 'new',
      userDataDir,
      timeout: 30000,
      protocolTimeout: 30000,
      // The build's certificate is self-signed: nothing trusts it.
      ignoreHTTPSErrors: args.tls,
      args: [...(args.tls ? ['--ignore-certificate-errors'] : []),
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage', `--user-data-dir=${userDataDir}`],
    });
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('dialog', (d) => { process.stderr.write(`page dialog: ${d.message()}\n`); d.accept().catch(() => {}); });
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    page.on('console', (m) => process.stderr.write(`page console.${m.type()}: ${m.text()}\n`));

    // CDP: the browser's own view of its WebSocket traffic.
    const cdp = await page.target().createCDPSession();
    const sockets = new Map(); // requestId -> {url, sent:[], received:[], handshake, closed, errors}
    const sock = (id) => {
      if (!sockets.has(id)) sockets.set(id, { url: null, sent: [], received: [], handshake: null, closed: false, errors: [] });
      return sockets.get(id);
    };
    cdp.on('Network.webSocketCreated', (e) => { sock(e.requestId).url = e.url; });
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => { sock(e.requestId).handshake = e.response; });
    cdp.on('Network.webSocketFrameSent', (e) => { sock(e.requestId).sent.push(e.response); });
    cdp.on('Network.webSocketFrameReceived', (e) => { sock(e.requestId).received.push(e.response); });
    cdp.on('Network.webSocketFrameError', (e) => { sock(e.requestId).errors.push(e.errorMessage); });
    cdp.on('Network.webSocketClosed', (e) => { sock(e.requestId).closed = true; });
    // The protocol of each HTTP response ("h2", "http/1.1"), for the page.
    const responseProtocols = {};
    cdp.on('Network.responseReceived', (e) => {
      if (e.response && e.response.url) responseProtocols[e.response.url] = e.response.protocol;
    });
    await cdp.send('Network.enable');
    const socketsFor = (suffix) => [...sockets.values()].filter((s) => s.url && s.url.endsWith(suffix));
    const header = (h, name) => {
      if (!h) return undefined;
      const k = Object.keys(h).find((x) => x.toLowerCase() === name.toLowerCase());
      return k === undefined ? undefined : h[k];
    };

    let pageOk = false;
    await runCheck('page_loaded', async () => {
      const resp = await page.goto(`${origin}/`, { waitUntil: 'load', timeout: STEP_TIMEOUT });
      expect(resp && resp.status() === 200, `GET / answered ${resp ? resp.status() : 'nothing'}`);
      const run = await page.$('#run');
      expect(run, 'the page has no #run element');
      const text = await page.$eval('#run', (el) => el.textContent.trim());
      expect(/Run WebSocket/.test(text), `#run reads ${j(text)}, expected "Run WebSocket"`);
      expect(await page.$('#output'), 'the page has no #output element');
      pageOk = true;
      return `GET / 200, #run ${j(text)}`;
    });

    let outputText = '';
    await runCheck('tutorial_output', async () => {
      expect(pageOk, 'page not loaded');
      await page.click('#run');
      try {
        await page.waitForFunction(() => {
          const t = document.querySelector('#output').innerText;
          const i = t.indexOf('Received: Message to send');
          return i >= 0 && /clos|disconnect/i.test(t.slice(i + 25));
        }, { timeout: STEP_TIMEOUT, polling: 100 });
      } catch (e) {
        outputText = await page.$eval('#output', (el) => el.innerText).catch(() => '');
        throw new CheckFailed(`#output did not show the echo and the close report within ${STEP_TIMEOUT} ms; it shows ${j(outputText)}`);
      }
      outputText = await page.$eval('#output', (el) => el.innerText);
      const lines = outputText.split('\n').map((s) => s.trim()).filter(Boolean);
      const iConn = lines.findIndex((l) => /^Connected/.test(l));
      const iRecv = lines.findIndex((l) => l === 'Received: Message to send');
      const iClose = lines.findIndex((l, i) => i > iRecv && /clos|disconnect/i.test(l));
      expect(iConn >= 0, `no "Connected" line in ${j(lines)}`);
      expect(iRecv > iConn, `"Received: Message to send" does not follow "Connected" in ${j(lines)}`);
      expect(iClose > iRecv, `no close report after the echo in ${j(lines)}`);
      const m = lines[iClose].match(/\b(\d{4})\b/);
      expect(m, `the close report ${j(lines[iClose])} carries no close code`);
      expect(m[1] === '1000', `close report ${j(lines[iClose])}: expected code 1000`);
      expect(!lines.some((l) => /error/i.test(l)), `the page reported an error: ${j(lines)}`);
      return lines.join(' | ');
    });

    await runCheck('tutorial_cdp_frames', async () => {
      // Let CDP events that trail the DOM update arrive (bounded).
      const deadline = Date.now() + 3000;
      let s;
      while (Date.now() < deadline) {
        s = socketsFor('/echo')[0];
        if (s && s.closed && s.received.length) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(s, `CDP saw no WebSocket to ${wsBase}/echo (saw ${j([...sockets.values()].map((x) => x.url))})`);
      expect(s.url === `${wsBase}/echo`, `WebSocket URL ${j(s.url)}`);
      expect(s.handshake && handshakeOk(s.handshake.status), `handshake response status ${s.handshake && s.handshake.status}`);
      const sentText = s.sent.filter((f) => f.opcode === 1).map((f) => f.payloadData);
      const recvText = s.received.filter((f) => f.opcode === 1).map((f) => f.payloadData);
      expect(j(sentText) === j(['Message to send']), `frames sent (text): ${j(sentText)}`);
      expect(recvText.includes('Message to send'), `frames received (text): ${j(recvText)}`);
      expect(j(recvText) === j(['Message to send']), `unexpected extra text frames received: ${j(recvText)}`);
      expect(s.errors.length === 0, `CDP frame errors: ${j(s.errors)}`);
      expect(s.closed, 'CDP did not report the WebSocket closed');
      return `handshake ${s.handshake.status}, sent ${j(sentText)}, received ${j(recvText)}, closed`;
    });

    // The tutorial's second link: new WebSocket(url, ["echo-protocol"]).
    await runCheck('tutorial_subprotocol', async () => {
      expect(pageOk, 'page not loaded');
      await page.click('#run-protocol');
      try {
        await page.waitForFunction(() => {
          const t = document.querySelector('#output').innerText;
          return /offering echo-protocol[\s\S]*Connected \(subprotocol: [\s\S]*Received: Message to send[\s\S]*clos/i.test(t);
        }, { timeout: STEP_TIMEOUT, polling: 100 });
      } catch (e) {
        const t = await page.$eval('#output', (el) => el.innerText).catch(() => '');
        throw new CheckFailed(`the subprotocol run did not finish within ${STEP_TIMEOUT} ms; #output shows ${j(t)}`);
      }
      const t = await page.$eval('#output', (el) => el.innerText);
      const m = t.slice(t.indexOf('offering echo-protocol')).match(/Connected \(subprotocol: ([^)]*)\)/);
      expect(m && m[1] === 'echo-protocol', `ws.protocol shown as ${j(m && m[1])}, expected "echo-protocol"`);
      return 'ws.protocol === "echo-protocol"';
    });

    let scen = null;
    await runCheck('page_scenario_ran', async () => {
      scen = await page.evaluate(pageScenario, wsBase, 5000);
      return j(scen).slice(0, 300);
    });

    await runCheck('subprotocol_chat', async () => {
      expect(scen, 'scenario did not run');
      const c = scen.chat;
      expect(!c.openError, `new WebSocket(url, ["chat"]) did not open: ${j(c.openError)}`);
      expect(c.protocol === 'chat', `ws.protocol === ${j(c.protocol)}, expected "chat"`);
      expect(c.reply.type === 'message' && c.reply.data === 'chat', `reply to "protocol": ${j(c.reply)}`);
      const s = socketsFor('/test')[0];
      expect(s && s.handshake, 'CDP saw no handshake on /test');
      expect(header(s.handshake.headers, 'Sec-WebSocket-Protocol') === 'chat',
        `101 response Sec-WebSocket-Protocol: ${j(header(s.handshake.headers, 'Sec-WebSocket-Protocol'))}`);
      expect(c.close.type === 'close' && c.close.code === 1000, `client close: ${j(c.close)}`);
      return 'ws.protocol === "chat"';
    });

    await runCheck('binary_arraybuffer', async () => {
      expect(scen, 'scenario did not run');
      const b = scen.binary;
      expect(!b.openError, `/echo did not open: ${j(b.openError)}`);
      expect(b.rounds.length === 2, `rounds: ${j(b.rounds)}`);
      for (const r of b.rounds) {
        expect(r.type === 'message', `binary ${r.n}: ${j(r)}`);
        expect(r.isArrayBuffer, `binary ${r.n}: received ${r.kind}, expected an ArrayBuffer (type not preserved)`);
        expect(r.equal, `binary ${r.n}: echo differs (length ${r.length})`);
      }
      const s = socketsFor('/echo').find((x) => x.sent.some((f) => f.opcode === 2));
      expect(s && s.received.some((f) => f.opcode === 2), 'CDP saw no binary frame received on /echo');
      expect(b.close.type === 'close' && b.close.code === 1000 && b.close.wasClean, `client close: ${j(b.close)}`);
      return '256 and 70000 bytes round trips as ArrayBuffer';
    });

    await runCheck('origin_refused_and_accepted', async () => {
      expect(scen, 'scenario did not run');
      const o = scen.origin;
      expect(o.refused.type === 'close', `/origin from ${origin}: expected the connection to fail, got ${j(o.refused)}`);
      expect(o.refused.code === 1006, `/origin: CloseEvent.code ${o.refused.code}, expected 1006 (handshake refused)`);
      expect(o.accepted.type === 'open', `/echo (no WebSocketOrigin) from the same page: ${j(o.accepted)}`);
      return `/origin refused (1006), /echo accepted, page origin ${origin}`;
    });

    await runCheck('server_close_4001', async () => {
      expect(scen, 'scenario did not run');
      const c = scen.close4001;
      expect(!c.openError, `/test did not open: ${j(c.openError)}`);
      expect(c.type === 'close', `expected a CloseEvent, got ${j(c)}`);
      expect(c.code === 4001, `CloseEvent.code ${c.code}, expected 4001`);
      expect(c.reason === 'bye', `CloseEvent.reason ${j(c.reason)}, expected "bye"`);
      expect(c.wasClean === true, 'CloseEvent.wasClean is false');
      return `code ${c.code} reason ${j(c.reason)} wasClean ${c.wasClean}`;
    });
    // What the browser itself says about the transport (informational; the
    // .t checks the server's side).
    process.stdout.write(JSON.stringify({ transport: {
      page: responseProtocols[`${origin}/`] || null,
      handshakes: [...sockets.values()].map((x) => ({ url: x.url, status: x.handshake && x.handshake.status })),
    } }) + '\n');
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
