// Real-browser test of the flowpi web page: Debian's headless Chromium, driven by playwright-core,
// against a running flowpi at $FLOWPI_URL that has been fed the synthetic NetFlow capture, names
// one host in its config and asks a DNS stub for the others. For the doctor's situations it starts
// daemons of its own ($FLOWPI_BIN) and sends them real datagrams.
// Run by scripts/browser-test.sh; saves screenshots to target/browser/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.FLOWPI_URL || '').replace(/\/+$/, '');
if (!BASE) throw new Error('set FLOWPI_URL to the flowpi web address, e.g. http://127.0.0.1:8080');
const PASSWORD = process.env.FLOWPI_PASSWORD || '';
if (!PASSWORD) throw new Error('set FLOWPI_PASSWORD to the password flowpi generated at first start');
const UDP_PORT = Number(process.env.FLOWPI_UDP || 0);
const BIN = process.env.FLOWPI_BIN || '';
// For requests this script makes itself (not the browser's): HTTP Basic, as a script would.
const BASIC = { Authorization: `Basic ${Buffer.from(`flowpi:${PASSWORD}`).toString('base64')}` };

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.resolve(HERE, '..', '..', 'target', 'browser');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const HOSTS = ['192.168.1.10', '192.168.1.11', '192.168.1.12'];
// Sent by this test to fill the table past its top 10.
const EXTRA_HOSTS = Array.from({ length: 12 }, (_, i) => `192.168.1.${100 + i}`);
const WAIT = 30_000;

let browser;
let context;
let page;
const consoleErrors = [];
const badResponses = [];

async function api(p, base = BASE, headers = BASIC) {
  const r = await fetch(`${base}${p}`, { headers });
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r.json();
}

const rowsOf = (v) => (Array.isArray(v) ? v : v.rows);

function watchPage(p, errors, responses) {
  p.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()} @ ${JSON.stringify(msg.location())}`);
  });
  p.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  p.on('response', (r) => {
    if (r.status() >= 400) responses.push(`${r.status()} ${r.url()}`);
  });
  p.on('requestfailed', (r) => responses.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
}

async function newPage(viewport, ctx = context) {
  const p = await ctx.newPage();
  if (viewport) await p.setViewportSize(viewport);
  return p;
}

// Every graph <img> under `selector` that has loaded: the URL it was fetched from and its sizes.
async function graphImages(p, selector) {
  return p.$$eval(selector, (imgs) => imgs.map((img) => {
    const u = new URL(img.dataset.src, location.href);
    return {
      src: u.pathname + u.search,
      path: u.pathname,
      params: Object.fromEntries(u.searchParams),
      complete: img.complete,
      naturalWidth: img.naturalWidth,
      naturalHeight: img.naturalHeight,
      width: Number(u.searchParams.get('width')),
      height: Number(u.searchParams.get('height')),
      t: u.searchParams.get('t'),
    };
  }));
}

// The accessibility checker's findings on the page as it is now (WCAG 2 A and AA rules).
async function axeViolations(p) {
  await p.evaluate(AXE);
  return p.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`) }));
  });
}

/* ---------- datagrams, built here byte by byte as routers send them ---------- */

function ip4(a) {
  return a.split('.').reduce((n, x) => (n * 256) + Number(x), 0) >>> 0;
}

function ip6(a) {
  const [head, tail] = a.split('::');
  const parts = (s) => (s ? s.split(':').map((x) => parseInt(x, 16)) : []);
  const h = parts(head);
  const t = parts(tail);
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}

// NetFlow v5: flows that ended a moment ago. `engine` is the engine id: a stream (and sequence) of
// its own.
function v5(flows, seq = 0, engine = 0) {
  const uptime = 3_600_000;
  const b = Buffer.alloc(24 + 48 * flows.length);
  b.writeUInt16BE(5, 0);
  b.writeUInt16BE(flows.length, 2);
  b.writeUInt32BE(uptime, 4);
  b.writeUInt32BE(Math.floor(Date.now() / 1000), 8);
  b.writeUInt32BE(seq, 16);
  b.writeUInt8(engine, 21);
  flows.forEach((f, i) => {
    const o = 24 + 48 * i;
    b.writeUInt32BE(ip4(f.src), o);
    b.writeUInt32BE(ip4(f.dst), o + 4);
    b.writeUInt16BE(f.in || 1, o + 12);
    b.writeUInt16BE(f.out || 2, o + 14);
    b.writeUInt32BE(f.packets || 1, o + 16);
    b.writeUInt32BE(f.bytes, o + 20);
    b.writeUInt32BE(uptime - 800, o + 24);
    b.writeUInt32BE(uptime - 300, o + 28);
    b.writeUInt16BE(f.sport || 40000, o + 32);
    b.writeUInt16BE(f.dport || 443, o + 34);
    b.writeUInt8(6, o + 38);
  });
  return b;
}

// NetFlow v9 data for template 256, whose template the router never sent.
function v9WithoutTemplate() {
  const data = Buffer.alloc(4 + 24);
  data.writeUInt16BE(256, 0);
  data.writeUInt16BE(data.length, 2);
  const b = Buffer.alloc(20);
  b.writeUInt16BE(9, 0);
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(3_600_000, 4);
  b.writeUInt32BE(Math.floor(Date.now() / 1000), 8);
  b.writeUInt32BE(1, 12);
  b.writeUInt32BE(7, 16);
  return Buffer.concat([b, data]);
}

// An IPFIX template record: id, field count, (element, length) pairs.
function templateRecord(id, fields) {
  const t = Buffer.alloc(4 + 4 * fields.length);
  t.writeUInt16BE(id, 0);
  t.writeUInt16BE(fields.length, 2);
  fields.forEach(([e, l], i) => {
    t.writeUInt16BE(e, 4 + 4 * i);
    t.writeUInt16BE(l, 6 + 4 * i);
  });
  return t;
}

// A template set (id 2) of those records.
function templateSet(records) {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(2, 0);
  head.writeUInt16BE(4 + records.reduce((n, r) => n + r.length, 0), 2);
  return Buffer.concat([head, ...records]);
}

// An IPFIX message of one observation domain (1) around its sets, sent now.
function ipfixMessage(sets) {
  const body = Buffer.concat(sets);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt16BE(10, 0);
  hdr.writeUInt16BE(16 + body.length, 2);
  hdr.writeUInt32BE(Math.floor(Date.now() / 1000), 4);
  hdr.writeUInt32BE(1, 12);
  return Buffer.concat([hdr, body]);
}

// A data set for template `id`: `rec` bytes per flow, each written by `write(buffer, offset, flow)`.
function dataSet(id, rec, flows, write) {
  const data = Buffer.alloc(4 + rec * flows.length);
  data.writeUInt16BE(id, 0);
  data.writeUInt16BE(data.length, 2);
  flows.forEach((f, i) => write(data, 4 + rec * i, f));
  return data;
}

// IPFIX: a template and flows between global IPv6 addresses.
function ipfixV6(flows) {
  const fields = [[27, 16], [28, 16], [1, 8], [2, 8], [4, 1], [7, 2], [11, 2]];
  const tpl = templateSet([templateRecord(256, fields)]);
  const data = dataSet(256, 16 + 16 + 8 + 8 + 1 + 2 + 2, flows, (data, o, f) => {
    ip6(f.src).copy(data, o);
    ip6(f.dst).copy(data, o + 16);
    data.writeBigUInt64BE(BigInt(f.bytes), o + 32);
    data.writeBigUInt64BE(BigInt(f.packets || 1), o + 40);
    data.writeUInt8(6, o + 48);
    data.writeUInt16BE(443, o + 49);
    data.writeUInt16BE(50000, o + 51);
  });
  return ipfixMessage([tpl, data]);
}

// IPFIX with the MAC addresses a router exports (sourceMacAddress 56, postDestinationMacAddress
// 57): template 256 for IPv4 flows, 257 for IPv6 ones; `srcMac`/`dstMac` as 48-bit numbers.
function ipfixMacs(flows) {
  const sets = [];
  const tplBody = [];
  for (const [id, len] of [[256, 4], [257, 16]]) {
    const fields = [[len === 4 ? 8 : 27, len], [len === 4 ? 12 : 28, len], [1, 8], [2, 8], [56, 6], [57, 6]];
    tplBody.push(templateRecord(id, fields));
    const mine = flows.filter((f) => f.src.includes(':') === (len === 16));
    if (!mine.length) continue;
    const data = dataSet(id, 2 * len + 16 + 12, mine, (data, o, f) => {
      if (len === 4) {
        data.writeUInt32BE(ip4(f.src), o);
        data.writeUInt32BE(ip4(f.dst), o + 4);
      } else {
        ip6(f.src).copy(data, o);
        ip6(f.dst).copy(data, o + 16);
      }
      data.writeBigUInt64BE(BigInt(f.bytes), o + 2 * len);
      data.writeBigUInt64BE(BigInt(f.packets || 1), o + 2 * len + 8);
      data.writeUIntBE(f.srcMac || 0, o + 2 * len + 16, 6);
      data.writeUIntBE(f.dstMac || 0, o + 2 * len + 22, 6);
    });
    sets.push(data);
  }
  return ipfixMessage([templateSet(tplBody), ...sets]);
}

// IPv6 IPFIX with the interfaces (10, 14): what crosses the internet line teaches the LAN's prefix.
function ipfixV6Interfaces(flows) {
  const fields = [[27, 16], [28, 16], [10, 4], [14, 4], [1, 8], [2, 8]];
  const tpl = templateSet([templateRecord(256, fields)]);
  const data = dataSet(256, 16 + 16 + 4 + 4 + 8 + 8, flows, (data, o, f) => {
    ip6(f.src).copy(data, o);
    ip6(f.dst).copy(data, o + 16);
    data.writeUInt32BE(f.in, o + 32);
    data.writeUInt32BE(f.out, o + 36);
    data.writeBigUInt64BE(BigInt(f.bytes), o + 40);
    data.writeBigUInt64BE(BigInt(f.packets || 1), o + 48);
  });
  return ipfixMessage([tpl, data]);
}

async function send(port, datagrams) {
  const sock = dgram.createSocket('udp4');
  for (const d of datagrams) {
    await new Promise((res, rej) => sock.send(d, port, '127.0.0.1', (e) => (e ? rej(e) : res())));
  }
  sock.close();
}

/* ---------- daemons of the test's own, for the doctor's situations ---------- */

async function freePort(kind) {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise((res) => s.bind(0, '127.0.0.1', res));
    const { port } = s.address();
    s.close();
    return port;
  }
  const srv = net.createServer();
  await new Promise((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address();
  await new Promise((res) => srv.close(res));
  return port;
}

async function startDaemon(extra = '', local = '["192.168.1.0/24"]') {
  assert.ok(BIN, 'FLOWPI_BIN names the flowpi binary');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowpi-page-'));
  const udp = await freePort('udp');
  const http = await freePort('tcp');
  writeFileSync(path.join(dir, 'flowpi.toml'), `[collector]
listen = ["127.0.0.1:${udp}"]
[network]
local = ${local}
[archive]
dir = "${dir}/archive"
step = "1s"
[http]
listen = "127.0.0.1:${http}"
auth = "none"
${extra}
`);
  const child = spawn(BIN, ['--config', path.join(dir, 'flowpi.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + WAIT;
  for (;;) {
    try {
      if ((await fetch(`${url}/api/status`)).ok) break;
    } catch (_) { /* not yet */ }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`flowpi did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    udp,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A daemon of the test's own for the length of `fn`.
async function withDaemon(fn, extra, local) {
  const d = await startDaemon(extra, local);
  try {
    await fn(d);
  } finally {
    await d.stop();
  }
}

// The doctor finds `code` on a daemon, and the page shows it where the problem is.
async function doctorShows(d, code, where) {
  const deadline = Date.now() + WAIT;
  let findings = [];
  while (Date.now() < deadline) {
    findings = await api('/api/doctor', d.url, {});
    if (findings.some((f) => f.code === code)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const f = findings.find((x) => x.code === code);
  assert.ok(f, `/api/doctor finds ${code}: ${JSON.stringify(findings)}\n${d.log()}`);
  for (const k of ['severity', 'message', 'detail']) assert.ok(f[k], `${code} has a ${k}`);
  const p = await newPage();
  await p.goto(`${d.url}/`, { waitUntil: 'load' });
  const el = p.locator(`${where} [data-code="${code}"], ${where}[data-code="${code}"]`).first();
  await el.waitFor({ state: 'visible', timeout: WAIT });
  const text = await el.textContent();
  // Figures such as how long data has waited move on between the two reads.
  const shape = (x) => x.replace(/\d+\s*[a-z]*/g, '#');
  assert.ok(shape(text).includes(shape(f.message)), `the page says "${f.message}": ${text}`);
  return { page: p, finding: f, text };
}

/* ---------- the suite ---------- */

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1, locale: 'en-US' });
  page = await newPage();
  watchPage(page, consoleErrors, badResponses);
  // More devices than the table's top 10, now, so the "today" totals include them.
  if (UDP_PORT) {
    await send(UDP_PORT, [v5(EXTRA_HOSTS.map((ip, i) => ({ src: '203.0.113.9', dst: ip, bytes: 50 + i, packets: 1 })), 0, 1)]);
    // The internet line: downloads enter on ifIndex 1 and leave on 2, uploads the other way, so
    // flowpi learns 1 as the line from the traffic (the capture's own flows have ifIndex 0).
    const line = HOSTS.flatMap((ip) => [
      { src: '198.51.100.20', dst: ip, bytes: 40_000, packets: 30, in: 1, out: 2 },
      { src: ip, dst: '198.51.100.20', bytes: 10_000, packets: 20, in: 2, out: 1 },
    ]);
    await send(UDP_PORT, [v5(line, 12, 1)]);
  }
});

after(async () => {
  if (badResponses.length) console.log(`HTTP answers >= 400 on the main page:\n  ${badResponses.join('\n  ')}`);
  await browser?.close();
});

test('the page asks for the password first; a wrong one is refused, the right one opens the page', async () => {
  const resp = await page.goto(`${BASE}/`, { waitUntil: 'load' });
  assert.equal(new URL(page.url()).pathname, '/login', 'redirected to the login form');
  assert.equal(resp.status(), 200);
  // The login page says nothing about the network.
  const text = await page.textContent('body');
  assert.doesNotMatch(text, /192\.168|hosts?\b.*\d/);
  await page.fill('#password', 'not-the-password');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert.match(await page.textContent('#login-message'), /Wrong password/);
  await page.screenshot({ path: path.join(SHOTS, 'login.png') });
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert.equal(new URL(page.url()).pathname, '/');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'flowpi_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
  // The failed attempt above is the one expected 401 on this page.
  const i = badResponses.findIndex((r) => r.startsWith('401 ') && r.endsWith('/login'));
  assert.ok(i >= 0, badResponses.join(', '));
  badResponses.splice(i, 1);
  // And the console error Chromium logs for that 401.
  const j = consoleErrors.findIndex((e) => /401/.test(e));
  if (j >= 0) consoleErrors.splice(j, 1);
});

test('the page loads, in standards mode, with its stylesheet and icon', async () => {
  const resp = await page.goto(`${BASE}/`, { waitUntil: 'load' });
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-type'] || '', /text\/html/);
  assert.equal(await page.evaluate(() => document.compatMode), 'CSS1Compat');
  assert.match(await page.title(), /flowpi/);
  const bg = await page.evaluate(() => getComputedStyle(document.body.parentElement).backgroundColor);
  assert.notEqual(bg, 'rgba(0, 0, 0, 0)');
  const icon = await page.evaluate(async () => (await fetch('/favicon.svg')).headers.get('content-type'));
  assert.match(icon || '', /image\/svg\+xml/);
});

test('the footer shows version, uptime, counts and the zone from /api/status', async () => {
  const status = await api('/api/status');
  await page.waitForFunction((v) => document.getElementById('status').textContent.includes(`flowpi ${v}`),
    status.version, { timeout: WAIT });
  const text = await page.textContent('#status');
  assert.match(text, /up \d+/);
  assert.match(text, /\d+ devices?/);
  assert.match(text, /flow records/);
  assert.ok(text.includes(`times in ${status.zone}`), text);
  assert.ok(await page.isVisible('#status'));
});

test('the first screen opens on today: the devices table holds exactly /api/hosts?period=today', async () => {
  assert.equal(await page.getAttribute('button[data-period="today"]', 'aria-pressed'), 'true');
  for (const ip of HOSTS) await page.waitForSelector(`#hosts tbody tr[data-ip="${ip}"]`, { timeout: WAIT });
  assert.ok(await page.isHidden('#empty'), 'the empty state is hidden once devices exist');
  const row = page.locator('#hosts tbody tr[data-ip="192.168.1.10"]');
  const total = (await row.locator('td.total .v').textContent()).trim();
  assert.match(total, /^[\d.,]+ (B|kB|MB|GB|TB|PB)$/, `a size: ${total}`);
  const barWidth = await row.locator('.bar').evaluate((bar) =>
    Array.from(bar.querySelectorAll('span')).reduce((w, s) => w + s.getBoundingClientRect().width, 0));
  assert.ok(barWidth > 0, 'a visible proportional bar');
});

test('the month tile: no estimate before a whole day is counted, and since when it counts', async () => {
  const month = await api('/api/hosts?period=month');
  // This daemon began counting minutes ago, well after the 1st.
  assert.ok(month.data_from_unix > month.from_unix, JSON.stringify(month));
  const sub = '#glance [data-tile="month"] .tile-sub';
  await page.waitForFunction((s) => /counted since/.test(document.querySelector(s).textContent), sub, { timeout: WAIT });
  const text = await page.textContent(sub);
  assert.doesNotMatch(text, /by month end/, 'minutes of traffic times a month is no estimate');
  assert.ok(text.includes(`counted since ${month.data_from.slice(0, 10)}`), text);
});

// The table's rows (ip -> [rx, tx]) once they equal what the API says for `query`.
async function tableMatches(p, query) {
  let want;
  let shown;
  const deadline = Date.now() + WAIT;
  while (Date.now() < deadline) {
    want = rowsOf(await api(`/api/hosts?${query}`)).slice().sort((a, b) => (b.rx_bytes + b.tx_bytes) - (a.rx_bytes + a.tx_bytes));
    shown = await p.$$eval('#hosts tbody tr', (rows) => rows.map((r) => [r.dataset.ip, Number(r.dataset.rx), Number(r.dataset.tx)]));
    const expect = want.slice(0, 10).map((r) => [r.ip, r.rx_bytes, r.tx_bytes]);
    if (JSON.stringify(shown) === JSON.stringify(expect)) return { want, shown };
    await p.waitForTimeout(250);
  }
  assert.fail(`the table shows ${JSON.stringify(shown)}, /api/hosts?${query} has ${JSON.stringify(want)}`);
}

test('the line tiles are the internet line: today is what its interface carried', async () => {
  // Today's figure equals the line's interface (learned from the traffic), not the devices' sum.
  const today = '#glance [data-tile="today"]';
  let line;
  let shown;
  const deadline = Date.now() + WAIT;
  for (;;) {
    const ifs = rowsOf(await api('/api/interfaces?period=today')).filter((r) => r.wan === true);
    const status = await api('/api/status');
    if (ifs.length === 1 && status.wan.length === 1) {
      assert.equal(status.wan[0].by, 'traffic', JSON.stringify(status.wan));
      assert.equal(ifs[0].ifindex, status.wan[0].ifindex);
      line = ifs[0].in_bytes + ifs[0].out_bytes;
      shown = Number(await page.getAttribute(today, 'data-bytes'));
      if (shown === line) break;
    }
    assert.ok(Date.now() < deadline, `the today tile holds ${shown} bytes, the line ${line}`);
    await page.waitForTimeout(250);
  }
  assert.match(await page.textContent(`${today} .tile-sub`), /↓ .* ↑ /);
  const hosts = rowsOf(await api('/api/hosts?period=today'));
  const devices = hosts.reduce((t, r) => t + r.rx_bytes + r.tx_bytes, 0);
  assert.ok(devices > line, `the devices together (${devices}) moved more than the line (${line}): their own flows and local copies`);
});

test('the period selector drives the table and the graphs together', async () => {
  for (const period of ['week', 'month', 'cycle', 'yesterday', 'today']) {
    await page.click(`button[data-period="${period}"]`);
    assert.equal(await page.getAttribute(`button[data-period="${period}"]`, 'aria-pressed'), 'true');
    const { want } = await tableMatches(page, `period=${period}`);
    if (period === 'yesterday') {
      assert.equal(want.length, 0, 'nothing was sent yesterday');
      assert.ok(await page.isVisible('#hosts-none'), 'an empty period says so');
    } else {
      assert.ok(want.length >= HOSTS.length + EXTRA_HOSTS.length, `${period}: ${want.length} devices`);
    }
    // The overview graph and the interface graphs follow.
    await page.waitForFunction((p) => {
      const imgs = Array.from(document.querySelectorAll('#overview-graph img.graph, #interfaces img.graph'));
      return imgs.length > 0 && imgs.every((i) => new URL(i.dataset.src, location.href).searchParams.get('period') === p && i.naturalWidth > 0);
    }, period, { timeout: WAIT });
    assert.match(await page.textContent('#talkers-title'), new RegExp(period === 'cycle' ? 'billing cycle' : period === 'week' ? 'this week' : period === 'month' ? 'this month' : period));
  }
  // Now: the last hour, ranked by what is moving now.
  await page.click('button[data-period="now"]');
  assert.equal(await page.getAttribute('#hosts th[data-sort="now"]', 'aria-sort'), 'descending');
  await page.waitForFunction(() => {
    const i = document.querySelector('#overview-graph img.graph');
    return i && new URL(i.dataset.src, location.href).searchParams.has('from') && i.naturalWidth > 0;
  }, null, { timeout: WAIT });
  const shown = await page.$$eval('#hosts tbody tr', (rows) => rows.map((r) => r.dataset.ip));
  assert.ok(shown.length > 0, 'devices of the last hour');
  await page.click('button[data-period="today"]');
  await tableMatches(page, 'period=today');
});

test('a custom range asks the API for exactly that window', async () => {
  await page.click('button[data-period="custom"]');
  assert.ok(await page.isVisible('#custom'));
  assert.equal(await page.getAttribute('button[data-period="today"]', 'aria-pressed'), 'true', 'nothing changes before the form is sent');
  // Two days ago at midnight to tomorrow, in the daemon's zone (read as local times there).
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const [from, to] = [`${day(-2)}T00:00`, `${day(1)}T00:00`];
  const seen = [];
  const listen = (r) => { if (r.url().includes('/api/hosts?from=')) seen.push(new URL(r.url()).search); };
  page.on('request', listen);
  await page.fill('#custom-from', from);
  await page.fill('#custom-to', to);
  await page.click('#custom button[type=submit]');
  assert.equal(await page.getAttribute('button[data-period="custom"]', 'aria-pressed'), 'true');
  await page.waitForFunction((d) => document.getElementById('talkers-title').textContent.includes(d), day(-2), { timeout: WAIT });
  page.off('request', listen);
  const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  assert.ok(seen.some((x) => x.includes(q)), `${q} in ${seen.join(' ')}`);
  await tableMatches(page, q);
  // An impossible range is refused in the form.
  await page.fill('#custom-from', `${day(2)}T00:00`);
  await page.click('#custom button[type=submit]');
  assert.match(await page.textContent('#custom-error'), /before/);
  await page.click('button[data-period="today"]');
  assert.ok(await page.isHidden('#custom'));
  await tableMatches(page, 'period=today');
});

test('devices carry their names: from the config, from reverse DNS, else the address', async () => {
  const name = (ip) => page.locator(`#hosts tbody tr[data-ip="${ip}"] .host-link`);
  await page.waitForFunction(() => {
    const t = (ip) => document.querySelector(`#hosts tbody tr[data-ip="${ip}"] .host-link`)?.textContent;
    return t('192.168.1.10') === 'Living-room TV' && t('192.168.1.11') === 'laptop.lan';
  }, null, { timeout: WAIT });
  assert.equal(await name('192.168.1.12').textContent(), '192.168.1.12');
  // The address stays visible under a name.
  assert.equal((await page.textContent('#hosts tbody tr[data-ip="192.168.1.10"] .addr')).trim(), '192.168.1.10');
  const hosts = rowsOf(await api('/api/hosts?period=today'));
  assert.equal(hosts.find((h) => h.ip === '192.168.1.10').name, 'Living-room TV');
  assert.equal(hosts.find((h) => h.ip === '192.168.1.11').name, 'laptop.lan');
  assert.equal(hosts.find((h) => h.ip === '192.168.1.12').name, null);
  // The overview's legend names them too.
  await page.waitForSelector('#overview-legend li', { timeout: WAIT });
  assert.match(await page.textContent('#overview-legend'), /Living-room TV/);
});

test('one row per device: a [[host]] of two addresses, and a phone gathered by its MAC', async () => {
  const config = `[[host]]
name = "Dad's laptop"
address = ["192.168.1.10", "fd00::10"]`;
  await withDaemon(async (d) => {
    const phone = 0x020000000020;
    const gateway = 0x0200000000fe;
    await send(d.udp, [ipfixMacs([
      { src: '203.0.113.5', dst: '192.168.1.10', bytes: 1_000_000, srcMac: gateway },
      { src: '2001:db8::5', dst: 'fd00::10', bytes: 2_000_000, srcMac: gateway },
      { src: '192.168.1.20', dst: '203.0.113.9', bytes: 50_000, srcMac: phone, dstMac: gateway },
      { src: '2001:db8::9', dst: 'fd00:1:2:3:aaaa::1', bytes: 700_000, srcMac: gateway, dstMac: phone },
      { src: '2001:db8::9', dst: 'fd00:1:2:3:bbbb::1', bytes: 800_000, srcMac: gateway, dstMac: phone },
    ])]);
    const p = await newPage();
    await p.goto(`${d.url}/`, { waitUntil: 'load' });
    const rows = () => p.$$eval('#hosts tbody tr', (trs) => trs.map((tr) => ({
      ip: tr.dataset.ip,
      name: tr.querySelector('.host-link').textContent,
      addr: tr.querySelector('.addr').textContent.trim(),
      rx: Number(tr.dataset.rx),
      tx: Number(tr.dataset.tx),
    })));
    const want = [
      { ip: '192.168.1.10', name: "Dad's laptop", addr: '192.168.1.10 +1', rx: 3_000_000, tx: 0 },
      { ip: 'fe80::ff:fe00:20', name: 'Device 02:00:00:00:00:20', addr: '192.168.1.20 +2', rx: 1_500_000, tx: 50_000 },
    ];
    const deadline = Date.now() + WAIT;
    let got = [];
    for (;;) {
      got = (await rows()).sort((a, b) => a.ip.localeCompare(b.ip));
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      assert.ok(Date.now() < deadline, `the devices table: ${JSON.stringify(got)}\n${d.log()}`);
      await p.waitForTimeout(250);
    }
    // The device's page lists its addresses and MAC, and any of them leads to it.
    await p.goto(`${d.url}/#host/fd00:1:2:3:bbbb::1`, { waitUntil: 'load' });
    await p.waitForFunction(() => /1[.,]50 MB/.test(document.getElementById('detail-totals')?.textContent || ''), null, { timeout: WAIT });
    await p.click('#detail-back');
    await p.goto(`${d.url}/#host/fe80::ff:fe00:20`, { waitUntil: 'load' });
    await p.waitForFunction(() => document.getElementById('detail-title').textContent === 'Device 02:00:00:00:00:20', null, { timeout: WAIT });
    const meta = await p.textContent('#detail-meta');
    assert.match(meta, /Addresses: .*192\.168\.1\.20/);
    assert.match(meta, /fd00:1:2:3:aaaa::1/);
    assert.match(meta, /MAC 02:00:00:00:00:20/);
    await p.close();
  }, config, '["192.168.1.0/24", "fd00::/8"]');
});

test("the LAN's IPv6 prefix, learned behind the line, is named at the foot of the page and its devices counted", async () => {
  await withDaemon(async (d) => {
    await send(d.udp, [ipfixV6Interfaces([
      { src: '2a00:1450:4001::5', dst: '2001:db8:1:2::20', in: 1, out: 2, bytes: 900_000 },
      { src: '2001:db8:1:2::20', dst: '2a00:1450:4001::5', in: 2, out: 1, bytes: 70_000 },
    ])]);
    const p = await newPage();
    await p.goto(`${d.url}/`, { waitUntil: 'load' });
    await p.waitForFunction(() => /learned local: 2001:db8:1:2::\/64/.test(document.getElementById('status').textContent), null, { timeout: WAIT });
    await p.waitForSelector('#hosts tbody tr[data-ip="2001:db8:1:2::20"][data-rx="900000"][data-tx="70000"]', { timeout: WAIT });
    await p.close();
  }, '[[exporter]]\naddress = "127.0.0.1"\nwan = [1]');
});

test('the top 10 with "show all", a search box, and sorting by now', async () => {
  await page.waitForSelector('#more-hosts:not([hidden])', { timeout: WAIT });
  assert.equal(await page.locator('#hosts tbody tr').count(), 10);
  const all = rowsOf(await api('/api/hosts?period=today')).length;
  assert.match(await page.textContent('#more-hosts'), new RegExp(`Show all ${all} devices`));
  await page.click('#more-hosts');
  assert.equal(await page.locator('#hosts tbody tr').count(), all);
  await page.click('#more-hosts');
  assert.equal(await page.locator('#hosts tbody tr').count(), 10);
  await page.fill('#host-search', 'living');
  await page.waitForFunction(() => document.querySelectorAll('#hosts tbody tr').length === 1, null, { timeout: WAIT });
  assert.equal(await page.getAttribute('#hosts tbody tr', 'data-ip'), '192.168.1.10');
  await page.fill('#host-search', '192.168.1.10');
  const hits = await page.$$eval('#hosts tbody tr', (rows) => rows.map((r) => r.dataset.ip));
  assert.deepEqual(hits.sort(), ['192.168.1.10', '192.168.1.100', '192.168.1.101', '192.168.1.102', '192.168.1.103', '192.168.1.104', '192.168.1.105', '192.168.1.106', '192.168.1.107', '192.168.1.108', '192.168.1.109'].sort());
  await page.fill('#host-search', 'no-such-device');
  assert.match(await page.textContent('#hosts-none'), /No device matches/);
  await page.fill('#host-search', '');
  // Sorting by the now column; its figures are the API's "now".
  await page.click('#hosts th[data-sort="now"] button');
  assert.equal(await page.getAttribute('#hosts th[data-sort="now"]', 'aria-sort'), 'descending');
  const nowText = await page.textContent('#hosts tbody tr:first-child td.now');
  assert.match(nowText, /↓ [\d.,]+ (bit|kbit|Mbit|Gbit)\/s/);
  await page.click('#hosts th[data-sort="total"] button');
  assert.equal(await page.getAttribute('#hosts th[data-sort="total"]', 'aria-sort'), 'descending');
  // Last seen is shown.
  assert.match(await page.textContent('#hosts tbody tr[data-ip="192.168.1.10"] td.seen'), /just now|min ago|h ago|\d/);
});

test('applications are listed busiest first, and one opens its graphs', async () => {
  const api0 = rowsOf(await api('/api/applications?period=today'));
  assert.ok(api0.length > 0);
  await page.waitForSelector(`#applications tbody tr[data-app="${api0[0].name}"]`, { timeout: WAIT });
  const shown = await page.$$eval('#applications tbody tr', (rows) => rows.map((r) => r.dataset.app));
  assert.deepEqual(shown, api0.map((a) => a.name));
  await page.click(`#applications tbody tr[data-app="${api0[0].name}"] .host-link`);
  await page.waitForSelector('#detail-view:not([hidden])', { timeout: WAIT });
  assert.equal(decodeURIComponent(new URL(page.url()).hash), `#application/${api0[0].name}`);
  await page.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('#detail-graphs img.graph'));
    return imgs.length === 6 && imgs.every((i) => i.naturalWidth > 0);
  }, null, { timeout: WAIT });
  const paths = (await graphImages(page, '#detail-graphs img.graph')).map((i) => i.path);
  assert.equal(paths[2], `/graph/application/${api0[0].name}/day.png`);
  assert.ok(await page.isHidden('#detail-lists'), 'applications and peers belong to devices only');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#overview-view:not([hidden])', { timeout: WAIT });
});

test("a device's page: name, addresses, totals, applications and peers, graphs with peaks and figures", async () => {
  await page.click('#hosts tbody tr[data-ip="192.168.1.10"] .host-link');
  await page.waitForSelector('#detail-view:not([hidden])', { timeout: WAIT });
  assert.equal(new URL(page.url()).hash, '#host/192.168.1.10', 'the page has its own, linkable address');
  assert.equal(await page.textContent('#detail-title'), 'Living-room TV');
  assert.match(await page.textContent('#detail-meta'), /Address: 192\.168\.1\.10/);
  // Its totals come with the page's next answers.
  await page.waitForFunction(() => document.querySelectorAll('#detail-totals .tile').length >= 2, null, { timeout: WAIT });
  const tiles = await page.$$eval('#detail-totals .tile h3', (hs) => hs.map((x) => x.textContent));
  assert.deepEqual(tiles.slice(0, 2), ['Today', 'This month']);
  // Its applications and peers over the period, as the API gives them.
  const detail = await api('/api/hosts/192.168.1.10?period=today');
  assert.ok(detail.applications.length > 0 && detail.peers.length > 0, JSON.stringify(detail));
  await page.waitForSelector('#detail-lists:not([hidden])', { timeout: WAIT });
  await page.waitForFunction((n) => document.querySelectorAll('#detail-peers tbody tr').length === n, detail.peers.length, { timeout: WAIT });
  const apps = await page.$$eval('#detail-apps tbody th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(apps, detail.applications.map((a) => a.name));
  const peers = await page.$$eval('#detail-peers tbody th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(peers, detail.peers.map((p) => p.ip));
  // The selected period, then every span; their figures as text beside the pixels.
  await page.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('#detail-graphs img.graph'));
    return imgs.length === 6 && imgs.every((i) => i.naturalWidth > 0);
  }, null, { timeout: WAIT });
  const imgs = await graphImages(page, '#detail-graphs img.graph');
  assert.equal(imgs[0].params.period, 'today');
  assert.deepEqual(imgs.slice(1).map((i) => i.path), ['hour', 'day', 'week', 'month', 'year'].map((p) => `/graph/host/192.168.1.10/${p}.png`));
  const figures = await page.textContent('#detail-graphs [data-period="week"] .figures');
  assert.match(figures, /Received: total [\d.,]+ \w*B/);
  assert.match(figures, /peak [\d.,]+ (bit|kbit|Mbit|Gbit)\/s/);
  assert.match(figures, /95th percentile/);
  // The selected period's graph and the table agree on the totals.
  const sel = await page.textContent('#detail-graphs [data-period="selected"] .figures');
  const fmt = (n) => page.evaluate((v) => {
    let x = v; let i = 0; const u = ['B', 'kB', 'MB', 'GB'];
    while (x >= 1000 && i < 3) { x /= 1000; i++; }
    const d = i === 0 ? 0 : x < 10 ? 2 : x < 100 ? 1 : 0;
    return `${new Intl.NumberFormat(undefined, { minimumFractionDigits: d, maximumFractionDigits: d }).format(x)} ${u[i]}`;
  }, n);
  assert.ok(sel.includes(`Received: total ${await fmt(detail.rx_bytes)}`), `${sel} against ${detail.rx_bytes}`);
  await page.screenshot({ path: path.join(SHOTS, 'device.png'), fullPage: true });
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
  // Reached directly by its address too.
  const p = await newPage();
  await p.goto(`${BASE}/#host/192.168.1.11`, { waitUntil: 'load' });
  await p.waitForFunction(() => document.getElementById('detail-title').textContent === 'laptop.lan', null, { timeout: WAIT });
  await p.close();
  await page.click('#detail-back');
  await page.waitForSelector('#overview-view:not([hidden])', { timeout: WAIT });
});

test('the interfaces seen in the flows are listed, as /api/interfaces orders them', async () => {
  await page.waitForSelector('#interfaces [data-exporter][data-ifindex]', { timeout: WAIT });
  const shown = await page.$$eval('#interfaces [data-exporter][data-ifindex]', (els) => els.map((e) => `${e.dataset.exporter}/${e.dataset.ifindex}`));
  const want = rowsOf(await api('/api/interfaces?period=today')).map((r) => `${r.exporter}/${r.ifindex ?? ''}`);
  assert.deepEqual(shown, want);
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#interfaces img.graph'))
    .some((i) => i.naturalWidth > 0), null, { timeout: WAIT });
  const figures = await page.textContent('#interfaces .figures');
  assert.match(figures, /In: total/);
});

test('the overview graph loads at the requested size and refreshes without dropping the picture', async () => {
  const sel = '#overview-graph img.graph';
  await page.waitForFunction((s) => document.querySelector(s)?.naturalWidth > 0, sel, { timeout: WAIT });
  const first = (await graphImages(page, sel))[0];
  assert.equal(first.path, '/graph/overview/day.png');
  assert.equal(first.naturalWidth, first.width);
  assert.equal(first.naturalHeight, first.height);
  const overview = await api('/api/overview?period=today&n=8');
  const legend = await page.$$eval('#overview-legend li[data-ip]', (lis) => lis.map((li) => li.dataset.ip));
  assert.deepEqual(legend, overview.hosts.map((h) => h.ip));
  const deadline = Date.now() + 20_000;
  let now = first;
  while (Date.now() < deadline) {
    const imgs = await graphImages(page, sel);
    assert.equal(imgs.length, 1, 'the graph never disappears while it refreshes');
    assert.ok(imgs[0].naturalWidth > 0, 'the shown graph is always a loaded one');
    now = imgs[0];
    if (now.t !== first.t) break;
    await page.waitForTimeout(250);
  }
  assert.notEqual(now.t, first.t, 'a new graph was swapped in within 20 s');
});

test('keyboard: a skip link first, and every control reachable', async () => {
  await page.goto(`${BASE}/`, { waitUntil: 'load' });
  await page.waitForSelector('#hosts tbody tr', { timeout: WAIT });
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  assert.ok(await page.isVisible('.skip'), 'the skip link shows when focused');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  const reached = new Set();
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    reached.add(await page.evaluate(() => {
      const a = document.activeElement;
      return a.dataset.period ? `period:${a.dataset.period}` : a.id || a.className || a.tagName;
    }));
  }
  for (const want of ['host-search', 'host-link']) assert.ok(reached.has(want), `${want} is reached by Tab: ${[...reached]}`);
  // The periods come before the skip target; reach them backwards.
  await page.focus('button[data-period="week"]');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('button[data-period="week"]', 'aria-pressed'), 'true');
  await page.click('button[data-period="today"]');
});

test('desktop screenshot and automated contrast check', async () => {
  await page.goto(`${BASE}/`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('#overview-graph img.graph')?.naturalWidth > 0
    && Array.from(document.querySelectorAll('#interfaces img.graph')).length > 0, null, { timeout: WAIT });
  await page.waitForTimeout(400); // let the fade settle
  await page.screenshot({ path: path.join(SHOTS, 'page.png'), fullPage: true });
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
});

test('no console errors on the page', () => {
  assert.deepEqual(consoleErrors, []);
});

test('on a phone (390 px) nothing is cut off, the status is visible, and contrast passes', async () => {
  const errors = [];
  const p = await newPage({ width: 390, height: 844 });
  watchPage(p, errors, []);
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  await p.waitForFunction(() => document.querySelector('#overview-graph img.graph')?.naturalWidth > 0
    && document.querySelectorAll('#hosts tbody tr').length > 0, null, { timeout: WAIT });
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (overflow ${overflow}px)`);
  // Every cell of the devices table that is shown lies within the screen.
  const cut = await p.$$eval('#hosts th, #hosts td', (cells) => cells
    .filter((c) => c.offsetParent !== null)
    .map((c) => [c.className || c.textContent.trim().slice(0, 20), Math.round(c.getBoundingClientRect().right)])
    .filter(([, right]) => right > 390));
  assert.deepEqual(cut, [], 'no cut-off columns');
  assert.ok(await p.isVisible('#hosts td.total'), 'the total is on screen');
  assert.ok(await p.isVisible('#live'), 'the live status is visible on a phone');
  const img = (await graphImages(p, '#overview-graph img.graph'))[0];
  assert.ok(img.width <= 480, `phone graphs are not requested at desktop size: ${img.src}`);
  const right = await p.$eval('#overview-graph img.graph', (i) => i.getBoundingClientRect().right);
  assert.ok(right <= 390, `the graph fits the screen: ${right}`);
  await p.screenshot({ path: path.join(SHOTS, 'page-mobile.png'), fullPage: true });
  const violations = await axeViolations(p);
  assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
  assert.deepEqual(errors, []);
  await p.close();
});

test('a graph the server cannot draw yet shows a placeholder, never a broken image; IPv6 is percent-encoded', async () => {
  const p = await newPage();
  const graphAnswers = new Map();
  p.on('response', (r) => {
    if (r.url().includes('/graph/')) graphAnswers.set(new URL(r.url()).pathname, r.status());
  });
  await p.goto(`${BASE}/#host/fd00:1::10`, { waitUntil: 'load' });
  await p.waitForSelector('#detail-graphs .graph-frame.is-missing .graph-placeholder', { timeout: WAIT });
  assert.equal(await p.locator('#detail-graphs img').count(), 0, 'no <img> in a frame whose graph failed');
  assert.equal(graphAnswers.get('/graph/host/fd00%3A1%3A%3A10/day.png'), 404,
    `the server understood the encoded IPv6 address and has no archive for it: ${JSON.stringify([...graphAnswers])}`);
  const broken = await p.$$eval('img', (imgs) => imgs.filter((i) => i.complete && i.naturalWidth === 0).map((i) => i.src));
  assert.deepEqual(broken, []);
  await p.close();
});

test('when the daemon does not answer, a banner says so and the last figures stay', async () => {
  const p = await newPage();
  let fail = false;
  await p.route('**/api/status', (r) => (fail ? r.fulfill({ status: 503, body: 'busy' }) : r.continue()));
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  await p.waitForSelector('#hosts tbody tr[data-ip="192.168.1.10"]', { timeout: WAIT });
  assert.ok(await p.isHidden('#error'));
  fail = true;
  await p.evaluate(() => document.dispatchEvent(new Event('visibilitychange'))); // refresh now
  await p.waitForSelector('#error', { state: 'visible', timeout: WAIT });
  assert.match(await p.textContent('#error'), /Cannot reach flowpi .*503/);
  assert.ok(await p.isVisible('#hosts tbody tr[data-ip="192.168.1.10"]'), 'the table is kept');
  fail = false;
  await p.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await p.waitForSelector('#error', { state: 'hidden', timeout: WAIT });
  await p.close();
});

test('logging out leads back to the login form and closes the API', async () => {
  const p = await newPage();
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  await p.waitForSelector('#logout button', { state: 'visible', timeout: WAIT });
  await p.click('#logout button');
  await p.waitForURL((u) => new URL(u).pathname === '/login', { timeout: WAIT });
  const status = await p.evaluate(async () => (await fetch('/api/hosts')).status);
  assert.equal(status, 401);
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  assert.equal(new URL(p.url()).pathname, '/login', 'the page asks again');
  await p.close();
});

/* ---------- the doctor, each finding in its situation, made with real datagrams ---------- */

test('doctor: no datagrams — the empty state names this port and how to point a router at it', async () => {
  await withDaemon(async (d) => {
    const { page: p, finding, text } = await doctorShows(d, 'no_datagrams', '#empty');
    assert.ok(finding.data.ports.includes(d.udp), JSON.stringify(finding.data));
    assert.ok(text.includes(String(d.udp)), `the port ${d.udp} is on the page: ${text}`);
    assert.match(text, /MikroTik/);
    await p.screenshot({ path: path.join(SHOTS, 'doctor-no-datagrams.png'), fullPage: true });
    const violations = await axeViolations(p);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
    await p.close();
  });
});

test('doctor: data waiting for a template', async () => {
  await withDaemon(async (d) => {
    await send(d.udp, [v9WithoutTemplate(), v9WithoutTemplate()]);
    const { page: p } = await doctorShows(d, 'no_template', '#main');
    await p.close();
  });
});

test('doctor: flows of remote addresses only, with the prefix to add', async () => {
  await withDaemon(async (d) => {
    await send(d.udp, [v5([
      { src: '10.9.8.7', dst: '203.0.113.5', bytes: 5000 },
      { src: '203.0.113.5', dst: '10.9.8.7', bytes: 90000 },
    ])]);
    const { page: p, text } = await doctorShows(d, 'no_local_hosts', '#main');
    assert.match(text, /10\.9\.8\.0\/24/);
    await p.close();
  });
});

test('doctor: global IPv6 traffic with no IPv6 prefix in network.local', async () => {
  await withDaemon(async (d) => {
    await send(d.udp, [
      v5([{ src: '192.168.1.20', dst: '203.0.113.5', bytes: 4000 }]),
      ipfixV6([
        { src: '2001:db8:1:2::20', dst: '2a00:1450:4001::5', bytes: 70000 },
        { src: '2a00:1450:4001::5', dst: '2001:db8:1:2::20', bytes: 900000 },
      ]),
    ]);
    const { page: p, text } = await doctorShows(d, 'ipv6_not_local', '#doctor');
    assert.match(text, /2001:db8:1:2::\/64/);
    await p.close();
  });
});

test('doctor: an export taken on the WAN side, after NAT', async () => {
  await withDaemon(async (d) => {
    const flows = [];
    for (let i = 1; i <= 20; i++) {
      flows.push({ src: '198.51.100.7', dst: `203.0.113.${i}`, bytes: 1000 * i });
      flows.push({ src: `203.0.113.${i}`, dst: '198.51.100.7', bytes: 20000 * i });
    }
    await send(d.udp, [v5(flows.slice(0, 20), 0), v5(flows.slice(20), 20)]);
    const { page: p, text } = await doctorShows(d, 'wan_side_export', '#main');
    assert.match(text, /198\.51\.100\.7/);
    await p.close();
  });
});
