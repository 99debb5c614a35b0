#!/usr/bin/env node
// The example pages in a real browser: Debian's headless Chromium driven by
// npm puppeteer-core, against the Apache::Test server (ws://).
//
// Usage: node t/clients/browser_examples.js --port PORT [--host 127.0.0.1]
//            [--chromium PATH] [--no-cross]
//
// 1. chat.html: one tab joins a room and sees its join and its own message;
//    then (unless --no-cross: under prefork two tabs are two children, and
//    a topic does not leave its child without WebSocketPubSub) a second tab
//    joins the same room, and messages, joins and the leave cross both ways.
// 2. increment.html: "Connect", the counter advances without going back,
//    "Reset" brings it back down, "Disconnect" closes with 1000.
// 3. console.html: opens its default URL (/echo) with subprotocol
//    echo-protocol; text, hex and base64 messages come back; the close
//    (1000) is logged with its code and wasClean.
// 4. close.html: the server closes with the code and reason asked; a code
//    it may not send is answered with an error, and the connection stays.
//
// Prints one JSON object per line ({"check", "ok", "detail", "elapsed"}),
// exits 0 only if every check passed.  Every wait is bounded (puppeteer
// timeouts, a global watchdog).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const WATCHDOG_MS = 100000;
const STEP_MS = 10000;

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: null, chromium: '/usr/bin/chromium', cross: true };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--host') out.host = argv[++i];
    else if (argv[i] === '--port') out.port = parseInt(argv[++i], 10);
    else if (argv[i] === '--chromium') out.chromium = argv[++i];
    else if (argv[i] === '--no-cross') out.cross = false;
    else { process.stderr.write(`unknown argument ${argv[i]}\n`); process.exit(2); }
  }
  if (!out.port) { process.stderr.write('usage: browser_examples.js --port PORT [--host H] [--no-cross]\n'); process.exit(2); }
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
    report(name, true, await fn(), (Date.now() - t0) / 1000);
  } catch (e) {
    report(name, false, e instanceof CheckFailed ? e.message : `unexpected exception: ${e && e.message ? e.message : e}`,
      (Date.now() - t0) / 1000);
  }
}

// The lines of a log element (one <div> per event).
async function lines(page, sel) {
  return page.$$eval(`${sel} > div`, (ds) => ds.map((d) => d.textContent)).catch(() => []);
}

// Waits until a line of sel matches re (a RegExp source); the lines.
// The tab comes to the front first: in headless Chromium a tab in the
// background may run no timers (waitForFunction polls with them) and take
// no input, so every step on a tab brings it to the front.
async function waitLine(page, sel, re, what) {
  await page.bringToFront();
  try {
    await page.waitForFunction((s, r) => [...document.querySelectorAll(`${s} > div`)]
      .some((d) => new RegExp(r).test(d.textContent)), { timeout: STEP_MS, polling: 50 }, sel, re);
  } catch (e) {
    throw new CheckFailed(`${what}: no line /${re}/ within ${STEP_MS} ms; ${sel} shows ${j(await lines(page, sel))}`);
  }
  return lines(page, sel);
}

async function openPage(browser, url) {
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('pageerror', (e) => process.stderr.write(`page error (${url}): ${e.message}\n`));
  const resp = await page.goto(url, { waitUntil: 'load', timeout: STEP_MS });
  expect(resp && resp.status() === 200, `GET ${url} answered ${resp ? resp.status() : 'nothing'}`);
  return page;
}

async function chatJoin(page, room, nick) {
  await page.$eval('#room', (el, v) => { el.value = v; }, room);
  await page.$eval('#nick', (el, v) => { el.value = v; }, nick);
  await page.click('#join');
  await waitLine(page, '#log', `^\\* ${nick} joined$`, `${nick} joining ${room}`);
}

async function chatSay(page, text) {
  await page.bringToFront();
  await page.$eval('#message', (el, v) => { el.value = v; }, text);
  await page.click('#send');
}

async function checkChatOwn(ctx) {
  ctx.a = await openPage(ctx.browser, `${ctx.origin}/chat.html`);
  await chatJoin(ctx.a, ctx.room, 'ann');
  await chatSay(ctx.a, 'hello from ann');
  await waitLine(ctx.a, '#log', '^ann: hello from ann$', 'ann\'s own message');
  return `room ${ctx.room}: joined, own message back`;
}

async function checkChatCross(ctx) {
  expect(ctx.a, 'the first tab did not join');
  const b = await openPage(ctx.browser, `${ctx.origin}/chat.html?room=${ctx.room}&nick=ben`);
  await b.click('#join');                         // room and nick from the URL
  await waitLine(b, '#log', '^\\* ben joined$', 'ben joining');
  await waitLine(ctx.a, '#log', '^\\* ben joined$', 'ann seeing ben join');
  await chatSay(b, 'hi ann');
  await waitLine(ctx.a, '#log', '^ben: hi ann$', 'ben\'s message in ann\'s tab');
  await chatSay(ctx.a, 'hi ben');
  await waitLine(b, '#log', '^ann: hi ben$', 'ann\'s message in ben\'s tab');
  const bl = await lines(b, '#log');
  expect(!bl.includes('ann: hello from ann'), `ben saw a message from before he joined: ${j(bl)}`);
  await b.bringToFront();
  await b.click('#leave');
  await waitLine(ctx.a, '#log', '^\\* ben left$', 'ann seeing ben leave');
  await b.close();
  return j(await lines(ctx.a, '#log'));
}

const counter = async (page) => Number(await page.$eval('#counter', (el) => el.textContent));

async function checkIncrement(ctx) {
  const p = await openPage(ctx.browser, `${ctx.origin}/increment.html`);
  await p.click('#connect');
  await p.waitForFunction(() => Number(document.querySelector('#counter').textContent) >= 10,
    { timeout: STEP_MS, polling: 20 }).catch(async () => {
    throw new CheckFailed(`#counter did not reach 10 within ${STEP_MS} ms: ${await p.$eval('#counter', (el) => el.textContent)}`);
  });
  // Samples for ~0.5 s in the page: never going back, and moving.
  const samples = await p.evaluate(() => new Promise((resolve) => {
    const out = [];
    const t = setInterval(() => {
      out.push(Number(document.querySelector('#counter').textContent));
      if (out.length >= 25) { clearInterval(t); resolve(out); }
    }, 20);
  }));
  expect(samples.every((v, i) => i === 0 || v >= samples[i - 1]), `the counter went back: ${j(samples)}`);
  expect(samples[samples.length - 1] > samples[0], `the counter did not move in 0.5 s: ${j(samples)}`);
  const before = await counter(p);
  await p.click('#reset');
  await p.waitForFunction((b) => Number(document.querySelector('#counter').textContent) < b,
    { timeout: STEP_MS, polling: 10 }, before).catch(async () => {
    throw new CheckFailed(`after Reset the counter did not fall below ${before}: ${await counter(p)}`);
  });
  const after = await counter(p);
  await p.click('#disconnect');
  await p.waitForFunction(() => /closed \(code 1000\)/.test(document.querySelector('#status').textContent),
    { timeout: STEP_MS, polling: 50 });
  await p.close();
  return `advanced to ${samples[samples.length - 1]}, reset from ${before} to ${after}, closed 1000`;
}

async function checkConsole(ctx) {
  const p = await openPage(ctx.browser, `${ctx.origin}/console.html`);
  const url = await p.$eval('#url', (el) => el.value);
  expect(url === `${ctx.wsBase}/echo`, `default URL ${j(url)}, expected ${ctx.wsBase}/echo`);
  await p.$eval('#protocols', (el) => { el.value = 'echo-protocol'; });
  await p.click('#connect');
  await waitLine(p, '#log', 'OPEN protocol="echo-protocol"', 'open with a subprotocol');
  const send = async (button, text) => {
    await p.$eval('#message', (el, v) => { el.value = v; }, text);
    await p.click(button);
  };
  await send('#send-text', 'hello console');
  await waitLine(p, '#log', 'MESSAGE text \\(13 bytes\\): hello console$', 'text echo');
  await send('#send-hex', '01 02 ff');
  await waitLine(p, '#log', 'MESSAGE binary \\(3 bytes\\): 01 02 ff$', 'hex binary echo');
  await send('#send-base64', 'AAEC');
  await waitLine(p, '#log', 'MESSAGE binary \\(3 bytes\\): 00 01 02$', 'base64 binary echo');
  const state = await p.$eval('#state', (el) => el.textContent);
  const buffered = await p.$eval('#buffered', (el) => el.textContent);
  expect(state === 'OPEN' && /^\d+$/.test(buffered), `readyState ${j(state)}, bufferedAmount ${j(buffered)}`);
  // Code 1000, reason "done"; the server answers with the code (its
  // reason is its own).
  await p.click('#disconnect');
  await waitLine(p, '#log', 'CLOSE code=1000 reason="[^"]*" wasClean=true$', 'the close');
  await p.close();
  return 'text, hex and base64 echoed; closed 1000 cleanly';
}

async function checkClose(ctx) {
  const p = await openPage(ctx.browser, `${ctx.origin}/close.html`);
  const ask = async (code, reason) => {
    await p.$eval('#code', (el, v) => { el.value = v; }, code);
    await p.$eval('#reason', (el, v) => { el.value = v; }, reason);
    await p.click('#ask');
  };
  await ask('4321', 'asked');
  await waitLine(p, '#log', '^Closed: code 4321, reason "asked", wasClean true$', 'close 4321');
  await ask('1005', 'no');
  await waitLine(p, '#log', '^Server: error: 1005 is not a close code', 'refused 1005');
  await ask('1000', 'fine');
  const l = await waitLine(p, '#log', '^Closed: code 1000, reason "fine", wasClean true$', 'close 1000 after the refusal');
  const connects = l.filter((x) => x === 'Connected').length;
  expect(connects === 2, `expected 2 connections (the refused request keeps its own open), saw ${connects}: ${j(l)}`);
  await p.close();
  return j(l);
}

async function main() {
  const args = parseArgs(process.argv);
  const ctx = { origin: `http://${args.host}:${args.port}`, wsBase: `ws://${args.host}:${args.port}`,
    room: `browser${process.pid}`, browser: null, a: null };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mod-websocket-chromium-'));
  const watchdog = setTimeout(() => {
    report('watchdog', false, `exceeded ${WATCHDOG_MS} ms`);
    if (ctx.browser && ctx.browser.process()) ctx.browser.process().kill('SIGKILL');
    fs.rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  }, WATCHDOG_MS);
  try {
    ctx.browser = await puppeteer.launch({
      executablePath: args.chromium, headless: 'new', userDataDir, timeout: 30000, protocolTimeout: 30000,
      // Two chat tabs: the one in the background should keep receiving
      // (waitLine brings the one it waits on to the front as well).
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-timer-throttling', '--disable-backgrounding-occluded-windows',
        '--disable-renderer-backgrounding',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage', `--user-data-dir=${userDataDir}`],
    });
    await runCheck('chat_own_message', () => checkChatOwn(ctx));
    if (args.cross) await runCheck('chat_two_tabs', () => checkChatCross(ctx));
    await runCheck('increment_page', () => checkIncrement(ctx));
    await runCheck('console_echo', () => checkConsole(ctx));
    await runCheck('close_page', () => checkClose(ctx));
  } catch (e) {
    report('browser_session', false, `browser session failed: ${e && e.stack ? e.stack.split('\n')[0] : e}`);
  } finally {
    if (ctx.browser) {
      let t;
      await Promise.race([ctx.browser.close(), new Promise((r) => { t = setTimeout(r, 10000); })]).catch(() => {});
      clearTimeout(t);
      if (ctx.browser.process() && ctx.browser.process().exitCode === null) ctx.browser.process().kill('SIGKILL');
    }
    fs.rmSync(userDataDir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main().catch((e) => { process.stderr.write(`fatal: ${e.stack || e}\n`); process.exitCode = 2; });
