// The node's dashboard: read-only views over the node's own HTTP API (docs/openapi.json), in
// plain DOM and SVG. Every value from the network is put on the page as text, never as HTML.
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';
const main = document.getElementById('main');
const errorBox = document.getElementById('error');
/** Events heard on the live stream, newest last (at most 500). */
const heard = [];
let refreshTimer = null;
let currentView = '';

/** Builds an element: h('td', {class: 'x'}, 'text', child…). Strings become text nodes. */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (!res.ok) {
    let why = `HTTP ${res.status}`;
    try {
      const body = await res.json();
      if (body && body.error) why += ` ${body.error.code}: ${body.error.message}`;
    } catch (_) { /* not JSON */ }
    throw new Error(`${path}: ${why}`);
  }
  return res.json();
}

function showError(e) {
  errorBox.hidden = false;
  errorBox.textContent = `Cannot load: ${e && e.message ? e.message : e}`;
}

function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = '';
}

const short = (id) => (id && id.length > 20 ? `${id.slice(8, 16)}…${id.slice(-4)}` : id || '');
const pct = (x) => `${Math.round(x * 100)}%`;
const fixed = (x, n = 3) => (typeof x === 'number' ? x.toFixed(n) : '–');

function ago(iso) {
  if (!iso) return 'never';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function trustBar(score, withNumber = true) {
  const cls = score < 0.35 ? 'bar low' : score > 0.65 ? 'bar high' : 'bar';
  const fill = h('i', {});
  // Through the CSSOM: the Content-Security-Policy allows no inline style attributes.
  fill.style.width = pct(Math.max(0, Math.min(1, score)));
  return h('span', {},
    h('span', { class: cls, role: 'meter', 'aria-valuenow': fixed(score, 3), 'aria-valuemin': 0, 'aria-valuemax': 1 }, fill),
    withNumber ? fixed(score, 3) : '');
}

function agentLink(id, label) {
  return h('a', { href: `#/agent/${encodeURIComponent(id)}`, class: 'agent-link', 'data-agent': id }, label || short(id));
}

// ------------------------------------------------------------------------------------------
// Network: this node, its peers and the peers they told it of.

function layout(n, radius, cx, cy, offset) {
  // Two points opposite each other would sit on one line through the centre, their labels on
  // the edges: spread two over the upper half instead.
  const angle = (i) => (n === 2 ? -Math.PI * (i === 0 ? 5 / 6 : 1 / 6) : offset + (2 * Math.PI * i) / Math.max(1, n));
  return Array.from({ length: n }, (_, i) => [cx + radius * Math.cos(angle(i)), cy + radius * Math.sin(angle(i))]);
}

function graph(info) {
  const W = 720; const H = 460; const cx = W / 2; const cy = H / 2 + 30;
  const peers = info.peer_list || [];
  const direct = new Set(peers.map((p) => p.node_id));
  const far = [];
  for (const p of peers) {
    for (const k of p.knows || []) {
      if (k !== info.node_id && !direct.has(k) && !far.includes(k)) far.push(k);
    }
  }
  // Peers around this node (starting off the vertical, so two peers do not hide the labels).
  const inner = layout(peers.length, Math.min(170, 140 + 5 * peers.length), cx, cy, -Math.PI / 2);
  const outer = layout(far.length, 210, cx, cy, -Math.PI / 2 + 0.3);
  const pos = new Map([[info.node_id, [cx, cy]]]);
  peers.forEach((p, i) => pos.set(p.node_id, inner[i]));
  far.forEach((id, i) => pos.set(id, outer[i]));
  const edges = s('g', {});
  const nodes = s('g', {});
  peers.forEach((p, i) => {
    const [x, y] = inner[i];
    const state = p.state === 'active' ? 'active' : 'backoff';
    const title = `${p.url}: ${p.state}; last sync ${ago(p.last_sync)}; lag ${p.lag} records`;
    edges.append(s('line', { class: `edge ${state}`, x1: cx, y1: cy, x2: x, y2: y }, s('title', {}, title)));
    // The edge's label beside its middle, on the outer side.
    const mx = (cx + x) / 2; const my = (cy + y) / 2;
    const len = Math.hypot(x - cx, y - cy) || 1;
    const nx = -(y - cy) / len; const ny = (x - cx) / len;
    const side = nx * (mx - cx) + ny * (my - cy) >= 0 ? 1 : -1;
    edges.append(s('text', { x: mx + side * nx * 14, y: my + side * ny * 14 + 4, 'text-anchor': 'middle', class: 'edge-label' },
      `${p.state} · lag ${p.lag}`));
    for (const k of p.knows || []) {
      const to = pos.get(k);
      if (to && k !== info.node_id) {
        edges.append(s('line', { class: 'edge far', x1: x, y1: y, x2: to[0], y2: to[1] }));
      }
    }
  });
  // Labels go on the outer side of a node, away from the edges to the centre.
  const dot = (id, [x, y], cls, label, sub) => {
    const above = y < cy - 1;
    const y1 = above ? y - 34 : y + 28;
    return s('g', { class: `node ${cls}`, 'data-node': id },
      s('circle', { cx: x, cy: y, r: cls === 'self' ? 16 : 12 }, s('title', {}, id)),
      s('text', { x, y: y1, 'text-anchor': 'middle' }, label),
      sub ? s('text', { x, y: y1 + 13, 'text-anchor': 'middle', class: 'muted' }, sub) : null);
  };
  nodes.append(dot(info.node_id, [cx, cy], 'self', `this node ${short(info.node_id)}`, info.public_url || ''));
  peers.forEach((p, i) => nodes.append(dot(p.node_id, inner[i], 'peer', short(p.node_id), p.url)));
  far.forEach((id, i) => nodes.append(dot(id, outer[i], 'far', short(id), 'peer of a peer')));
  return s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-label': 'network graph', id: 'graph' },
    edges, nodes);
}

async function viewNetwork() {
  const info = await api('/v1/node?agents=0&events=0');
  const sync = info.sync || {};
  const dht = info.dht ? [stat('DHT peers', info.dht.routing_peers), stat('DHT records', info.dht.records)] : [];
  return h('section', {},
    h('h1', {}, 'Network'),
    h('div', { class: 'grid' },
      stat('agents', info.agents), stat('peers', info.peers), stat('tunnels', info.tunnels),
      stat('calls/s (last 10 s)', fixed(perSecond((info.rates || {}).invocations), 1)),
      stat('uptime', `${Math.round(info.uptime_s / 60)} min`), ...dht),
    h('h2', {}, 'This node, its peers and theirs'),
    h('div', { class: 'panel' }, graph(info)),
    h('h2', {}, 'Peers'),
    h('table', { id: 'peers' },
      h('thead', {}, h('tr', {}, h('th', {}, 'node'), h('th', {}, 'URL'), h('th', {}, 'state'),
        h('th', {}, 'last sync'), h('th', {}, 'lag'))),
      h('tbody', {}, (info.peer_list || []).map((p) => h('tr', {},
        h('td', { class: 'mono', title: p.node_id }, short(p.node_id)), h('td', {}, p.url),
        h('td', { class: p.state === 'active' ? 'ok' : 'bad' }, p.state),
        h('td', {}, ago(p.last_sync)), h('td', {}, p.lag))))),
    h('p', { class: 'muted' }, `sync: ${sync.pull_rounds || 0} pull rounds, ${sync.pull_records || 0} records pulled, ${sync.pushed_in || 0} pushed in`));
}

/** Mean of the last ten one-second counts. */
function perSecond(counts) {
  const last = (counts || []).slice(-10);
  return last.length ? last.reduce((a, b) => a + b, 0) / last.length : 0;
}

function stat(label, value) {
  return h('div', { class: 'stat' }, h('b', {}, value === undefined ? '–' : String(value)), h('span', { class: 'muted' }, label));
}

// ------------------------------------------------------------------------------------------
// Agents: discovery with a search box, trust, calls, protocols and relay state.

let lastQuery = '';

async function agentRows(q) {
  const path = q ? `/v1/agents?limit=100&q=${encodeURIComponent(q)}` : '/v1/agents?limit=100';
  const [found, info] = await Promise.all([api(path), api('/v1/node?agents=100&events=0')]);
  const activity = new Map((info.top_agents || []).map((a) => [a.agent_id, a]));
  return found.results.map((r) => {
    const m = (r.card && r.card.manifest) || {};
    const a = activity.get(r.agent_id) || {};
    const relay = (m.endpoint || '').startsWith('relay://');
    return h('tr', { 'data-agent': r.agent_id },
      h('td', {}, agentLink(r.agent_id, m.name || short(r.agent_id))),
      h('td', { class: 'mono', title: r.agent_id }, short(r.agent_id)),
      h('td', {}, trustBar(r.trust)),
      h('td', {}, a.calls ? `${a.calls} calls, ${pct(a.errors / a.calls)} errors` : a.calls === 0 ? 'no calls' : '–'),
      h('td', {}, (m.protocols || []).map((p) => h('span', { class: 'tag' }, p))),
      h('td', { class: relay ? (a.online ? 'ok' : 'warn') : 'muted' },
        relay ? (a.online ? 'relayed, online' : 'relayed, offline') : 'direct'),
      h('td', { class: 'muted' }, q ? fixed(r.score, 3) : ''));
  });
}

async function viewAgents() {
  const tbody = h('tbody', {}, await agentRows(lastQuery));
  let timer = null;
  const box = h('input', {
    type: 'search', id: 'search', placeholder: 'Search agents by meaning, e.g. "translate a document"',
    value: lastQuery, 'aria-label': 'search agents',
    oninput: (e) => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        lastQuery = e.target.value.trim();
        try {
          tbody.replaceChildren(...await agentRows(lastQuery));
          clearError();
        } catch (err) { showError(err); }
      }, 250);
    },
  });
  return h('section', {},
    h('h1', {}, 'Agents'), box,
    h('table', { id: 'agents' },
      h('thead', {}, h('tr', {}, ['name', 'agent ID', 'trust', 'calls', 'protocols', 'relay', 'score']
        .map((c) => h('th', {}, c)))),
      tbody));
}

// ------------------------------------------------------------------------------------------
// One agent: its card, trust score and history, counts by event, recent calls.

function historyChart(history) {
  const W = 520; const H = 160; const P = 28;
  const pts = (history || []).map((e) => [Date.parse(e.at), e.score]).filter(([t]) => !Number.isNaN(t));
  const axis = [s('line', { class: 'axis', x1: P, y1: H - P, x2: W - 8, y2: H - P }),
    s('line', { class: 'axis', x1: P, y1: 8, x2: P, y2: H - P }),
    s('text', { x: 4, y: 14 }, '1'), s('text', { x: 4, y: H - P }, '0'),
    s('text', { x: 2, y: (H - P + 8) / 2 + 4 }, '.5')];
  if (pts.length === 0) {
    return s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', id: 'trust-history' }, ...axis,
      s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no trust events yet'));
  }
  const t0 = pts[0][0]; const t1 = Math.max(pts[pts.length - 1][0], t0 + 1);
  const x = (t) => P + ((t - t0) / (t1 - t0)) * (W - P - 12);
  const y = (v) => H - P - v * (H - P - 8);
  const line = pts.length === 1
    ? s('circle', { cx: x(pts[0][0]), cy: y(pts[0][1]), r: 4, class: 'line' })
    : s('polyline', { class: 'line', points: pts.map(([t, v]) => `${x(t)},${y(v)}`).join(' ') });
  return s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', id: 'trust-history' }, ...axis, line);
}

async function viewAgent(id) {
  const [card, trust, info] = await Promise.all([
    api(`/v1/agents/${encodeURIComponent(id)}`),
    api(`/v1/trust/${encodeURIComponent(id)}`),
    api('/v1/node?agents=100&events=200'),
  ]);
  const m = card.manifest || {};
  const counts = trust.counts || {};
  const calls = (info.events || []).concat(heard).filter((e) => e.agent_id === id);
  const seen = new Set();
  const recent = calls.filter((e) => !seen.has(e.seq) && seen.add(e.seq)).slice(-20).reverse();
  return h('section', {},
    h('h1', {}, m.name || short(id)),
    h('p', { class: 'mono' }, id),
    h('div', { class: 'two' },
      h('div', {},
        h('h2', {}, 'Trust'),
        h('div', { class: 'panel', id: 'trust' },
          h('p', {}, 'score ', h('b', { id: 'trust-score' }, fixed(trust.score, 3)), ' ', trustBar(trust.score, false),
            trust.known ? '' : h('span', { class: 'muted' }, ' (no events yet: neutral)')),
          h('p', { class: 'muted' }, `evidence α ${fixed(trust.alpha, 2)} · β ${fixed(trust.beta, 2)}`),
          h('table', {}, h('tbody', {}, Object.entries(counts).map(([k, v]) => h('tr', {}, h('td', {}, k.replace('_', ' ')), h('td', {}, v))))),
          h('h2', {}, 'History (hourly)'),
          historyChart(trust.history))),
      h('div', {},
        h('h2', {}, 'Card'),
        h('div', { class: 'panel' },
          h('p', {}, m.description || ''),
          h('p', {}, (m.tags || []).map((t) => h('span', { class: 'tag' }, t))),
          h('p', { class: 'muted' }, `endpoint ${m.endpoint || '–'} · protocols ${(m.protocols || []).join(', ') || '–'}`),
          h('details', {}, h('summary', {}, 'signed card'), h('pre', {}, JSON.stringify(card, null, 2)))))),
    h('h2', {}, 'Recent calls and events'),
    recent.length ? eventsTable(recent) : h('p', { class: 'muted' }, 'none yet'));
}

// ------------------------------------------------------------------------------------------
// Trust relations: who this node trusts most and least, and how that moved.

async function viewTrust() {
  const [high, low, info] = await Promise.all([
    api('/v1/trust?sort=score&limit=10'), api('/v1/trust?sort=low&limit=10'), api('/v1/node?agents=100&events=0')]);
  const delta = new Map((info.top_agents || []).map((a) => [a.agent_id, a.trust_delta]));
  const table = (list, id) => h('table', { id },
    h('thead', {}, h('tr', {}, ['agent', 'score', 'moved this hour', 'events'].map((c) => h('th', {}, c)))),
    h('tbody', {}, list.agents.map((a) => {
      const d = delta.get(a.agent_id);
      return h('tr', {},
        h('td', {}, agentLink(a.agent_id, a.name || short(a.agent_id))),
        h('td', {}, trustBar(a.score)),
        h('td', { class: d > 0 ? 'ok' : d < 0 ? 'bad' : 'muted' },
          d === undefined ? '–' : `${d > 0 ? '▲' : d < 0 ? '▼' : '·'} ${fixed(Math.abs(d), 3)}`),
        h('td', {}, a.events));
    })));
  return h('section', {},
    h('h1', {}, 'Trust'),
    h('p', { class: 'muted' }, `Scores this node formed from the outcomes it saw itself (${high.total} agents); never imported from other nodes.`),
    h('div', { class: 'two' },
      h('div', {}, h('h2', {}, 'Trusted most'), table(high, 'trust-high')),
      h('div', {}, h('h2', {}, 'Trusted least'), table(low, 'trust-low'))));
}

// ------------------------------------------------------------------------------------------
// Events: the live stream.

function eventRow(e) {
  return h('tr', { 'data-seq': e.seq },
    h('td', { class: 'muted' }, new Date(e.at).toLocaleTimeString()),
    h('td', {}, e.kind),
    h('td', {}, e.agent_id ? agentLink(e.agent_id) : ''),
    h('td', { class: e.ok ? 'ok' : 'bad' }, e.ok ? 'ok' : 'failed'),
    h('td', {}, e.text));
}

function eventsTable(list) {
  return h('table', { class: 'events' },
    h('thead', {}, h('tr', {}, ['time', 'kind', 'agent', '', 'what'].map((c) => h('th', {}, c)))),
    h('tbody', {}, list.map(eventRow)));
}

async function viewEvents() {
  const info = await api('/v1/node?agents=0&events=200');
  const seen = new Set();
  const all = (info.events || []).concat(heard).filter((e) => !seen.has(e.seq) && seen.add(e.seq));
  const table = eventsTable(all.slice(-200).reverse());
  table.id = 'events';
  return h('section', {}, h('h1', {}, 'Events'),
    h('p', { class: 'muted' }, 'Newest first; new events arrive on the live stream.'), table);
}

// ------------------------------------------------------------------------------------------
// Routing, live stream, refresh.

const views = {
  network: { render: viewNetwork, every: 5000 },
  agents: { render: viewAgents, every: 0 },
  trust: { render: viewTrust, every: 10000 },
  events: { render: viewEvents, every: 0 },
};

async function render() {
  const hash = location.hash || '#/network';
  const [, name, arg] = hash.match(/^#\/([a-z]+)(?:\/(.+))?$/) || [];
  clearTimeout(refreshTimer);
  let view = views[name];
  let draw;
  if (name === 'agent' && arg) {
    draw = () => viewAgent(decodeURIComponent(arg));
    view = { every: 10000 };
  } else {
    if (!view) { location.hash = '#/network'; return; }
    draw = view.render;
  }
  currentView = name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === name);
  try {
    const el = await draw();
    if (currentView === name) {
      main.replaceChildren(el);
      clearError();
      // For benches/dashboard.py: when the first view was on the page.
      if (!performance.getEntriesByName('first-render').length) performance.mark('first-render');
    }
  } catch (e) {
    showError(e);
  }
  if (view.every) refreshTimer = setTimeout(render, view.every);
}

function listen() {
  const live = document.getElementById('live');
  const stream = new EventSource('/v1/events');
  stream.addEventListener('open', () => { live.className = 'live on'; });
  stream.addEventListener('error', () => { live.className = 'live off'; });
  stream.addEventListener('node-event', (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch (_) { return; }
    heard.push(e);
    if (heard.length > 500) heard.shift();
    if (currentView === 'events') {
      const tbody = document.querySelector('#events tbody');
      if (tbody) tbody.prepend(eventRow(e));
    }
  });
}

async function header() {
  try {
    const info = await api('/v1/node?agents=0&events=0');
    document.getElementById('node').textContent = `node ${short(info.node_id)} · v${info.version}`;
  } catch (e) { showError(e); }
}

window.addEventListener('hashchange', render);
header();
render();
listen();
