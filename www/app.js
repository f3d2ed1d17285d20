/* flowpi page logic: one period (now, today, … or a custom range) drives every table and graph;
   polls the API each step, renders the devices table, the overview graph with its figures as
   text, applications, interfaces, routers and the doctor's findings, and a page per device
   (#host/IP). Graphs are fetched, not just pointed at, so their figures can be shown as text. */
'use strict';

(() => {
  const PERIODS = ['now', 'today', 'yesterday', 'week', 'month', 'cycle', 'custom'];
  const PERIOD_TEXT = {
    now: 'last hour',
    today: 'today',
    yesterday: 'yesterday',
    week: 'this week',
    month: 'this month',
    cycle: 'this billing cycle',
  };
  const SPANS = ['hour', 'day', 'week', 'month', 'year'];
  const SPAN_TEXT = {
    hour: 'Last hour',
    day: 'Last 24 hours',
    week: 'Last 7 days (with peaks)',
    month: 'Last 31 days (with peaks)',
    year: 'Last 12 months (with peaks)',
  };
  const TOP_DEVICES = 10;         // rows shown before "show all"
  const OVERVIEW_DEVICES = 8;     // stacked in the overview graph
  const PARALLEL_GRAPHS = 2;      // the daemon renders graphs one at a time: don't flood it
  const MIN_REFRESH_SECONDS = 5;
  const WIDTH_RANGE = [200, 3000]; // what the server accepts
  const HEIGHT_RANGE = [100, 2000];
  const NARROWEST_GRAPH = 480;     // rrdtool's legend line fits from here on

  const state = {
    period: savedPeriod(),
    custom: { from: '', to: '' },
    zone: '',
    step: 60,
    status: null,
    hosts: [],
    hostsMeta: null,
    interfaces: [],
    apps: [],
    exporters: [],
    doctor: [],
    overview: null,
    sort: { key: 'total', desc: true },
    showAll: false,
    search: '',
    route: { kind: 'overview' },
    stamp: Math.floor(Date.now() / 1000),
    timer: 0,
    loaded: false,
    busy: false,
    again: false,
  };

  const $ = (id) => document.getElementById(id);

  /* ---------- small helpers ---------- */

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  function clamp(n, [lo, hi]) {
    return Math.min(hi, Math.max(lo, n));
  }

  function num(n) {
    const v = Number(n);
    return Number.isFinite(v) && v > 0 ? v : 0;
  }

  // One number format, the browser's locale, for every figure on the page.
  const formats = new Map();
  function fmtNumber(v, digits) {
    if (!formats.has(digits)) {
      formats.set(digits, new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
    }
    return formats.get(digits).format(v);
  }

  function scaled(v, units, base) {
    let i = 0;
    while (v >= base && i < units.length - 1) {
      v /= base;
      i++;
    }
    const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
    return `${fmtNumber(v, digits)} ${units[i]}`;
  }

  // Totals in bytes (powers of 1000, as the graphs), rates in bits per second.
  const fmtBytes = (n) => scaled(num(n), ['B', 'kB', 'MB', 'GB', 'TB', 'PB'], 1000);
  const fmtRate = (n) => scaled(num(n), ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'], 1000);

  function fmtCount(n) {
    return fmtNumber(num(n), 0);
  }

  function plural(n, word) {
    return `${fmtCount(n)} ${word}${num(n) === 1 ? '' : 's'}`;
  }

  function fmtPackets(n) {
    const v = num(n);
    const word = v === 1 ? 'packet' : 'packets';
    if (v < 10000) return `${fmtCount(v)} ${word}`;
    for (const [size, unit] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
      if (v >= size) return `${fmtNumber(v / size, v / size < 10 ? 1 : 0)}${unit} ${word}`;
    }
    return `${v} ${word}`;
  }

  function fmtDuration(seconds) {
    let s = Math.floor(num(seconds));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const hrs = Math.floor(s / 3600);
    s -= hrs * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d > 0) return `${d}d ${hrs}h`;
    if (hrs > 0) return `${hrs}h ${m}m`;
    if (m > 0) return `${m}m ${s}s`;
    return `${s}s`;
  }

  // Times are shown in the daemon's configured zone, the one its graphs and periods use.
  function fmtTime(unix, withDate) {
    const opts = withDate
      ? { dateStyle: 'medium', timeStyle: 'short' }
      : { hour: '2-digit', minute: '2-digit', second: '2-digit' };
    try {
      return new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: state.zone || undefined }, opts)).format(new Date(unix * 1000));
    } catch (_) {
      return new Intl.DateTimeFormat(undefined, opts).format(new Date(unix * 1000));
    }
  }

  function fmtAgo(unix) {
    if (!unix) return '—';
    const s = Math.max(0, Math.floor(Date.now() / 1000) - unix);
    if (s < 90) return 'just now';
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return fmtTime(unix, true);
  }

  function savedPeriod() {
    try {
      const p = localStorage.getItem('flowpi.period2');
      if (PERIODS.includes(p) && p !== 'custom') return p;
    } catch (_) { /* storage may be disabled */ }
    return 'today';
  }

  function savePeriod(p) {
    try {
      localStorage.setItem('flowpi.period2', p);
    } catch (_) { /* storage may be disabled */ }
  }

  class HttpError extends Error {
    constructor(path, status) {
      super(`${path} answered HTTP ${status}`);
      this.status = status;
    }
  }

  async function getJSON(path) {
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = abort ? setTimeout(() => abort.abort(), 15000) : 0;
    try {
      const resp = await fetch(path, {
        cache: 'no-store',
        headers: { Accept: 'application/json' },
        signal: abort ? abort.signal : undefined,
      });
      if (resp.status === 401) {
        // The session ended (expired, or the password was changed): back to the login form,
        // unless the logout form is on its way there already (a second navigation would abort it).
        if (!leaving) location.assign('/login');
        throw new Error('logged out');
      }
      if (!resp.ok) throw new HttpError(path, resp.status);
      return await resp.json();
    } catch (err) {
      if (err && err.name === 'AbortError') throw new Error(`${path} did not answer within 15 s`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  // A windowed answer is an envelope {from, to, …, rows}; a since-start one a plain list.
  const rowsOf = (v) => (Array.isArray(v) ? v : v && Array.isArray(v.rows) ? v.rows : []);

  /* ---------- the period: one window for every table and graph ---------- */

  function windowQuery() {
    if (state.period === 'now') return `from=${Math.floor(Date.now() / 1000) - 3600}`;
    if (state.period === 'custom') {
      return `from=${encodeURIComponent(state.custom.from)}&to=${encodeURIComponent(state.custom.to)}`;
    }
    return `period=${state.period}`;
  }

  // The period as chosen (the "now" window moves, its key does not).
  function windowKey() {
    return state.period === 'custom' ? `custom ${state.custom.from} ${state.custom.to}` : state.period;
  }

  // The rolling span a graph URL names; the window in its query decides what it covers.
  function windowSpan() {
    switch (state.period) {
      case 'now': return 'hour';
      case 'today': case 'yesterday': return 'day';
      case 'week': return 'week';
      case 'custom': {
        const secs = (Date.parse(state.custom.to) - Date.parse(state.custom.from)) / 1000;
        return secs <= 7200 ? 'hour' : secs <= 2 * 86400 ? 'day' : secs <= 10 * 86400 ? 'week' : secs <= 62 * 86400 ? 'month' : 'year';
      }
      default: return 'month';
    }
  }

  function periodText() {
    if (state.period !== 'custom') return PERIOD_TEXT[state.period];
    const m = state.hostsMeta;
    return m && m.from ? `${m.from.replace('T', ' ').slice(0, 16)} – ${m.to.replace('T', ' ').slice(0, 16)}` : 'custom range';
  }

  /* ---------- subjects (a host, an interface or an application) ---------- */

  // A device of several addresses also has `addresses` (and `mac` when known); one known by its
  // MAC alone goes by the MAC's link-local address, which nobody would recognise: shown as the MAC.
  function hostSubject(row) {
    return {
      kind: 'host',
      ip: String(row.ip),
      name: row.name ? String(row.name) : null,
      mac: row.mac ? String(row.mac) : null,
      addresses: Array.isArray(row.addresses) ? row.addresses.map(String) : [],
    };
  }

  // "192.168.1.20 +2": the device's first IPv4 address (else its first), and how many more.
  function addressSummary(s) {
    if (!s.addresses.length) return s.ip;
    const first = s.addresses.find((a) => !a.includes(':')) || s.addresses[0];
    return s.addresses.length > 1 ? `${first} +${s.addresses.length - 1}` : first;
  }

  function appSubject(row) {
    return { kind: 'application', name: String(row.name) };
  }

  function ifaceSubject(row) {
    const other = row.exporter === 'other' || row.ifindex === null || row.ifindex === undefined;
    return {
      kind: 'interface',
      exporter: String(row.exporter),
      ifindex: other ? null : row.ifindex,
      name: row.name ? String(row.name) : null,
      wan: row.wan === true,
    };
  }

  function subjectKey(s) {
    if (s.kind === 'overview') return 'overview';
    if (s.kind === 'application') return `app:${s.name}`;
    return s.kind === 'host' ? `host:${s.ip}` : `if:${s.exporter}/${s.ifindex === null ? '' : s.ifindex}`;
  }

  function subjectPath(s) {
    if (s.kind === 'overview') return 'overview';
    if (s.kind === 'application') return `application/${encodeURIComponent(s.name)}`;
    if (s.kind === 'host') return s.ip === 'other' ? 'host/other' : `host/${encodeURIComponent(s.ip)}`;
    if (s.ifindex === null) return 'interface/other';
    return `interface/${encodeURIComponent(s.exporter)}/${encodeURIComponent(s.ifindex)}`;
  }

  // The page's own address for a subject: linkable, and what the back button returns to.
  function subjectHash(s) {
    return `#${subjectPath(s)}`;
  }

  function subjectName(s) {
    if (s.kind === 'overview') return 'Top devices';
    if (s.kind === 'application') return s.name === 'other' ? 'Other ports' : s.name;
    if (s.kind === 'host') {
      if (s.ip === 'other') return 'Other devices';
      return s.name || (s.mac ? `Device ${s.mac}` : s.ip);
    }
    if (s.ifindex === null) return 'Other interfaces';
    if (s.name) return `${s.name} (${s.exporter}, interface ${s.ifindex})`;
    // ifIndex 0: the exporter did not say which interface (softflowd, for one, always sends 0).
    return `${s.exporter} · interface ${s.ifindex}${Number(s.ifindex) === 0 ? ' (unspecified)' : ''}`;
  }

  /* ---------- graphs: fetched (for their figures), swapped in only when decoded ---------- */

  const queue = [];
  let inflight = 0;

  function schedule(job) {
    queue.push(job);
    pump();
  }

  function pump() {
    while (inflight < PARALLEL_GRAPHS && queue.length) {
      const job = queue.shift();
      inflight++;
      job().finally(() => {
        inflight--;
        pump();
      });
    }
  }

  // A graph slot: `fixed` is a rolling span (hour … year) or null to follow the period.
  function graphFrame(subject, fixed, figures) {
    const frame = h('div', { class: 'graph-frame is-loading' },
      h('div', { class: 'graph-placeholder' }, 'Loading graph…'));
    frame.flowpiGraph = graphState(subject, fixed, figures);
    return frame;
  }

  function graphState(subject, fixed, figures) {
    const legend = subject.kind === 'interface' ? ['In', 'Out'] : ['Received', 'Sent'];
    return { subject, fixed: fixed || null, token: 0, shown: null, figures: figures || null, legend };
  }

  function graphSize(frame) {
    const w = Math.floor(frame.clientWidth);
    if (w < 50) return null; // not laid out (hidden)
    // rrdtool's legend needs about 480 px on one line: narrower boxes get a 480 px graph scaled
    // down (smaller text) rather than a legend that wraps into a jumble.
    const width = clamp(Math.max(w, NARROWEST_GRAPH), WIDTH_RANGE);
    const tall = frame.flowpiGraph && frame.flowpiGraph.subject.kind === 'overview';
    const ratio = w < 640 ? 0.55 : tall ? 0.42 : 0.36;
    const height = clamp(Math.round(width * ratio), [Math.max(HEIGHT_RANGE[0], 170), tall ? 420 : 340]);
    return { width, height };
  }

  function graphUrl(g, size, stamp) {
    const span = g.fixed || windowSpan();
    let url = `/graph/${subjectPath(g.subject)}/${span}.png?width=${size.width}&height=${size.height}&t=${stamp}`;
    if (!g.fixed) url += `&${windowQuery()}`;
    if (g.subject.kind === 'overview') url += `&n=${OVERVIEW_DEVICES}`;
    return url;
  }

  // "in=123, out=456" (or "123,456") from a graph header.
  function pair(v) {
    if (!v) return null;
    const named = {};
    for (const m of v.matchAll(/([a-z_]+)=([^,\s]+)/g)) named[m[1]] = Number(m[2]);
    if (Object.keys(named).length >= 2) {
      const vals = Object.values(named);
      return [vals[0], vals[1]];
    }
    const parts = v.split(',').map((x) => Number(x.trim()));
    return parts.length >= 2 ? parts : null;
  }

  // The graph's figures as text: what its legend says, from the same rendering.
  function showFigures(g, headers) {
    if (!g.figures || g.subject.kind === 'overview') return;
    const totals = pair(headers.get('x-graph-totals'));
    const p95 = pair(headers.get('x-graph-p95'));
    const peak = pair(headers.get('x-graph-max'));
    const items = [0, 1].map((k) => {
      const parts = [];
      if (totals) parts.push(`total ${fmtBytes(totals[k])}`);
      if (peak && Number.isFinite(peak[k])) parts.push(`peak ${fmtRate(peak[k])}`);
      // "none" in the header: too few rows known yet for a percentile that means anything.
      if (p95) parts.push(`95th percentile ${Number.isFinite(p95[k]) ? fmtRate(p95[k]) : '—'}`);
      return h('li', null, h('span', { class: `key key-${k === 0 ? 'rx' : 'tx'}`, 'aria-hidden': 'true' }),
        h('strong', null, `${g.legend[k]}: `), parts.join(' · '));
    });
    g.figures.replaceChildren(...items);
  }

  function showPlaceholder(frame, text, kind) {
    for (const img of frame.querySelectorAll('img')) img.remove();
    let ph = frame.querySelector('.graph-placeholder');
    if (!ph) {
      ph = h('div', { class: 'graph-placeholder' });
      frame.append(ph);
    }
    setText(ph, text);
    frame.classList.toggle('is-missing', kind === 'missing');
    frame.classList.toggle('is-loading', kind === 'loading');
    frame.classList.remove('is-switching');
  }

  function loadGraph(frame, stamp) {
    const g = frame.flowpiGraph;
    if (!g || !frame.isConnected) return;
    const size = graphSize(frame);
    if (!size) return;
    const url = graphUrl(g, size, stamp);
    // What the picture shows, whatever its refresh stamp: a new one is a switch, not a refresh.
    const look = `${g.fixed || windowKey()} ${size.width}x${size.height}`;
    const token = ++g.token;
    if (!g.shown) frame.style.aspectRatio = `${size.width} / ${size.height}`;
    else if (g.shown.look !== look) frame.classList.add('is-switching');

    schedule(async () => {
      if (token !== g.token || !frame.isConnected) return;
      let resp;
      try {
        resp = await fetch(url, { cache: 'no-store' });
      } catch (_) {
        resp = null;
      }
      if (resp && resp.status === 401) {
        if (!leaving) location.assign('/login');
        return;
      }
      if (!resp || !resp.ok) {
        if (token === g.token && frame.isConnected) {
          if (g.shown && g.shown.look === look) {
            // A passing hiccup (the daemon is busy): keep the picture we have, retry next time.
            frame.classList.remove('is-switching');
          } else {
            g.shown = null;
            showPlaceholder(frame, resp && resp.status === 404
              ? 'No graph yet — it appears after the next update'
              : 'The graph could not be drawn just now', 'missing');
          }
        }
        return;
      }
      const blob = await resp.blob();
      if (token !== g.token || !frame.isConnected) return;
      const src = URL.createObjectURL(blob);
      const img = new Image(size.width, size.height);
      img.className = 'graph';
      img.alt = `Traffic of ${subjectName(g.subject)}, ${g.fixed ? SPAN_TEXT[g.fixed].toLowerCase() : periodText()}`;
      img.dataset.src = url;
      await new Promise((resolve) => {
        img.onload = resolve;
        img.onerror = resolve;
        img.src = src;
      });
      await img.decode().catch(() => {});
      if (token === g.token && frame.isConnected && img.naturalWidth > 0) {
        for (const old of frame.querySelectorAll('img, .graph-placeholder')) {
          if (old.tagName === 'IMG') URL.revokeObjectURL(old.src);
          old.remove();
        }
        frame.append(img);
        frame.style.aspectRatio = `${size.width} / ${size.height}`;
        frame.classList.remove('is-loading', 'is-missing', 'is-switching');
        g.shown = { look, width: size.width, height: size.height };
        showFigures(g, resp.headers);
      } else {
        URL.revokeObjectURL(src);
      }
    });
  }

  function visibleFrames() {
    const view = state.route.kind === 'overview' ? $('overview-view') : $('detail-view');
    return view.querySelectorAll('.graph-frame');
  }

  function reloadGraphs(newStamp) {
    if (newStamp) state.stamp = Math.floor(Date.now() / 1000);
    for (const frame of visibleFrames()) loadGraph(frame, state.stamp);
  }

  // Re-render a graph when its box changes width (window resize, scrollbar, rotation).
  let resizeTimer = 0;
  const resized = new Set();
  const resizeObserver = typeof ResizeObserver === 'function'
    ? new ResizeObserver((entries) => {
      for (const e of entries) {
        const g = e.target.flowpiGraph;
        if (!g) continue;
        const size = graphSize(e.target);
        if (size && (!g.shown || Math.abs(size.width - g.shown.width) >= 4)) resized.add(e.target);
      }
      if (resized.size) {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(() => {
          for (const f of resized) loadGraph(f, state.stamp);
          resized.clear();
        }, 300);
      }
    })
    : null;

  function watch(frame) {
    if (resizeObserver) resizeObserver.observe(frame);
  }

  /* ---------- keyed list rendering (moves nodes, never rebuilds them) ---------- */

  function reconcile(container, items, keyOf, create, update) {
    const existing = new Map();
    for (const child of Array.from(container.children)) existing.set(child.dataset.key, child);
    let prev = null;
    const added = [];
    for (const item of items) {
      const key = keyOf(item);
      let node = existing.get(key);
      if (node) existing.delete(key);
      else {
        node = create(item);
        node.dataset.key = key;
        added.push(node);
      }
      update(node, item);
      const want = prev ? prev.nextSibling : container.firstChild;
      if (node !== want) container.insertBefore(node, want);
      prev = node;
    }
    for (const node of existing.values()) {
      for (const f of node.querySelectorAll('.graph-frame')) if (resizeObserver) resizeObserver.unobserve(f);
      node.remove();
    }
    return added;
  }

  /* ---------- devices ---------- */

  const total = (r) => num(r.rx_bytes) + num(r.tx_bytes);
  const nowRate = (r) => num(r.now_rx_bps) + num(r.now_tx_bps);

  const SORTS = {
    name: (a, b) => (a.name || a.ip).localeCompare(b.name || b.ip, undefined, { numeric: true }),
    now: (a, b) => nowRate(a) - nowRate(b),
    rx: (a, b) => num(a.rx_bytes) - num(b.rx_bytes),
    tx: (a, b) => num(a.tx_bytes) - num(b.tx_bytes),
    total: (a, b) => total(a) - total(b),
    seen: (a, b) => num(a.last_seen) - num(b.last_seen),
  };

  function sortedHosts() {
    const cmp = SORTS[state.sort.key] || SORTS.total;
    const rows = state.hosts.slice();
    rows.sort((a, b) => (state.sort.desc ? -cmp(a, b) : cmp(a, b)) || total(b) - total(a) || String(a.ip).localeCompare(String(b.ip)));
    return rows;
  }

  function matches(r, q) {
    if (!q) return true;
    const addresses = Array.isArray(r.addresses) ? r.addresses.map(String) : [];
    return [String(r.ip), r.name, r.mac, ...addresses].some((v) => v && String(v).toLowerCase().includes(q));
  }

  /* ---------- cells shared by the devices and applications tables ---------- */

  function figureCell(cls) {
    return h('td', { class: cls }, h('span', { class: 'v' }), h('span', { class: 'sub' }));
  }

  // Received, sent and the total with its share and a bar scaled to the busiest row.
  function bytesCells() {
    return [figureCell('num rx'), figureCell('num tx'), h('td', { class: 'total' },
      h('div', { class: 'total-line' }, h('span', { class: 'v' }), h('span', { class: 'pct' })),
      h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'bar-rx' }), h('span', { class: 'bar-tx' })),
      h('span', { class: 'split sub' }))];
  }

  function fillBytes(tr, row, maxTotal, sumTotal) {
    const t = total(row);
    setText(tr.querySelector('.rx .v'), fmtBytes(row.rx_bytes));
    setText(tr.querySelector('.rx .sub'), fmtPackets(row.rx_packets));
    setText(tr.querySelector('.tx .v'), fmtBytes(row.tx_bytes));
    setText(tr.querySelector('.tx .sub'), fmtPackets(row.tx_packets));
    setText(tr.querySelector('.total .v'), fmtBytes(t));
    setText(tr.querySelector('.total .split'), `↓ ${fmtBytes(row.rx_bytes)} ↑ ${fmtBytes(row.tx_bytes)}`);
    const pct = sumTotal > 0 ? (100 * t) / sumTotal : 0;
    setText(tr.querySelector('.total .pct'), pct >= 0.1 ? `${fmtNumber(pct, pct < 10 ? 1 : 0)} %` : '');
    const scale = maxTotal > 0 ? 100 / maxTotal : 0;
    tr.querySelector('.bar-rx').style.width = `${num(row.rx_bytes) * scale}%`;
    tr.querySelector('.bar-tx').style.width = `${num(row.tx_bytes) * scale}%`;
  }

  function createHostRow(row) {
    const s = hostSubject(row);
    const tr = h('tr', { 'data-ip': s.ip, class: s.ip === 'other' ? 'is-other' : null });
    const link = h('a', { class: s.ip.includes(':') ? 'host-link is-v6' : 'host-link', href: subjectHash(s) });
    const who = h('th', { scope: 'row' }, link, h('span', { class: 'addr' }), h('span', { class: 'seen-inline sub' }));
    tr.append(who, figureCell('num now'), ...bytesCells(), h('td', { class: 'seen' }));
    // The whole row opens the device; the link inside is what the keyboard reaches.
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      location.hash = subjectHash(s);
    });
    return tr;
  }

  function updateHostRow(tr, row, maxTotal, sumTotal) {
    const s = hostSubject(row);
    const link = tr.querySelector('.host-link');
    setText(link, subjectName(s));
    const shown = s.name || s.mac;
    setText(tr.querySelector('.addr'), s.ip === 'other' ? 'devices beyond archive.max_hosts' : shown ? addressSummary(s) : '');
    tr.dataset.addresses = s.addresses.join(' ');
    // The raw figures, for scripts and tests reading the page.
    tr.dataset.rx = String(num(row.rx_bytes));
    tr.dataset.tx = String(num(row.tx_bytes));
    setText(tr.querySelector('.now .v'), `↓ ${fmtRate(row.now_rx_bps)}`);
    setText(tr.querySelector('.now .sub'), `↑ ${fmtRate(row.now_tx_bps)}`);
    fillBytes(tr, row, maxTotal, sumTotal);
    const seen = tr.querySelector('td.seen');
    setText(seen, fmtAgo(row.last_seen));
    seen.title = row.last_seen ? fmtTime(row.last_seen, true) : 'not since flowpi started';
    setText(tr.querySelector('.seen-inline'), row.last_seen ? `seen ${fmtAgo(row.last_seen)}` : '');
    tr.title = `${subjectName(s)}: ${fmtBytes(row.rx_bytes)} received, ${fmtBytes(row.tx_bytes)} sent`;
  }

  function renderHosts() {
    const q = state.search.trim().toLowerCase();
    const all = sortedHosts().filter((r) => matches(r, q));
    const shown = state.showAll || q ? all : all.slice(0, TOP_DEVICES);
    const maxTotal = state.hosts.reduce((m, r) => Math.max(m, total(r)), 0);
    const sumTotal = state.hosts.reduce((t, r) => t + total(r), 0);
    reconcile($('hosts').tBodies[0], shown, (r) => subjectKey(hostSubject(r)), createHostRow,
      (tr, r) => updateHostRow(tr, r, maxTotal, sumTotal));
    const more = $('more-hosts');
    const hidden = all.length - TOP_DEVICES;
    more.hidden = !!q || hidden <= 0;
    setText(more, state.showAll ? `Show only the top ${TOP_DEVICES}` : `Show all ${all.length} devices`);
    more.setAttribute('aria-expanded', String(state.showAll));
    $('hosts-none').hidden = state.hosts.length > 0;
    setText($('hosts-none'), q && all.length === 0 ? `No device matches “${state.search.trim()}”.` : 'No device had traffic in this period.');
    if (q && all.length === 0) $('hosts-none').hidden = false;
    for (const th of $('hosts').tHead.rows[0].cells) {
      const key = th.dataset.sort;
      th.setAttribute('aria-sort', key === state.sort.key ? (state.sort.desc ? 'descending' : 'ascending') : 'none');
    }
    const m = state.hostsMeta;
    const notes = [];
    if (m && m.note) notes.push(m.note);
    if (m && m.complete === false) notes.push('Part of this period is not in the archives: totals cover what is kept.');
    setText($('talkers-note'), notes.join(' '));
  }

  /* ---------- applications ---------- */

  function createAppRow(row) {
    const s = appSubject(row);
    const tr = h('tr', { 'data-app': s.name });
    const link = h('a', { class: 'host-link', href: subjectHash(s) });
    tr.append(h('th', { scope: 'row' }, link), ...bytesCells());
    tr.addEventListener('click', (e) => {
      if (!e.target.closest('a')) location.hash = subjectHash(s);
    });
    return tr;
  }

  function renderApps(rows) {
    const maxTotal = rows.reduce((m, r) => Math.max(m, total(r)), 0);
    const sumTotal = rows.reduce((t, r) => t + total(r), 0);
    reconcile($('applications').tBodies[0], rows, (r) => subjectKey(appSubject(r)), createAppRow, (tr, r) => {
      setText(tr.querySelector('.host-link'), subjectName(appSubject(r)));
      fillBytes(tr, r, maxTotal, sumTotal);
    });
  }

  /* ---------- overview graph and its figures ---------- */

  function setupOverview() {
    const frame = $('overview-graph');
    frame.flowpiGraph = graphState({ kind: 'overview' }, null, null);
    frame.append(h('div', { class: 'graph-placeholder' }, 'Loading graph…'));
    frame.classList.add('is-loading');
    watch(frame);
  }

  function renderOverview() {
    const o = state.overview;
    const list = $('overview-legend');
    if (!o) {
      list.replaceChildren();
      return;
    }
    const items = (o.hosts || []).map((r) => {
      const s = hostSubject(r);
      return h('li', { 'data-ip': s.ip },
        h('span', { class: 'swatch', style: `background:${/^#[0-9a-f]{6}$/i.test(r.colour) ? r.colour : '#888'}`, 'aria-hidden': 'true' }),
        h('a', { href: subjectHash(s) }, subjectName(s)),
        h('span', { class: 'fig' }, `↓ ${fmtBytes(r.rx_bytes)} ↑ ${fmtBytes(r.tx_bytes)}`));
    });
    if (o.wan) {
      items.push(h('li', { class: 'wan' }, h('span', { class: 'swatch line', 'aria-hidden': 'true' }),
        h('span', null, `Internet (${o.wan.name || 'WAN'})`),
        h('span', { class: 'fig' }, `download ${fmtBytes(o.wan.in_bytes)} · upload ${fmtBytes(o.wan.out_bytes)}`)));
    }
    list.replaceChildren(...items);
    setText($('overview-wan-hint'), o.wan ? 'the line: the internet link' : '');
  }

  /* ---------- interfaces ---------- */

  function graphCard(subject, attrs) {
    const title = h('a', { class: 'card-title', href: subjectHash(subject) }, subjectName(subject));
    const meta = h('span', { class: 'card-meta' });
    const figures = h('ul', { class: 'figures' });
    const frame = graphFrame(subject, null, figures);
    const card = h('figure', Object.assign({ class: 'card graph-card' }, attrs),
      h('figcaption', null, title, meta), frame, figures);
    watch(frame);
    return card;
  }

  function renderInterfaces(rows) {
    const added = reconcile($('interfaces'), rows, (r) => subjectKey(ifaceSubject(r)),
      (r) => {
        const s = ifaceSubject(r);
        return graphCard(s, { 'data-exporter': s.exporter, 'data-ifindex': s.ifindex === null ? '' : s.ifindex });
      },
      (card, r) => {
        const s = ifaceSubject(r);
        setText(card.querySelector('.card-title'), `${s.wan ? 'Internet · ' : ''}${subjectName(s)}`);
        setText(card.querySelector('.card-meta'), `now ↓ ${fmtRate(r.now_in_bps)} ↑ ${fmtRate(r.now_out_bps)}`);
      });
    $('interfaces-empty').hidden = rows.length > 0;
    return added;
  }

  /* ---------- routers and the doctor ---------- */

  const SEVERITY = { error: 0, warning: 1, info: 2 };
  // Findings about one router's export, shown beside it in the routers list.
  const AT_EXPORTER = new Set(['exporter_silent', 'sequence_loss', 'sampling', 'no_wan']);

  function finding(f, tag) {
    const detail = String(f.detail || '');
    return h(tag || 'li', { class: `finding sev-${f.severity}`, 'data-code': f.code },
      h('strong', null, String(f.message || f.code)),
      detail ? h('details', null, h('summary', null, 'What to do'), h('p', { class: 'finding-detail' }, detail)) : null);
  }

  function renderDoctor() {
    const all = state.doctor.slice().sort((a, b) => (SEVERITY[a.severity] ?? 3) - (SEVERITY[b.severity] ?? 3));
    const noHosts = state.status && num(state.status.hosts) === 0;
    // With no device yet, the most severe finding is the page's empty state; the others banners.
    const lead = noHosts ? all.find((f) => f.severity === 'error') || null : null;
    const banners = all.filter((f) => f !== lead && f.severity !== 'info' && !AT_EXPORTER.has(f.code));
    $('doctor').hidden = banners.length === 0;
    $('doctor-list').replaceChildren(...banners.map((f) => finding(f)));

    const empty = $('empty');
    empty.hidden = !noHosts;
    if (noHosts) {
      if (lead) {
        empty.dataset.code = lead.code;
        setText($('empty-lead'), String(lead.message));
        $('empty-help').replaceChildren(h('p', { class: 'finding-detail' }, String(lead.detail || '')));
      } else {
        delete empty.dataset.code;
        setText($('empty-lead'), 'No local device seen yet');
        $('empty-help').replaceChildren(h('p', null, 'This page updates by itself as soon as flows of your network arrive.'));
      }
    }
  }

  function renderExporters() {
    const rows = state.exporters;
    $('exporters-section').hidden = rows.length === 0;
    reconcile($('exporters').tBodies[0], rows, (r) => `${r.address}/${r.version}/${r.domain}`, (r) => {
      return h('tr', { 'data-exporter': r.address },
        h('th', { scope: 'row' }, h('span', { class: 'v' }), h('span', { class: 'sub' })),
        h('td', { class: 'export' }), h('td', { class: 'num records' }), h('td', { class: 'health' }));
    }, (tr, r) => {
      setText(tr.querySelector('th .v'), r.name ? String(r.name) : String(r.address));
      setText(tr.querySelector('th .sub'), r.name ? String(r.address) : '');
      const version = Number(r.version) === 10 ? 'IPFIX' : `NetFlow v${r.version}`;
      const sampling = num(r.sampling_rate) > 1 ? `, sampled 1 in ${fmtCount(r.sampling_rate)}` : '';
      setText(tr.querySelector('.export'), `${version}${sampling}`);
      setText(tr.querySelector('.records'), fmtCount(r.records));
      const mine = state.doctor.filter((f) => AT_EXPORTER.has(f.code) && f.data && f.data.exporter === r.address);
      const health = tr.querySelector('.health');
      if (mine.length === 0) health.replaceChildren(h('span', { class: 'ok' }, 'OK'));
      else health.replaceChildren(...mine.map((f) => finding(f, 'div')));
    });
  }

  /* ---------- at a glance: now, today, this month (with an estimate), the billing cycle ---------- */

  function sum(rows, a, b) {
    return rows.reduce((t, r) => [t[0] + num(r[a]), t[1] + num(r[b])], [0, 0]);
  }

  // `bytes`: the figure shown, for whoever reads the page's data (the browser test).
  function tile(name, main, sub, bytes) {
    const t = document.querySelector(`#glance [data-tile="${name}"]`);
    setText(t.querySelector('.tile-v'), main);
    setText(t.querySelector('.tile-sub'), sub);
    if (bytes === undefined) delete t.dataset.bytes;
    else t.dataset.bytes = String(bytes);
  }

  async function renderGlance() {
    // The internet line's figures: its interface(s), as the server found them (configured,
    // learned from the traffic, or named). Without one the tiles say so: the devices' sum would
    // count a copy between two of them twice and is not what the line carried.
    const wan = state.interfaces.find((r) => r.wan === true);
    const cycleTile = document.querySelector('#glance [data-tile="cycle"]');
    if (!wan) {
      for (const name of ['now', 'today', 'month']) tile(name, '—', 'no internet line known yet');
      cycleTile.hidden = true;
      return;
    }
    const pick = (rows) => rows.filter((r) => r.wan === true);
    const [a, b] = ['in_bytes', 'out_bytes'];
    const now = sum(pick(state.interfaces), 'now_in_bps', 'now_out_bps');
    tile('now', `↓ ${fmtRate(now[0])}`, `↑ ${fmtRate(now[1])} · internet`);
    const get = (p) => getJSON(`/api/interfaces?period=${p}`).then((v) => ({ rows: pick(rowsOf(v)), meta: v })).catch(() => null);
    const [today, month, cycle] = await Promise.all([get('today'), get('month'), get('cycle')]);
    const both = (x) => (x ? sum(x.rows, a, b) : null);
    const t = both(today);
    if (t) tile('today', fmtBytes(t[0] + t[1]), `↓ ${fmtBytes(t[0])} ↑ ${fmtBytes(t[1])}`, t[0] + t[1]);
    const m = both(month);
    if (m) {
      // A straight-line estimate from the time actually counted (since the 1st, or since flowpi
      // began counting if later), said only once a whole day has been: a few minutes' rate
      // times a month is no figure to plan by.
      let est = '';
      const since = month.meta.data_from_unix;
      const nowS = Date.now() / 1000;
      const counted = since ? nowS - since : 0;
      const total = m[0] + m[1];
      if (counted >= 86400 && month.meta.to_unix > nowS) {
        est = ` · about ${fmtBytes(total + (total * (month.meta.to_unix - nowS)) / counted)} by month end`;
      }
      if (since && since > month.meta.from_unix) est += ` · counted since ${String(month.meta.data_from || '').slice(0, 10)}`;
      tile('month', fmtBytes(total), `↓ ${fmtBytes(m[0])} ↑ ${fmtBytes(m[1])}${est}`);
    }
    const c = both(cycle);
    // With the cycle starting on the 1st it is the month: not shown twice.
    const same = cycle && month && cycle.meta.from_unix === month.meta.from_unix;
    cycleTile.hidden = !c || same;
    if (c && !same) {
      tile('cycle', fmtBytes(c[0] + c[1]), `↓ ${fmtBytes(c[0])} ↑ ${fmtBytes(c[1])} · since ${String(cycle.meta.from || '').slice(0, 10)}`);
    }
  }

  /* ---------- a device's (or interface's, or application's) page ---------- */

  function parseRoute() {
    const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
    let m = hash.match(/^host\/(.+)$/);
    if (m) return { kind: 'host', ip: m[1], name: null };
    m = hash.match(/^application\/(.+)$/);
    if (m) return { kind: 'application', name: m[1] };
    if (hash === 'interface/other') return { kind: 'interface', exporter: 'other', ifindex: null, name: null };
    m = hash.match(/^interface\/(.+)\/(\d+)$/);
    if (m) return { kind: 'interface', exporter: m[1], ifindex: Number(m[2]), name: null };
    return { kind: 'overview' };
  }

  function rowOf(s) {
    if (s.kind === 'host') return state.hosts.find((r) => String(r.ip) === s.ip);
    if (s.kind === 'application') return state.apps.find((r) => String(r.name) === s.name);
    return state.interfaces.find((r) => subjectKey(ifaceSubject(r)) === subjectKey(s));
  }

  function renderDetailHead(s) {
    const row = rowOf(s);
    if (s.kind === 'host' && row) Object.assign(s, hostSubject(row));
    if (s.kind === 'interface' && row) Object.assign(s, ifaceSubject(row));
    setText($('detail-title'), subjectName(s));
    document.title = `${subjectName(s)} — flowpi`;
    const meta = [];
    if (s.kind === 'host' && s.ip !== 'other') {
      // A device's addresses, as flowpi gathered them (its [[host]] entry, its MAC).
      const addrs = s.addresses && s.addresses.length ? s.addresses : [s.ip];
      meta.push(`${addrs.length > 1 ? 'Addresses' : 'Address'}: ${addrs.join(', ')}`);
      if (s.mac) meta.push(`MAC ${s.mac}`);
      if (row && row.last_seen) meta.push(`last seen ${fmtAgo(row.last_seen)} (${fmtTime(row.last_seen, true)})`);
      if (row) meta.push(`now ↓ ${fmtRate(row.now_rx_bps)} ↑ ${fmtRate(row.now_tx_bps)}`);
    } else if (row) {
      const [a, b] = s.kind === 'interface' ? ['in_bytes', 'out_bytes'] : ['rx_bytes', 'tx_bytes'];
      meta.push(`${periodText()}: ↓ ${fmtBytes(row[a])} ↑ ${fmtBytes(row[b])}`);
    }
    setText($('detail-meta'), meta.join(' · '));
  }

  async function loadDetailData(s) {
    const lists = $('detail-lists');
    const totals = $('detail-totals');
    if (s.kind !== 'host' || s.ip === 'other') {
      lists.hidden = true;
      totals.replaceChildren();
      return;
    }
    const ip = encodeURIComponent(s.ip);
    const one = (q) => getJSON(`/api/hosts/${ip}?${q}`).catch((e) => (e instanceof HttpError && e.status === 404 ? { empty: true } : null));
    const [today, month, cycle, win] = await Promise.all([one('period=today'), one('period=month'), one('period=cycle'), one(windowQuery())]);
    if (state.route !== s) return; // left the page meanwhile
    const tiles = [['Today', today], ['This month', month], ['Billing cycle', cycle]]
      .filter(([name, v], i) => !(i === 2 && v && month && v.from_unix === month.from_unix))
      .map(([name, v]) => h('div', { class: 'tile' }, h('h3', null, name),
        h('p', { class: 'tile-v' }, v ? fmtBytes(num(v.rx_bytes) + num(v.tx_bytes)) : '—'),
        h('p', { class: 'tile-sub' }, v ? `↓ ${fmtBytes(v.rx_bytes)} ↑ ${fmtBytes(v.tx_bytes)}` : 'not available')));
    totals.replaceChildren(...tiles);

    const row = (name, rx, tx, title) => {
      const tr = h('tr', null, h('th', { scope: 'row' }, name),
        h('td', { class: 'num' }, fmtBytes(rx)), h('td', { class: 'num' }, fmtBytes(tx)));
      if (title) tr.title = title;
      return tr;
    };
    const d = win && !win.empty ? win : { applications: [], peers: [] };
    const apps = Array.isArray(d.applications) ? d.applications : [];
    const peers = Array.isArray(d.peers) ? d.peers : [];
    $('detail-apps').tBodies[0].replaceChildren(...apps.map((a) => row(String(a.name), a.rx_bytes, a.tx_bytes)));
    $('detail-peers').tBodies[0].replaceChildren(...peers.map((p) => row(String(p.ip), p.rx_bytes, p.tx_bytes,
      num(p.error) > 0 ? `up to ${fmtBytes(p.error)} more than shown (more peers than the table keeps)` : null)));
    const appsNote = $('detail-apps-note');
    appsNote.hidden = apps.length > 0;
    setText(appsNote, win && win.empty ? 'No traffic of this device in this period.' : 'No applications recorded for this period.');
    const note = $('detail-peers-note');
    note.hidden = d.peers_exact !== false;
    setText(note, 'More peers than flowpi keeps: the busiest are listed, each with how far it may be off.');
    lists.hidden = false;
  }

  function openDetail(s) {
    state.route = s;
    $('overview-view').hidden = true;
    $('detail-view').hidden = false;
    renderDetailHead(s);
    $('detail-lists').hidden = true;
    loadDetailData(s);
    const box = $('detail-graphs');
    for (const f of box.querySelectorAll('.graph-frame')) if (resizeObserver) resizeObserver.unobserve(f);
    box.replaceChildren();
    // The chosen period first, then every rolling span (peaks kept from a week on).
    const slots = [null, ...SPANS];
    const frames = slots.map((span) => {
      const figures = h('ul', { class: 'figures' });
      const frame = graphFrame(s, span, figures);
      const caption = span ? SPAN_TEXT[span] : `Selected period: ${periodText()}`;
      box.append(h('figure', { class: 'card detail-graph', 'data-period': span || 'selected' },
        h('figcaption', null, caption), frame, figures));
      return frame;
    });
    for (const f of frames) {
      watch(f);
      loadGraph(f, state.stamp);
    }
    $('detail-title').setAttribute('tabindex', '-1');
    $('detail-title').focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  function showOverview() {
    const wasDetail = state.route.kind !== 'overview';
    state.route = { kind: 'overview' };
    document.title = 'flowpi — network traffic';
    $('detail-view').hidden = true;
    $('overview-view').hidden = false;
    for (const f of $('detail-graphs').querySelectorAll('.graph-frame')) if (resizeObserver) resizeObserver.unobserve(f);
    $('detail-graphs').replaceChildren();
    if (wasDetail) reloadGraphs(false);
  }

  function route() {
    const s = parseRoute();
    if (s.kind === 'overview') showOverview();
    else openDetail(s);
  }

  /* ---------- status ---------- */

  function renderStatus(st) {
    const parts = [
      `flowpi ${st.version || ''}`.trim(),
      `up ${fmtDuration(st.uptime_seconds)}`,
      plural(st.hosts, 'device'),
      plural(st.interfaces, 'interface'),
      plural(st.datagrams, 'datagram'),
      plural(st.records, 'flow record'),
      plural(st.decode_errors, 'decode error'),
      `times in ${st.zone || 'the daemon\'s zone'}`,
      `refreshes every ${state.step} s`,
    ];
    // Networks flowpi found to be yours (IPv6 behind the internet line): said, so none surprises.
    const learned = Array.isArray(st.learned_networks) ? st.learned_networks.map((n) => String(n.network)) : [];
    if (learned.length) parts.push(`learned local: ${learned.join(', ')}`);
    const status = $('status');
    status.replaceChildren(...parts.flatMap((p, i) => {
      const span = h('span', { class: i === 6 && num(st.decode_errors) > 0 ? 'warn' : null }, p);
      return i === 0 ? [span] : [h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · '), span];
    }));
  }

  function setLive(ok, text) {
    $('live').classList.toggle('is-down', !ok);
    setText($('live-text'), text);
  }

  function showError(msg) {
    const banner = $('error');
    setText(banner, msg);
    banner.hidden = false;
  }

  /* ---------- the refresh loop ---------- */

  function renderPeriodText() {
    const text = `· ${periodText()}`;
    for (const t of document.querySelectorAll('.period-text')) setText(t, text);
  }

  function render() {
    const hasData = num(state.status && state.status.hosts) > 0 || state.hosts.length > 0;
    $('glance').hidden = !hasData;
    $('overview-section').hidden = !hasData;
    $('talkers').hidden = !hasData;
    $('apps-section').hidden = state.apps.length === 0;
    $('interfaces-section').hidden = state.interfaces.length === 0;
    renderPeriodText();
    renderDoctor();
    renderHosts();
    renderApps(state.apps);
    renderOverview();
    renderExporters();
    const added = renderInterfaces(state.interfaces);
    if (state.route.kind !== 'overview') {
      renderDetailHead(state.route);
      loadDetailData(state.route);
    }
    return added;
  }

  async function refresh() {
    if (state.busy) {
      state.again = true;
      return;
    }
    state.busy = true;
    clearTimeout(state.timer);
    let next = 0; // seconds to the next refresh: the step, or sooner after a failure
    const q = windowQuery();
    const key = windowKey();
    try {
      const optional = (p, fallback) => getJSON(p).catch((e) => {
        if (e instanceof HttpError && e.status < 500) return fallback;
        throw e;
      });
      const status = await getJSON('/api/status');
      state.zone = status.zone || state.zone;
      const [hosts, apps, interfaces, exporters, doctor, overview] = await Promise.all([
        getJSON(`/api/hosts?${q}`),
        getJSON(`/api/applications?${q}`),
        getJSON(`/api/interfaces?${q}`),
        optional('/api/exporters', []),
        optional('/api/doctor', []),
        optional(`/api/overview?${q}&n=${OVERVIEW_DEVICES}`, null),
      ]);
      if (key !== windowKey()) {
        state.busy = false;
        refresh(); // the period changed while this was on its way
        return;
      }
      state.status = status;
      state.step = Math.max(MIN_REFRESH_SECONDS, num(status.step_seconds) || 60);
      state.hosts = rowsOf(hosts);
      state.hostsMeta = Array.isArray(hosts) ? null : hosts;
      state.apps = rowsOf(apps);
      state.interfaces = rowsOf(interfaces);
      state.exporters = Array.isArray(exporters) ? exporters : [];
      state.doctor = Array.isArray(doctor) ? doctor : [];
      state.overview = overview;
      state.loaded = true;
      render();
      renderStatus(status);
      renderGlance().catch(() => {});
      setText($('custom-zone'), `times in ${state.zone}`);
      $('logout').hidden = !status.auth;
      $('error').hidden = true;
      setLive(true, `Updated ${fmtTime(Date.now() / 1000, false)}`);
      $('live').title = `Times on this page are in ${state.zone}`;
    } catch (err) {
      const msg = err && err.message ? err.message : String(err);
      next = Math.min(state.step, 10);
      showError(`Cannot reach flowpi (${msg}). Retrying every ${next} s; the figures below may be out of date.`);
      setLive(false, 'Offline — retrying');
    }
    if (!document.hidden) reloadGraphs(true);
    state.busy = false;
    if (state.again) {
      state.again = false;
      refresh();
      return;
    }
    state.timer = setTimeout(refresh, (next || state.step) * 1000);
  }

  /* ---------- controls ---------- */

  function applyPeriod(p) {
    state.period = p;
    for (const b of document.querySelectorAll('button[data-period]')) {
      b.setAttribute('aria-pressed', String(b.dataset.period === p));
    }
    const custom = $('custom');
    custom.hidden = p !== 'custom';
    document.querySelector('button[data-period="custom"]').setAttribute('aria-expanded', String(p === 'custom'));
    // "Now" ranks by what is moving now.
    if (p === 'now') state.sort = { key: 'now', desc: true };
    else if (state.sort.key === 'now') state.sort = { key: 'total', desc: true };
    renderPeriodText();
    if (state.loaded) renderHosts();
  }

  function localInput(unix) {
    // A datetime-local value for the configured zone (what the API reads from/to in).
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone: state.zone || undefined, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    }).formatToParts(new Date(unix * 1000));
    const v = Object.fromEntries(parts.map((x) => [x.type, x.value]));
    return `${v.year}-${v.month}-${v.day}T${v.hour}:${v.minute}`;
  }

  function setupControls() {
    for (const b of document.querySelectorAll('button[data-period]')) {
      b.addEventListener('click', () => {
        const p = b.dataset.period;
        if (!PERIODS.includes(p)) return;
        if (p === 'custom') {
          // The form first; the period changes when it is sent.
          const form = $('custom');
          form.hidden = !form.hidden;
          b.setAttribute('aria-expanded', String(!form.hidden));
          if (form.hidden) return;
          const now = Math.floor(Date.now() / 1000);
          if (!$('custom-from').value) $('custom-from').value = localInput(now - 86400);
          if (!$('custom-to').value) $('custom-to').value = localInput(now);
          $('custom-from').focus();
          return;
        }
        if (p === state.period) return;
        applyPeriod(p);
        savePeriod(p);
        refresh();
      });
    }
    $('custom').addEventListener('submit', (e) => {
      e.preventDefault();
      const from = $('custom-from').value;
      const to = $('custom-to').value;
      if (!from || !to || from >= to) {
        setText($('custom-error'), 'The start must be before the end.');
        return;
      }
      setText($('custom-error'), '');
      state.custom = { from, to };
      applyPeriod('custom');
      refresh();
    });
    for (const th of $('hosts').tHead.rows[0].cells) {
      const b = th.querySelector('button.sort');
      b.addEventListener('click', () => {
        const key = th.dataset.sort;
        state.sort = state.sort.key === key ? { key, desc: !state.sort.desc } : { key, desc: key !== 'name' };
        renderHosts();
      });
    }
    $('host-search').addEventListener('input', (e) => {
      state.search = e.target.value;
      renderHosts();
    });
    $('more-hosts').addEventListener('click', () => {
      state.showAll = !state.showAll;
      renderHosts();
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.route.kind !== 'overview') location.hash = '';
    });
    window.addEventListener('hashchange', route);
    applyPeriod(state.period);
  }

  // Set when the logout form is sent: the server ends the session at once, so requests still
  // on their way come back 401 while the form's own navigation leads to the login page.
  let leaving = false;

  function start() {
    $('logout').addEventListener('submit', () => {
      leaving = true;
    });
    setupControls();
    setupOverview();
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.loaded) refresh();
    });
    route();
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
