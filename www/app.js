/* flowpi page logic: polls /api/status, /api/hosts and /api/interfaces, renders the top-talkers
   table and the graph grids, and reloads the RRDtool graphs every step without flicker. */
'use strict';

(() => {
  const PERIODS = ['hour', 'day', 'week', 'month', 'year'];
  const PERIOD_TEXT = {
    hour: 'last hour',
    day: 'last 24 hours',
    week: 'last 7 days',
    month: 'last 31 days',
    year: 'last 12 months',
  };
  const HOST_GRAPHS_SHOWN = 12;   // graphs for the busiest hosts; the rest behind "show all"
  const PARALLEL_GRAPHS = 2;      // the daemon renders graphs one at a time: don't flood it
  const MIN_REFRESH_SECONDS = 5;
  const WIDTH_RANGE = [200, 3000]; // what the server accepts
  const HEIGHT_RANGE = [100, 2000];
  const NARROWEST_GRAPH = 480;     // rrdtool's legend line fits from here on

  const state = {
    period: savedPeriod(),
    step: 60,
    hosts: [],
    interfaces: [],
    apps: [],
    showAllHosts: false,
    stamp: Math.floor(Date.now() / 1000),
    timer: 0,
    detail: null, // {kind, key} of the open detail dialog
    loaded: false,
    busy: false,
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
    if (node.textContent !== text) node.textContent = text;
  }

  function clamp(n, [lo, hi]) {
    return Math.min(hi, Math.max(lo, n));
  }

  function num(n) {
    const v = Number(n);
    return Number.isFinite(v) && v > 0 ? v : 0;
  }

  function fmtBytes(n) {
    let v = num(n);
    const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
    let i = 0;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
    return `${v.toFixed(digits)} ${units[i]}`;
  }

  function fmtCount(n) {
    return num(n).toLocaleString();
  }

  function plural(n, word) {
    return `${fmtCount(n)} ${word}${num(n) === 1 ? '' : 's'}`;
  }

  function fmtPackets(n) {
    const v = num(n);
    const word = v === 1 ? 'packet' : 'packets';
    if (v < 10000) return `${v.toLocaleString()} ${word}`;
    const units = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (const [size, unit] of units) {
      if (v >= size) return `${(v / size).toFixed(v / size < 10 ? 1 : 0)}${unit} ${word}`;
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

  function savedPeriod() {
    try {
      const p = localStorage.getItem('flowpi.period');
      if (PERIODS.includes(p)) return p;
    } catch (_) { /* storage may be disabled */ }
    return 'day';
  }

  function savePeriod(p) {
    try {
      localStorage.setItem('flowpi.period', p);
    } catch (_) { /* storage may be disabled */ }
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
        // The session ended (expired, or the password was changed): back to the login form.
        location.assign('/login');
        throw new Error('logged out');
      }
      if (!resp.ok) throw new Error(`${path} answered HTTP ${resp.status}`);
      return await resp.json();
    } catch (err) {
      if (err && err.name === 'AbortError') throw new Error(`${path} did not answer within 15 s`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /* ---------- subjects (a host or an interface) ---------- */

  function appSubject(row) {
    return { kind: 'application', name: String(row.name) };
  }

  function hostSubject(row) {
    return { kind: 'host', ip: String(row.ip) };
  }

  function ifaceSubject(row) {
    const other = row.exporter === 'other' || row.ifindex === null || row.ifindex === undefined;
    return {
      kind: 'interface',
      exporter: String(row.exporter),
      ifindex: other ? null : row.ifindex,
      // From the config's [[exporter]] interfaces or the router's own options data.
      name: row.name ? String(row.name) : null,
    };
  }

  function subjectKey(s) {
    if (s.kind === 'application') return `app:${s.name}`;
    return s.kind === 'host' ? `host:${s.ip}` : `if:${s.exporter}/${s.ifindex === null ? '' : s.ifindex}`;
  }

  function subjectPath(s) {
    if (s.kind === 'application') return `application/${encodeURIComponent(s.name)}`;
    if (s.kind === 'host') {
      return s.ip === 'other' ? 'host/other' : `host/${encodeURIComponent(s.ip)}`;
    }
    if (s.ifindex === null) return 'interface/other';
    return `interface/${encodeURIComponent(s.exporter)}/${encodeURIComponent(s.ifindex)}`;
  }

  function subjectName(s) {
    if (s.kind === 'application') return s.name === 'other' ? 'Other ports' : s.name;
    if (s.kind === 'host') return s.ip === 'other' ? 'Other hosts' : s.ip;
    if (s.ifindex === null) return 'Other interfaces';
    if (s.name) return `${s.exporter} · ${s.name} (interface ${s.ifindex})`;
    // ifIndex 0: the exporter did not say which interface (softflowd, for one, always sends 0).
    return `${s.exporter} · interface ${s.ifindex}${Number(s.ifindex) === 0 ? ' (unspecified)' : ''}`;
  }

  /* ---------- graph loading: preload off-screen, swap only when decoded ---------- */

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

  function graphFrame(subject, fixedPeriod) {
    const frame = h('div', { class: 'graph-frame is-loading' },
      h('div', { class: 'graph-placeholder' }, 'Loading graph…'));
    frame.flowpiGraph = { subject, fixed: fixedPeriod || null, token: 0, shown: null };
    return frame;
  }

  function graphSize(frame) {
    const w = Math.floor(frame.clientWidth);
    if (w < 50) return null; // not laid out (hidden)
    // rrdtool's legend needs about 480 px on one line: narrower boxes get a 480 px graph scaled down
    // (smaller text) rather than a legend that wraps into a jumble.
    const width = clamp(Math.max(w, NARROWEST_GRAPH), WIDTH_RANGE);
    const ratio = w < 640 ? 0.5 : 0.36;
    const height = clamp(Math.round(width * ratio), [Math.max(HEIGHT_RANGE[0], 170), 340]);
    return { width, height };
  }

  function graphUrl(subject, period, size, stamp) {
    return `/graph/${subjectPath(subject)}/${period}.png?width=${size.width}&height=${size.height}&t=${stamp}`;
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
    const period = g.fixed || state.period;
    const url = graphUrl(g.subject, period, size, stamp);
    const token = ++g.token;
    if (!g.shown) frame.style.aspectRatio = `${size.width} / ${size.height}`;
    else if (g.shown.period !== period) frame.classList.add('is-switching');

    schedule(() => new Promise((resolve) => {
      if (token !== g.token || !frame.isConnected) {
        resolve();
        return;
      }
      const img = new Image(size.width, size.height);
      img.className = 'graph';
      img.alt = `Traffic of ${subjectName(g.subject)}, ${PERIOD_TEXT[period]}`;
      img.decoding = 'async';
      img.onload = () => {
        img.decode().catch(() => {}).then(() => {
          if (token === g.token && frame.isConnected && img.naturalWidth > 0) {
            for (const old of frame.querySelectorAll('img, .graph-placeholder')) old.remove();
            frame.append(img);
            frame.style.aspectRatio = `${size.width} / ${size.height}`;
            frame.classList.remove('is-loading', 'is-missing', 'is-switching');
            g.shown = { period, width: size.width, height: size.height };
          }
          resolve();
        });
      };
      img.onerror = () => {
        if (token === g.token && frame.isConnected) {
          const same = g.shown && g.shown.period === period;
          if (same) {
            // A passing hiccup (the daemon is busy): keep the picture we have, retry next time.
            frame.classList.remove('is-switching');
          } else {
            g.shown = null;
            showPlaceholder(frame, 'No graph yet — it appears after the next update', 'missing');
          }
        }
        resolve();
      };
      img.src = url;
    }));
  }

  function allFrames() {
    return document.querySelectorAll('.graph-frame');
  }

  function reloadGraphs(newStamp) {
    if (newStamp) state.stamp = Math.floor(Date.now() / 1000);
    for (const frame of allFrames()) loadGraph(frame, state.stamp);
  }

  // Re-render a graph when its box changes width (window resize, scrollbar, rotation).
  let resizeTimer = 0;
  const resized = new Set();
  const resizeObserver = typeof ResizeObserver === 'function'
    ? new ResizeObserver((entries) => {
      for (const e of entries) {
        const g = e.target.flowpiGraph;
        if (!g || !g.shown) continue;
        const size = graphSize(e.target);
        if (size && Math.abs(size.width - g.shown.width) >= 4) resized.add(e.target);
      }
      if (resized.size) {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(() => {
          for (const f of resized) loadGraph(f, state.stamp);
          resized.clear();
        }, 400);
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

  /* ---------- hosts ---------- */

  function hostTotal(r) {
    return num(r.rx_bytes) + num(r.tx_bytes);
  }

  function createHostRow(row) {
    const s = hostSubject(row);
    const tr = h('tr', { 'data-ip': s.ip, class: s.ip === 'other' ? 'is-other' : null });
    const label = h('button', { type: 'button', class: s.ip.includes(':') ? 'host-link is-v6' : 'host-link' }, subjectName(s));
    const name = h('th', { scope: 'row' }, label);
    if (s.ip === 'other') {
      name.append(h('span', { class: 'sub' }, 'hosts beyond the table size'));
      label.title = 'Hosts past archive.max_hosts are added up here';
    }
    const cell = (cls) => h('td', { class: cls }, h('span', { class: 'v' }), h('span', { class: 'sub' }));
    const total = h('td', { class: 'total' },
      h('div', { class: 'total-line' }, h('span', { class: 'v' }), h('span', { class: 'pct' })),
      h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'bar-rx' }), h('span', { class: 'bar-tx' })));
    tr.append(name, cell('num rx'), cell('num tx'), total);
    tr.addEventListener('click', () => openDetail(s));
    return tr;
  }

  function updateHostRow(tr, row, maxTotal, sumTotal) {
    const total = hostTotal(row);
    setText(tr.querySelector('.rx .v'), fmtBytes(row.rx_bytes));
    setText(tr.querySelector('.rx .sub'), fmtPackets(row.rx_packets));
    setText(tr.querySelector('.tx .v'), fmtBytes(row.tx_bytes));
    setText(tr.querySelector('.tx .sub'), fmtPackets(row.tx_packets));
    setText(tr.querySelector('.total .v'), fmtBytes(total));
    const pct = sumTotal > 0 ? (100 * total) / sumTotal : 0;
    setText(tr.querySelector('.total .pct'), pct >= 0.1 ? `${pct < 10 ? pct.toFixed(1) : Math.round(pct)}%` : '');
    const scale = maxTotal > 0 ? 100 / maxTotal : 0;
    tr.querySelector('.bar-rx').style.width = `${num(row.rx_bytes) * scale}%`;
    tr.querySelector('.bar-tx').style.width = `${num(row.tx_bytes) * scale}%`;
    tr.title = `${subjectName(hostSubject(row))}: ${fmtBytes(row.rx_bytes)} received, ${fmtBytes(row.tx_bytes)} sent`;
  }

  function graphCard(subject, attrs) {
    const title = h('button', { type: 'button', class: 'card-title' }, subjectName(subject));
    const meta = h('span', { class: 'card-meta' });
    const frame = graphFrame(subject, null);
    const card = h('figure', Object.assign({ class: 'card graph-card' }, attrs),
      h('figcaption', null, title, meta), frame);
    card.addEventListener('click', () => openDetail(subject));
    watch(frame);
    return card;
  }

  function renderHosts(rows) {
    const tbody = $('hosts').tBodies[0];
    const maxTotal = rows.reduce((m, r) => Math.max(m, hostTotal(r)), 0);
    const sumTotal = rows.reduce((t, r) => t + hostTotal(r), 0);
    reconcile(tbody, rows, (r) => subjectKey(hostSubject(r)), createHostRow,
      (tr, r) => updateHostRow(tr, r, maxTotal, sumTotal));

    const shown = state.showAllHosts ? rows : rows.slice(0, HOST_GRAPHS_SHOWN);
    const added = reconcile($('host-graphs'), shown, (r) => subjectKey(hostSubject(r)),
      (r) => graphCard(hostSubject(r), { 'data-host': r.ip }),
      (card, r) => {
        setText(card.querySelector('.card-meta'), `↓ ${fmtBytes(r.rx_bytes)}  ↑ ${fmtBytes(r.tx_bytes)}`);
        card.querySelector('.card-meta').title = `${fmtBytes(r.rx_bytes)} received, ${fmtBytes(r.tx_bytes)} sent`;
      });

    const more = $('more-hosts');
    const hiddenCount = rows.length - HOST_GRAPHS_SHOWN;
    more.hidden = hiddenCount <= 0;
    setText(more, state.showAllHosts ? `Show only the busiest ${HOST_GRAPHS_SHOWN}` : `Show graphs for ${hiddenCount} more host${hiddenCount === 1 ? '' : 's'}`);
    return added;
  }

  /* ---------- applications ---------- */

  function createAppRow(row) {
    const s = appSubject(row);
    const tr = h('tr', { 'data-app': s.name });
    const label = h('button', { type: 'button', class: 'host-link' }, subjectName(s));
    const cell = (cls) => h('td', { class: cls }, h('span', { class: 'v' }), h('span', { class: 'sub' }));
    const total = h('td', { class: 'total' },
      h('div', { class: 'total-line' }, h('span', { class: 'v' }), h('span', { class: 'pct' })),
      h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { class: 'bar-rx' }), h('span', { class: 'bar-tx' })));
    tr.append(h('th', { scope: 'row' }, label), cell('num rx'), cell('num tx'), total);
    tr.addEventListener('click', () => openDetail(s));
    return tr;
  }

  function renderApps(rows) {
    const maxTotal = rows.reduce((m, r) => Math.max(m, hostTotal(r)), 0);
    const sumTotal = rows.reduce((t, r) => t + hostTotal(r), 0);
    reconcile($('applications').tBodies[0], rows, (r) => subjectKey(appSubject(r)), createAppRow, (tr, r) => {
      updateHostRow(tr, r, maxTotal, sumTotal);
      tr.title = `${subjectName(appSubject(r))}: ${fmtBytes(r.rx_bytes)} received, ${fmtBytes(r.tx_bytes)} sent by local hosts`;
    });
  }

  /* ---------- interfaces ---------- */

  function renderInterfaces(rows) {
    const added = reconcile($('interfaces'), rows, (r) => subjectKey(ifaceSubject(r)),
      (r) => {
        const s = ifaceSubject(r);
        return graphCard(s, { 'data-exporter': s.exporter, 'data-ifindex': s.ifindex === null ? '' : s.ifindex });
      },
      (card, r) => {
        setText(card.querySelector('.card-meta'), `in ${fmtBytes(r.in_bytes)} · out ${fmtBytes(r.out_bytes)}`);
        card.querySelector('.card-meta').title = `${fmtPackets(r.in_packets)} in, ${fmtPackets(r.out_packets)} out`;
      });
    $('interfaces-empty').hidden = rows.length > 0;
    return added;
  }

  /* ---------- detail dialog: one subject, all five periods ---------- */

  function findRow(s) {
    if (s.kind === 'application') return state.apps.find((r) => String(r.name) === s.name);
    if (s.kind === 'host') return state.hosts.find((r) => String(r.ip) === s.ip);
    return state.interfaces.find((r) => subjectKey(ifaceSubject(r)) === subjectKey(s));
  }

  function detailMeta(s) {
    const r = findRow(s);
    if (!r) return 'No traffic counted for it since flowpi started.';
    if (s.kind === 'application') {
      return `Local hosts received ${fmtBytes(r.rx_bytes)} (${fmtPackets(r.rx_packets)}) and sent ${fmtBytes(r.tx_bytes)} (${fmtPackets(r.tx_packets)}) since flowpi started`;
    }
    if (s.kind === 'host') {
      return `Received ${fmtBytes(r.rx_bytes)} (${fmtPackets(r.rx_packets)}) · sent ${fmtBytes(r.tx_bytes)} (${fmtPackets(r.tx_packets)}) since flowpi started`;
    }
    return `In ${fmtBytes(r.in_bytes)} (${fmtPackets(r.in_packets)}) · out ${fmtBytes(r.out_bytes)} (${fmtPackets(r.out_packets)}) since flowpi started`;
  }

  /* A host's applications and busiest peers, under its graphs. */
  async function loadHostLists(s) {
    const box = $('detail-lists');
    if (s.kind !== 'host' || s.ip === 'other') {
      box.hidden = true;
      return;
    }
    let d;
    try {
      d = await getJSON(`/api/hosts/${encodeURIComponent(s.ip)}`);
    } catch (err) {
      box.hidden = true;
      return;
    }
    if (state.detail !== s) return; // closed or another one opened meanwhile
    const row = (name, rx, tx, title) => {
      const tr = h('tr', null, h('th', { scope: 'row' }, name),
        h('td', { class: 'num' }, fmtBytes(rx)), h('td', { class: 'num' }, fmtBytes(tx)));
      if (title) tr.title = title;
      return tr;
    };
    const apps = Array.isArray(d.applications) ? d.applications : [];
    const peers = Array.isArray(d.peers) ? d.peers : [];
    $('detail-apps').tBodies[0].replaceChildren(...apps.map((a) => row(String(a.name), a.rx_bytes, a.tx_bytes)));
    $('detail-peers').tBodies[0].replaceChildren(...peers.map((p) => row(String(p.ip), p.rx_bytes, p.tx_bytes,
      num(p.error) > 0 ? `up to ${fmtBytes(p.error)} more than shown (more peers than the table keeps)` : null)));
    const note = $('detail-peers-note');
    note.hidden = d.peers_exact !== false;
    setText(note, 'More peers than flowpi keeps per host: the busiest are kept, with how far each may be off.');
    box.hidden = apps.length === 0 && peers.length === 0;
  }

  function openDetail(s) {
    const dialog = $('detail');
    state.detail = s;
    $('detail-lists').hidden = true;
    loadHostLists(s);
    setText($('detail-title'), subjectName(s));
    setText($('detail-meta'), detailMeta(s));
    const box = $('detail-graphs');
    box.replaceChildren();
    const frames = PERIODS.map((p) => {
      const frame = graphFrame(s, p);
      box.append(h('figure', { class: 'detail-graph', 'data-period': p },
        h('figcaption', null, PERIOD_TEXT[p][0].toUpperCase() + PERIOD_TEXT[p].slice(1)), frame));
      return frame;
    });
    if (typeof dialog.showModal === 'function') {
      if (!dialog.open) dialog.showModal();
    } else {
      dialog.setAttribute('open', '');
    }
    for (const f of frames) {
      watch(f);
      loadGraph(f, state.stamp);
    }
  }

  function closeDetail() {
    const dialog = $('detail');
    if (dialog.open) {
      if (typeof dialog.close === 'function') dialog.close();
      else dialog.removeAttribute('open');
    }
  }

  function setupDetail() {
    const dialog = $('detail');
    $('detail-close').addEventListener('click', closeDetail);
    dialog.addEventListener('click', (e) => {
      if (e.target === dialog) closeDetail(); // a click on the backdrop
    });
    dialog.addEventListener('close', () => {
      state.detail = null;
      for (const f of dialog.querySelectorAll('.graph-frame')) if (resizeObserver) resizeObserver.unobserve(f);
      $('detail-graphs').replaceChildren();
    });
  }

  /* ---------- status ---------- */

  function renderStatus(st) {
    const parts = [
      `flowpi ${st.version || ''}`.trim(),
      `up ${fmtDuration(st.uptime_seconds)}`,
      plural(st.hosts, 'host'),
      plural(st.interfaces, 'interface'),
      plural(st.datagrams, 'datagram'),
      plural(st.records, 'flow record'),
      plural(st.decode_errors, 'decode error'),
      `graphs refresh every ${state.step} s`,
    ];
    const status = $('status');
    status.replaceChildren(...parts.flatMap((p, i) => {
      const span = h('span', { class: i === 6 && num(st.decode_errors) > 0 ? 'warn' : null }, p);
      return i === 0 ? [span] : [h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · '), span];
    }));
    status.title = `flowpi ${st.version} has been running for ${fmtDuration(st.uptime_seconds)}`;
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

  function render() {
    const hasHosts = state.hosts.length > 0;
    $('empty').hidden = hasHosts;
    $('talkers').hidden = !hasHosts;
    $('host-graphs-section').hidden = !hasHosts;
    $('apps-section').hidden = state.apps.length === 0;
    renderApps(state.apps);
    $('interfaces-section').hidden = !hasHosts && state.interfaces.length === 0;
    setText($('empty-address'), location.hostname || "this device's address");
    const added = renderHosts(state.hosts).concat(renderInterfaces(state.interfaces));
    if (state.detail) {
      setText($('detail-meta'), detailMeta(state.detail));
      loadHostLists(state.detail);
    }
    return added;
  }

  async function refresh() {
    if (state.busy) return; // one refresh at a time (a timer and a tab switch can coincide)
    state.busy = true;
    clearTimeout(state.timer);
    let next = 0; // seconds to the next refresh: the step, or sooner after a failure
    try {
      const [status, hosts, interfaces, apps] = await Promise.all([
        getJSON('/api/status'), getJSON('/api/hosts'), getJSON('/api/interfaces'), getJSON('/api/applications'),
      ]);
      state.apps = Array.isArray(apps) ? apps : [];
      state.step = Math.max(MIN_REFRESH_SECONDS, num(status.step_seconds) || 60);
      state.hosts = Array.isArray(hosts) ? hosts : [];
      state.interfaces = Array.isArray(interfaces) ? interfaces : [];
      state.loaded = true;
      render();
      renderStatus(status);
      $('logout').hidden = !status.auth;
      $('error').hidden = true;
      setLive(true, `Updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      const msg = err && err.message ? err.message : String(err);
      next = Math.min(state.step, 10);
      showError(`Cannot reach flowpi (${msg}). Retrying every ${next} s; the figures below may be out of date.`);
      setLive(false, 'Offline — retrying');
    }
    if (!document.hidden) reloadGraphs(true);
    state.busy = false;
    state.timer = setTimeout(refresh, (next || state.step) * 1000);
  }

  /* ---------- period selector ---------- */

  function applyPeriod(p) {
    state.period = p;
    for (const b of document.querySelectorAll('button[data-period]')) {
      b.setAttribute('aria-pressed', String(b.dataset.period === p));
    }
    for (const t of document.querySelectorAll('.period-text')) setText(t, `· ${PERIOD_TEXT[p]}`);
  }

  function setupPeriods() {
    for (const b of document.querySelectorAll('button[data-period]')) {
      b.addEventListener('click', () => {
        const p = b.dataset.period;
        if (!PERIODS.includes(p) || p === state.period) return;
        applyPeriod(p);
        savePeriod(p);
        for (const frame of allFrames()) loadGraph(frame, state.stamp);
      });
    }
    applyPeriod(state.period);
  }

  function setupMoreHosts() {
    $('more-hosts').addEventListener('click', () => {
      state.showAllHosts = !state.showAllHosts;
      for (const f of renderHosts(state.hosts)) {
        const frame = f.querySelector('.graph-frame');
        if (frame) loadGraph(frame, state.stamp);
      }
    });
  }

  function start() {
    setupPeriods();
    setupDetail();
    setupMoreHosts();
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.loaded) refresh();
    });
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
