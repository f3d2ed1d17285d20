// Real-browser test of the flowpi web page: Debian's headless Chromium, driven by playwright-core,
// against a running flowpi at $FLOWPI_URL that has been fed the synthetic NetFlow capture.
// Run by scripts/browser-test.sh; saves screenshots to target/browser/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.FLOWPI_URL || '').replace(/\/+$/, '');
if (!BASE) throw new Error('set FLOWPI_URL to the flowpi web address, e.g. http://127.0.0.1:8080');
const PASSWORD = process.env.FLOWPI_PASSWORD || '';
if (!PASSWORD) throw new Error('set FLOWPI_PASSWORD to the password flowpi generated at first start');
// For requests this script makes itself (not the browser's): HTTP Basic, as a script would.
const BASIC = { Authorization: `Basic ${Buffer.from(`flowpi:${PASSWORD}`).toString('base64')}` };

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.resolve(HERE, '..', '..', 'target', 'browser');
const HOSTS = ['192.168.1.10', '192.168.1.11', '192.168.1.12'];
const WAIT = 30_000;

let browser;
let context;
let page;
const consoleErrors = [];
const badResponses = [];

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

async function newPage(viewport) {
  const p = await context.newPage();
  if (viewport) await p.setViewportSize(viewport);
  return p;
}

// Every <img class="graph"> in `scope` that has finished loading, with its size and requested size.
async function graphImages(p, selector) {
  return p.$$eval(selector, (imgs) => imgs.map((img) => {
    const u = new URL(img.src);
    return {
      src: u.pathname + u.search,
      complete: img.complete,
      naturalWidth: img.naturalWidth,
      naturalHeight: img.naturalHeight,
      width: Number(u.searchParams.get('width')),
      height: Number(u.searchParams.get('height')),
      t: u.searchParams.get('t'),
    };
  }));
}

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
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  page = await newPage();
  watchPage(page, consoleErrors, badResponses);
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
  // style.css applied: the body background is not the browser default white.
  const bg = await page.evaluate(() => getComputedStyle(document.body.parentElement).backgroundColor);
  assert.notEqual(bg, 'rgba(0, 0, 0, 0)');
  const icon = await page.evaluate(async () => (await fetch('/favicon.svg')).headers.get('content-type'));
  assert.match(icon || '', /image\/svg\+xml/);
});

test('the footer shows version, uptime and counts from /api/status', async () => {
  const status = await (await fetch(`${BASE}/api/status`, { headers: BASIC })).json();
  await page.waitForFunction((v) => document.getElementById('status').textContent.includes(`flowpi ${v}`),
    status.version, { timeout: WAIT });
  const text = await page.textContent('#status');
  assert.match(text, /up \d+/);
  assert.match(text, /\d+ hosts?/);
  assert.match(text, /flow records/);
  assert.ok(await page.isVisible('#status'));
});

test('top talkers lists the replayed hosts with non-zero totals', async () => {
  for (const ip of HOSTS) {
    await page.waitForSelector(`#hosts tbody tr[data-ip="${ip}"]`, { timeout: WAIT });
  }
  assert.ok(await page.isVisible('#hosts'));
  assert.ok(await page.isHidden('#empty'), 'the empty state is hidden once hosts exist');
  for (const ip of HOSTS) {
    const row = page.locator(`#hosts tbody tr[data-ip="${ip}"]`);
    const total = (await row.locator('td.total .v').textContent()).trim();
    const m = total.match(/^([\d.]+) (B|KB|MB|GB|TB|PB)$/);
    assert.ok(m, `total of ${ip} looks like a size: ${total}`);
    assert.ok(Number(m[1]) > 0, `total of ${ip} is non-zero: ${total}`);
    assert.match(await row.locator('th').textContent(), new RegExp(ip.replace(/\./g, '\\.')));
    const barWidth = await row.locator('.bar').evaluate((bar) => {
      const spans = bar.querySelectorAll('span');
      return Array.from(spans).reduce((w, s) => w + s.getBoundingClientRect().width, 0);
    });
    assert.ok(barWidth > 0, `${ip} has a visible proportional bar`);
  }
  // Busiest first, as the API orders them.
  const api = await (await fetch(`${BASE}/api/hosts`, { headers: BASIC })).json();
  const shown = await page.$$eval('#hosts tbody tr', (rows) => rows.map((r) => r.dataset.ip));
  assert.deepEqual(shown, api.map((r) => r.ip));
});

test('applications are listed busiest first, and one opens its graphs', async () => {
  const api = await (await fetch(`${BASE}/api/applications`, { headers: BASIC })).json();
  assert.ok(api.length > 0);
  await page.waitForSelector(`#applications tbody tr[data-app="${api[0].name}"]`, { timeout: WAIT });
  const shown = await page.$$eval('#applications tbody tr', (rows) => rows.map((r) => r.dataset.app));
  assert.deepEqual(shown, api.map((a) => a.name));
  await page.click(`#applications tbody tr[data-app="${api[0].name}"] .host-link`);
  await page.waitForSelector('#detail[open]', { timeout: WAIT });
  await page.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('#detail img.graph'));
    return imgs.length === 5 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout: WAIT });
  const srcs = (await graphImages(page, '#detail img.graph')).map((i) => i.src.split('?')[0]);
  assert.equal(srcs[1], `/graph/application/${api[0].name}/day.png`);
  assert.ok(await page.isHidden('#detail-lists'), 'host lists belong to hosts only');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#detail:not([open])', { state: 'attached', timeout: WAIT });
});

test('the interfaces seen in the flows are listed', async () => {
  await page.waitForSelector('#interfaces [data-exporter][data-ifindex]', { timeout: WAIT });
  const n = await page.locator('#interfaces [data-exporter][data-ifindex]').count();
  const api = await (await fetch(`${BASE}/api/interfaces`, { headers: BASIC })).json();
  assert.ok(n >= 1, 'at least one interface element');
  assert.equal(n, api.length, 'one element per interface from /api/interfaces');
});

test('host graphs really load, at the requested size', async () => {
  const sel = HOSTS.map((ip) => `#host-graphs [data-host="${ip}"] img.graph`).join(', ');
  await page.waitForFunction((s) => {
    const imgs = document.querySelectorAll(s);
    return imgs.length === 3 && Array.from(imgs).every((i) => i.complete && i.naturalWidth > 0);
  }, sel, { timeout: WAIT });
  for (const img of await graphImages(page, sel)) {
    assert.match(img.src, /^\/graph\/host\/192\.168\.1\.1[0-2]\/day\.png\?/);
    assert.ok(img.width >= 200, `a width was requested: ${img.src}`);
    assert.equal(img.naturalWidth, img.width, `PNG is as wide as requested: ${img.src}`);
    assert.equal(img.naturalHeight, img.height, `PNG is as high as requested: ${img.src}`);
  }
  // Interface graphs too.
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#interfaces img.graph'))
    .some((i) => i.complete && i.naturalWidth > 0), null, { timeout: WAIT });
});

test('the page refreshes its graphs by itself, without ever dropping the picture', async () => {
  const sel = '#host-graphs [data-host="192.168.1.10"] img.graph';
  const first = (await graphImages(page, sel))[0];
  assert.ok(first && first.t, 'graph URL carries a cache-busting t parameter');
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

test('the week button switches every graph to the week', async () => {
  await page.click('button[data-period="week"]');
  assert.equal(await page.getAttribute('button[data-period="week"]', 'aria-pressed'), 'true');
  assert.equal(await page.getAttribute('button[data-period="day"]', 'aria-pressed'), 'false');
  await page.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('#host-graphs img.graph, #interfaces img.graph'));
    return imgs.length > 0 && imgs.every((i) => i.src.includes('/week.png') && i.complete && i.naturalWidth > 0);
  }, null, { timeout: WAIT });
  const frames = await page.locator('#host-graphs .graph-frame, #interfaces .graph-frame').count();
  const imgs = await graphImages(page, '#host-graphs img.graph, #interfaces img.graph');
  assert.equal(imgs.length, frames, 'every graph slot shows a week graph');
  assert.match(await page.textContent('#host-graphs-section h2'), /7 days/);
});

test('clicking a host shows its graphs for all five periods', async () => {
  await page.click('#hosts tbody tr[data-ip="192.168.1.10"] .host-link');
  await page.waitForSelector('#detail[open]', { timeout: WAIT });
  assert.match(await page.textContent('#detail-title'), /192\.168\.1\.10/);
  await page.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('#detail img.graph'));
    return imgs.length === 5 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout: WAIT });
  const srcs = (await graphImages(page, '#detail img.graph')).map((i) => i.src.split('?')[0]);
  assert.deepEqual(srcs, ['hour', 'day', 'week', 'month', 'year'].map((p) => `/graph/host/192.168.1.10/${p}.png`));
  // Its applications and peers, as the API gives them.
  const detail = await (await fetch(`${BASE}/api/hosts/192.168.1.10`, { headers: BASIC })).json();
  assert.ok(detail.applications.length > 0 && detail.peers.length > 0);
  await page.waitForSelector('#detail-lists:not([hidden])', { timeout: WAIT });
  const apps = await page.$$eval('#detail-apps tbody th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(apps, detail.applications.map((a) => a.name));
  const peers = await page.$$eval('#detail-peers tbody th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(peers, detail.peers.map((p) => p.ip));
  await page.screenshot({ path: path.join(SHOTS, 'detail.png') });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#detail:not([open])', { state: 'attached', timeout: WAIT });
});

test('desktop screenshot', async () => {
  await page.click('button[data-period="day"]');
  await page.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('#host-graphs img.graph'));
    return imgs.length > 0 && imgs.every((i) => i.src.includes('/day.png') && i.naturalWidth > 0);
  }, null, { timeout: WAIT });
  await page.waitForTimeout(400); // let the fade settle
  await page.screenshot({ path: path.join(SHOTS, 'page.png'), fullPage: true });
});

test('no console errors on the page', () => {
  assert.deepEqual(consoleErrors, []);
});

test('on a phone the page fits the screen', async () => {
  const errors = [];
  const p = await newPage({ width: 390, height: 844 });
  watchPage(p, errors, []);
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  await p.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('#host-graphs img.graph'));
    return imgs.length >= 3 && imgs.every((i) => i.naturalWidth > 0);
  }, null, { timeout: WAIT });
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (overflow ${overflow}px)`);
  for (const img of await graphImages(p, '#host-graphs img.graph')) {
    // Narrow boxes get graphs wide enough for rrdtool's one-line legend (480 px), scaled to fit.
    assert.ok(img.width <= 480, `phone graphs are not requested at desktop size: ${img.src}`);
    assert.equal(img.naturalWidth, img.width);
  }
  const shownWidths = await p.$$eval('#host-graphs img.graph', (imgs) => imgs.map((i) => i.getBoundingClientRect().right));
  assert.ok(shownWidths.every((r) => r <= 390), `graphs fit the screen: ${shownWidths}`);
  await p.screenshot({ path: path.join(SHOTS, 'page-mobile.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await p.close();
});

test('empty state when no flows have arrived', async () => {
  const p = await newPage();
  await p.route('**/api/hosts', (r) => r.fulfill({ json: [] }));
  await p.route('**/api/interfaces', (r) => r.fulfill({ json: [] }));
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  await p.waitForSelector('#empty', { state: 'visible', timeout: WAIT });
  const text = await p.textContent('#empty');
  assert.match(text, /No flows received yet — point your router's NetFlow export at this device, UDP port 2055/);
  assert.ok(await p.isHidden('#hosts'));
  assert.equal(await p.locator('img.graph').count(), 0);
  await p.screenshot({ path: path.join(SHOTS, 'empty.png') });
  await p.close();
});

test('a graph the server cannot draw yet shows a placeholder, never a broken image; IPv6 is percent-encoded', async () => {
  const p = await newPage();
  const graphAnswers = new Map();
  p.on('response', (r) => {
    if (r.url().includes('/graph/')) graphAnswers.set(new URL(r.url()).pathname, r.status());
  });
  const real = await (await fetch(`${BASE}/api/hosts`, { headers: BASIC })).json();
  const extra = [
    { ip: 'other', rx_bytes: 10, tx_bytes: 5, rx_packets: 1, tx_packets: 1 },
    { ip: 'fd00:1::10', rx_bytes: 3, tx_bytes: 2, rx_packets: 1, tx_packets: 1 },
  ];
  await p.route('**/api/hosts', (r) => r.fulfill({ json: real.concat(extra) }));
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  const v6 = '#host-graphs [data-host="fd00:1::10"]';
  await p.waitForSelector(`${v6} .graph-frame.is-missing .graph-placeholder`, { timeout: WAIT });
  assert.equal(await p.locator(`${v6} img`).count(), 0, 'no <img> left in a frame whose graph failed');
  assert.equal(graphAnswers.get('/graph/host/fd00%3A1%3A%3A10/day.png'), 404,
    `the server understood the encoded IPv6 address and has no archive for it: ${JSON.stringify([...graphAnswers])}`);
  assert.ok(graphAnswers.has('/graph/host/other/day.png'), 'the "other" row asks for /graph/host/other/day.png');
  assert.ok(await p.isVisible('#hosts tbody tr[data-ip="other"]'));
  // The real hosts still load, and nothing on the page is a broken image.
  await p.waitForFunction(() => document.querySelectorAll('#host-graphs img.graph').length >= 3, null, { timeout: WAIT });
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
  await Promise.all([p.waitForNavigation(), p.click('#logout button')]);
  assert.equal(new URL(p.url()).pathname, '/login');
  const status = await p.evaluate(async () => (await fetch('/api/hosts')).status);
  assert.equal(status, 401);
  await p.goto(`${BASE}/`, { waitUntil: 'load' });
  assert.equal(new URL(p.url()).pathname, '/login', 'the page asks again');
  await p.close();
});
