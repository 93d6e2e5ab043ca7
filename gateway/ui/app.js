// geogate status page (docs/status-page.md). Plain DOM, no framework, no inline HTML: every
// value from the API is set as text. Data: GET /v1/cluster (this region and what every peer
// reports), else this region's /v1/status alone; decisions and conflicts every few refreshes.
'use strict';

const REFRESH_S_DEFAULT = 2;
const REFRESH_S_MIN = 1;
const REFRESH_S_MAX = 60;
/** A request that takes longer is abandoned (the region is shown as not answering). */
const FETCH_TIMEOUT_MS = 8000;
/** Decisions and conflicts are fetched every this many refreshes. */
const LISTS_EVERY = 5;
/** Rows kept in the decisions and conflicts tables. */
const LIST_ROWS_MAX = 20;
/** Entries read per conflicts request (the journals are read forward, oldest first). */
const JOURNAL_PAGE = 100;
/** At load, conflicts of this last while are read (then only newer ones). */
const CONFLICTS_WINDOW_MS = 3600_000;
const TOKEN_KEY = 'geogate.adminToken';
const PALETTE_SIZE = 12;

const refreshAsked = new URLSearchParams(location.search).get('refresh');
const st = {
  refreshS: clamp(Number(refreshAsked) || REFRESH_S_DEFAULT, REFRESH_S_MIN, REFRESH_S_MAX),
  inFlight: false,
  timer: 0,
  refreshes: 0,
  failures: 0,
  /** null: not tried yet; true: /v1/cluster answers; false: it is not there (local status only). */
  cluster: null,
  decisions: [],
  conflicts: [],
  journalAfter: '',
  conflictsSinceMs: Date.now() - CONFLICTS_WINDOW_MS,
  regionOrder: [],
};

function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
const $ = (id) => document.getElementById(id);

/** An element with text (never HTML) and attributes. */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'title') e.title = String(v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class AuthNeeded extends Error {}

/** GET a JSON path of this gateway; bytes counted for the refresh's total. */
async function getJson(path, acc) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  try {
    const res = await fetch(path, { headers, signal: ctl.signal, cache: 'no-store', credentials: 'omit' });
    const text = await res.text();
    if (acc) acc.bytes += text.length;
    if (res.status === 401) throw new AuthNeeded(`${path}: the admin token is needed (admin.protectReads)`);
    if (!res.ok) {
      const err = new Error(`${path} answered ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return JSON.parse(text);
  } catch (err) {
    if (err.name === 'AbortError') throw new Error(`${path}: no answer within ${FETCH_TIMEOUT_MS} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The cluster as this region sees it: { region, regions: [{ region, ok, ms, status | error }] }. */
async function loadCluster(acc) {
  if (st.cluster !== false) {
    try {
      const c = await getJson('/v1/cluster', acc);
      st.cluster = true;
      return c;
    } catch (err) {
      if (err.status !== 404) throw err;
      st.cluster = false;
    }
  }
  const t0 = performance.now();
  const s = await getJson('/v1/status', acc);
  const rows = [{ region: s.region, url: location.origin, ok: true, ms: Math.round(performance.now() - t0), status: s }];
  // peers this region links to, not asked (no /v1/cluster on this gateway)
  for (const p of s.peers || []) rows.push({ region: p.region, ok: false, ms: null, error: 'not asked: this gateway has no /v1/cluster', notAsked: true });
  return { region: s.region, regions: rows };
}

async function loadLists(acc) {
  if (st.cluster) {
    const [d, c] = await Promise.all([
      getJson(`/v1/cluster/decisions?limit=${LIST_ROWS_MAX}`, acc).catch((e) => ({ error: e })),
      getJson(`/v1/cluster/conflicts?limit=${JOURNAL_PAGE}&since=${Math.floor(st.conflictsSinceMs)}`, acc).catch((e) => ({ error: e })),
    ]);
    if (!d.error) st.decisions = (d.decisions || []).slice(-LIST_ROWS_MAX).reverse();
    if (!c.error) addConflicts(c.conflicts || []);
    return;
  }
  const [d, c] = await Promise.all([
    getJson('/v1/decisions', acc).catch((e) => ({ error: e })),
    getJson(`/v1/conflicts?limit=${JOURNAL_PAGE}${st.journalAfter ? `&after=${encodeURIComponent(st.journalAfter)}` : ''}`, acc).catch((e) => ({ error: e })),
  ]);
  if (!d.error) st.decisions = (d.decisions || []).map((x) => ({ ...x, region: d.region })).slice(-LIST_ROWS_MAX).reverse();
  if (!c.error) {
    if (c.next) st.journalAfter = c.next;
    addConflicts((c.conflicts || []).map((x) => ({ ...x, region: x.region ?? d.region })));
  }
}

/** Oldest-first entries read forward: the newest LIST_ROWS_MAX are kept, each conflict once. */
function addConflicts(list) {
  const seen = new Set(st.conflicts.map((x) => x.conflictId ?? `${x.region}/${x.id}`));
  for (const x of list) {
    const id = x.conflictId ?? `${x.region}/${x.id}`;
    if (seen.has(id)) continue;
    seen.add(id);
    st.conflicts.unshift(x);
    if (Number(x.at) > st.conflictsSinceMs) st.conflictsSinceMs = Number(x.at); // the next read starts there (inclusive; duplicates skipped)
  }
  st.conflicts.sort((a, b) => Number(b.at) - Number(a.at));
  st.conflicts.length = Math.min(st.conflicts.length, LIST_ROWS_MAX);
}

function schedule() {
  clearTimeout(st.timer);
  st.timer = setTimeout(refresh, st.refreshS * 1000);
}

async function refresh() {
  if (st.inFlight) return; // never two at once
  if (document.hidden) { schedule(); return; } // a hidden tab asks nothing
  st.inFlight = true;
  const t0 = performance.now();
  const acc = { bytes: 0 };
  try {
    const cluster = await loadCluster(acc);
    if (st.refreshes % LISTS_EVERY === 0) await loadLists(acc);
    render(cluster);
    st.refreshes++;
    showError(null);
    $('auth').hidden = true;
    const meta = $('meta');
    meta.dataset.refreshes = String(st.refreshes);
    meta.dataset.lastBytes = String(acc.bytes);
    meta.dataset.lastMs = String(Math.round(performance.now() - t0));
    meta.textContent = `cluster ${clusterId(cluster)} · data from ${st.cluster ? '/v1/cluster (every region asked by this one)' : 'this region\'s /v1/status only'}`
      + ` · refreshed ${new Date().toLocaleTimeString()} every ${st.refreshS} s · ${acc.bytes} bytes in ${meta.dataset.lastMs} ms`
      + (refreshAsked !== null && Number(refreshAsked) !== st.refreshS ? ` · ?refresh=${refreshAsked} is not a number of seconds in [${REFRESH_S_MIN}, ${REFRESH_S_MAX}]: ${st.refreshS} s used` : '');
  } catch (err) {
    st.failures++;
    $('meta').dataset.failures = String(st.failures);
    if (err instanceof AuthNeeded) {
      $('auth').hidden = false;
      $('auth-note').textContent = sessionStorage.getItem(TOKEN_KEY) ? 'the token was refused' : 'this gateway\'s reads need the admin token';
    }
    showError(`refresh failed: ${err.message} (showing the last data)`);
  } finally {
    st.inFlight = false;
    schedule();
  }
}

function showError(text) {
  const e = $('error');
  e.hidden = text === null;
  e.textContent = text || '';
}

function clusterId(c) {
  const ok = c.regions.find((r) => r.ok);
  return ok ? ok.status.cluster : '?';
}

/** Region names in a stable order (first seen first), for colours and the matrix. */
function regionNames(c) {
  const seen = new Set(st.regionOrder);
  const add = (r) => { if (typeof r === 'string' && !seen.has(r)) { seen.add(r); st.regionOrder.push(r); } };
  for (const r of c.regions) add(r.region);
  for (const r of c.regions) for (const p of (r.ok && r.status.peers) || []) add(p.region);
  return st.regionOrder;
}

function colourClass(region) {
  const i = st.regionOrder.indexOf(region);
  return i < 0 ? 'owner-unknown' : `owner-${i % PALETTE_SIZE}`;
}

function render(c) {
  const names = regionNames(c);
  $('here').textContent = `· ${c.region}`;
  $('here2').textContent = c.region;
  document.title = `geogate ${c.region}`;
  renderRegions(c, names);
  renderMatrix(c, names);
  renderMaps(c, names);
  renderDecisions();
  renderConflicts();
}

function row(cells, tag = 'td') { return el('tr', {}, ...cells.map((x) => (x instanceof Node && x.tagName === tag.toUpperCase() ? x : el(tag, {}, x)))); }

function renderRegions(c, names) {
  const byName = new Map(c.regions.map((r) => [r.region, r]));
  const t = $('regions');
  const head = row(['region', 'answers', `HTTP ms from ${c.region}`, 'store', 'bootstrap', 'leases held', 'owners unknown', 'diverged', 'conflicts pending', 'witness'], 'th');
  const rows = names.map((name) => {
    const r = byName.get(name);
    const nameCell = el('td', {}, el('span', { class: `swatch ${colourClass(name)}` }), ` ${name}${name === c.region ? ' (this one)' : ''}`);
    if (!r || !r.ok) {
      const why = r ? r.error : 'not in this region\'s view';
      return el('tr', { 'data-region': name, 'data-ok': 'false' }, nameCell, el('td', { class: r && r.notAsked ? 'muted' : 'bad', colspan: 9 }, r && r.notAsked ? why : `unreachable: ${why}`));
    }
    const s = r.status;
    const own = s.ownership || {};
    const store = s.store && s.store.ok ? el('td', { class: 'ok' }, `ok ${s.store.pingMs ?? ''} ms`) : el('td', { class: 'bad' }, `down: ${(s.store && s.store.error) || '?'}`);
    const boot = s.bootstrap ? el('td', { class: s.bootstrap.writesOpen === false ? 'warn' : '' }, `${s.bootstrap.state}${s.bootstrap.writesOpen === false ? ' (writes wait)' : ''}`) : el('td', {}, '—');
    const witness = own.mode ? el('td', { class: 'muted' }, own.mode)
      : el('td', { class: own.witnessReachable ? 'ok' : 'bad' }, own.witnessReachable ? 'reachable' : 'not reachable');
    const unknown = own.unknownOwners ?? '—';
    return el('tr', { 'data-region': name, 'data-ok': 'true' }, nameCell, el('td', { class: 'ok' }, 'yes'), el('td', {}, r.ms ?? '—'), store, boot,
      el('td', {}, own.leased ?? '—'), el('td', { class: unknown > 0 ? 'warn' : '' }, unknown),
      el('td', { class: (own.diverged || []).length > 0 ? 'warn' : '' }, (own.diverged || []).length),
      el('td', {}, s.conflicts ? s.conflicts.pending ?? '?' : '—'), witness);
  });
  t.replaceChildren(head, ...rows);
}

function renderMatrix(c, names) {
  const byName = new Map(c.regions.map((r) => [r.region, r]));
  const head = el('tr', {}, el('th', {}, 'from \\ to'), ...names.map((n) => el('th', {}, n)));
  const rows = names.map((from) => {
    const r = byName.get(from);
    const cells = names.map((to) => {
      if (from === to) return el('td', { class: 'self', 'data-from': from, 'data-to': to }, '—');
      if (!r || !r.ok) return el('td', { class: 'state-unknown', 'data-from': from, 'data-to': to, 'data-state': 'unknown' }, el('span', { class: 'state' }, 'unknown'), el('br'), `${from} does not answer`);
      const p = (r.status.peers || []).find((x) => x.region === to);
      if (!p) return el('td', { class: 'state-unknown', 'data-from': from, 'data-to': to, 'data-state': 'none' }, 'no link configured');
      const lines = [
        el('span', { class: 'state' }, p.state), ` ${p.linkState || ''}`, el('br'),
        `lag ${p.lagEntries} entries / ${p.lagMs} ms`, el('br'),
        `heard ${p.heartbeatAgeMs === null ? 'never' : `${Math.round(p.heartbeatAgeMs)} ms ago`}`,
      ];
      if (from === c.region) { const rt = byName.get(to); if (rt && rt.ms !== null && rt.ms !== undefined && rt.ok) lines.push(el('br'), `HTTP ${rt.ms} ms`); }
      if (p.needsRepair) lines.push(el('br'), el('span', { class: 'bad' }, 'needs repair'));
      return el('td', {
        class: `state-${p.state}`, 'data-from': from, 'data-to': to, 'data-state': p.state, 'data-needs-repair': String(!!p.needsRepair),
        title: p.lastCloseReason ? `last close: ${p.lastCloseReason}` : null,
      }, ...lines);
    });
    return el('tr', {}, el('th', {}, from), ...cells);
  });
  $('matrix').replaceChildren(head, ...rows);
}

/** Partition maps as this region sees them (the first region that answers when it does not). */
function renderMaps(c, names) {
  const reachable = c.regions.filter((r) => r.ok);
  const here = reachable.find((r) => r.region === c.region) || reachable[0];
  $('legend').replaceChildren(...names.map((n) => el('span', { class: 'item' }, el('span', { class: `swatch ${colourClass(n)}` }), ` ${n}`)),
    el('span', { class: 'item' }, el('span', { class: 'swatch owner-unknown' }), ' unknown (owner not learnt yet)'),
    el('span', { class: 'item' }, 'dashed: diverged · yellow ring: regions disagree · faded: not taking writes'));
  if (!here) { $('maps').replaceChildren(el('p', { class: 'bad' }, 'no region answers')); return; }
  const recent = conflictCounts();
  const maps = here.status.keyspaces.map((ks) => {
    const others = reachable.filter((r) => r !== here).map((r) => ({ region: r.region, ks: (r.status.keyspaces || []).find((k) => k.name === ks.name) }));
    const cells = ks.partitions.map((p) => {
      const owner = p.state === 'unknown' || p.active === null || p.active === undefined ? null : p.active;
      const views = others.map((o) => ({ region: o.region, p: o.ks && o.ks.partitions[p.partition] })).filter((v) => v.p);
      const disputed = views.some((v) => v.p.state !== 'unknown' && v.p.active !== null && owner !== null && v.p.active !== owner);
      const n = recent.get(`${ks.name}/${p.partition}`) || 0;
      const title = [
        `${ks.name}/${p.partition}${p.name ? ` (${p.name})` : ''}`,
        `owner: ${owner === null ? 'unknown (not learnt yet)' : owner}${p.epoch !== null && p.epoch !== undefined ? `, epoch ${p.epoch}` : ''}`,
        `state here (${here.region}): ${p.state}${p.state === 'diverged' ? ' — taking writes cut off from its owner' : ''}`,
        `nodes: ${(p.nodes || []).join(', ')}`,
        ...views.map((v) => `as ${v.region} sees it: ${v.p.active === null ? 'unknown' : v.p.active} / ${v.p.state}`),
        `conflicts among the last ${st.conflicts.length} shown: ${n}`,
      ].join('\n');
      const cls = ['cell', owner === null ? 'owner-unknown' : colourClass(owner)];
      if (p.state === 'diverged') cls.push('diverged');
      if (disputed) cls.push('disputed');
      if (['fenced', 'unavailable', 'bootstrapping', 'handover'].includes(p.state)) cls.push('notactive');
      return el('div', {
        class: cls.join(' '), title, 'data-keyspace': ks.name, 'data-partition': p.partition,
        'data-owner': owner === null ? 'unknown' : owner, 'data-state': p.state,
      }, owner === null ? '?' : p.partition);
    });
    return el('div', { class: 'keyspace', 'data-keyspace': ks.name },
      el('h3', {}, `${ks.name} — ${ks.partitions.length} partitions, ${ks.writes}, on split ${ks.onSplit}, resolver ${ks.resolver}`),
      el('div', { class: 'grid' }, ...cells));
  });
  $('maps').replaceChildren(...maps);
}

function conflictCounts() {
  const m = new Map();
  for (const x of st.conflicts) { const k = `${x.keyspace}/${x.partition}`; m.set(k, (m.get(k) || 0) + 1); }
  return m;
}

const when = (ms) => (Number.isFinite(Number(ms)) && Number(ms) > 0 ? new Date(Number(ms)).toLocaleTimeString() : '—');

function renderDecisions() {
  const head = row(['at', 'seen by', 'partition', 'owner', 'epoch', 'why'], 'th');
  const rows = st.decisions.map((d) => row([
    when(d.at ?? d.atMs), Array.isArray(d.seenBy) ? d.seenBy.join(', ') : d.region ?? '—', `${d.keyspace}/${d.partition}`,
    `${d.previous ?? d.fromOwner ?? '—'} → ${d.owner ?? d.toOwner}`, d.epoch,
    d.reason ? `${d.reason}${d.detail ? `: ${d.detail}` : ''}` : 'not known (the witness keeps the reasons; not reached)',
  ]));
  $('decisions').replaceChildren(head, ...(rows.length ? rows : [row(['none yet', '', '', '', '', ''])]));
}

function renderConflicts() {
  const head = row(['at', 'journaled by', 'keyspace', 'key', 'type', 'resolver', 'winner'], 'th');
  const rows = st.conflicts.map((x) => row([when(x.at), [x.region, ...(x.alsoIn || [])].filter(Boolean).join(', ') || '—', x.keyspace, x.key, x.type, x.resolver, x.winner]));
  $('conflicts').replaceChildren(head, ...(rows.length ? rows : [row(['none yet', '', '', '', '', '', ''])]));
}

function setupAuth() {
  $('auth').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('token').value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    $('token').value = '';
    if (!st.inFlight) { clearTimeout(st.timer); st.refreshes = 0; refresh(); }
  });
  $('forget').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); $('auth-note').textContent = 'token forgotten'; });
}

setupAuth();
refresh();
