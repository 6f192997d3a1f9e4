// Hive Scheduler dashboard: plain ES module over the public API (/api/v1) and its live stream.
// No framework and no build step, so the binary can embed this file as it is.
//
// The token lives in sessionStorage only (gone with the tab) and travels only in the
// Authorization header; the stream is opened with a one-use ticket, as browsers cannot set
// headers on a WebSocket. The role read from the token decides what is shown, for display
// only: the server checks every request itself.

const API = '/api/v1';
const TOKEN_KEY = 'hivesched.token';
const ROLES = ['viewer', 'operator', 'admin'];
const FEED_MAX = 50;           // decision rows kept on the page
const HISTORY_STEPS = 72;      // demand steps drawn before now
const HORIZON = 24;            // forecast steps drawn after now
const SVG_NS = 'http://www.w3.org/2000/svg';
const ROLLOUT = 'scheduler.acting';  // the scheduler's own rollout (docs/rollout.md)

const $ = (id) => document.getElementById(id);

const S = {
  token: null, claims: null, role: null,
  agents: new Map(),       // id -> agent view
  decisions: [],           // newest first
  alerts: new Map(),       // id -> alert view
  config: null, controls: null, savings: null, model: null,
  rollout: undefined,      // evidence of scheduler.acting; null when the flag does not exist
  forecast: null,          // {start_ms, step_s, mean[], upper[], model}
  demand: [],              // [{t, v}] oldest first
  awakeHistory: [],        // [{t, n}] sampled as the fleet changes (engine time)
  now: null,               // engine time (ms) of the newest decision or event seen
  ws: null, seq: null, retry: 0, retryTimer: null, timers: [], demandPending: false,
};

// ---------- helpers ----------

function rank(role) { return ROLES.indexOf(role); }
function can(role) { return S.role !== null && rank(S.role) >= rank(role); }

class HttpError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status; this.code = body && body.code;
  }
}

/** The JWT's payload, for display only (the signature is the server's business). */
function decodeClaims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('That is not a token: a JWT has three dot-separated parts.');
  const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  let claims;
  try {
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    claims = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error('That is not a token: its payload is not readable JSON.');
  }
  if (!ROLES.includes(claims.role)) throw new Error(`The token names no known role (got ${JSON.stringify(claims.role)}).`);
  return claims;
}

async function api(path, { method = 'GET', body, token = S.token } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!res.ok) throw new HttpError(res.status, data);
  return data;
}

/** Messages for the answers a signed-in user can do something about. */
function explain(err, needed) {
  if (err.status === 401) return expiredMessage();
  if (err.status === 403 && err.code === 'invalid_code') return 'The one-time code is unknown, expired or already used. Issue a new one with `hivesched auth issue-code`.';
  if (err.status === 403) return `Your role (${S.role}) is too low for this${needed ? `: it needs ${needed}` : ''}.`;
  return err.message || String(err);
}

function expiredMessage() {
  if (S.claims && S.claims.exp && S.claims.exp * 1000 < Date.now()) {
    return `Your token expired at ${new Date(S.claims.exp * 1000).toISOString().replace('.000', '')}. Paste a new one.`;
  }
  return 'The server refused your token (expired, revoked, or signed with another key). Paste a new one.';
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

const ms = (iso) => Date.parse(iso);
const hhmm = (t) => new Date(t).toISOString().slice(11, 16);
const dayHhmm = (t) => { const s = new Date(t).toISOString(); return `${s.slice(5, 10)} ${s.slice(11, 16)}`; };
const pct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(1)} %`);
function compact(x) {
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  return a >= 10 || x === 0 ? x.toFixed(0) : x.toFixed(1);
}
function advance(t) { if (Number.isFinite(t) && (S.now === null || t > S.now)) S.now = t; }

// ---------- sign-in ----------

function showSignIn(message) {
  $('signin').hidden = false; $('app').hidden = true;
  $('who').hidden = true; $('sign-out').hidden = true; $('mode-badge').hidden = true;
  const err = $('signin-error');
  err.textContent = message || ''; err.hidden = !message;
  $('token').focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  S.token = null; S.claims = null; S.role = null;
  S.awakeHistory = []; S.decisions = []; S.now = null;
  stopStream();
  for (const t of S.timers) clearInterval(t);
  S.timers = [];
  setLive('off', 'offline');
  showSignIn(message);
}

/**
 * Checks a pasted token with one request before keeping it, so a bad one gets a clear message
 * on the sign-in form; a token saved earlier in this tab (`trusted`) goes straight to the
 * dashboard, whose first 401 signs out with the same messages.
 */
async function signIn(token, trusted = false) {
  let claims;
  try { claims = decodeClaims(token); } catch (e) { showSignIn(e.message); return; }
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    showSignIn(`This token expired at ${new Date(claims.exp * 1000).toISOString().replace('.000', '')}. Mint a new one with \`hivesched auth token\`.`);
    return;
  }
  try {
    if (!trusted) await api('/controls', { token });
  } catch (e) {
    if (e.status === 401) showSignIn('The server refused this token: it is expired, revoked, or signed with another key.');
    else if (e.status === 403) showSignIn(`This token's role (${claims.role}) is too low to view the dashboard.`);
    else showSignIn(`Could not reach the service: ${e.message}`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  S.token = token; S.claims = claims; S.role = claims.role;
  $('signin').hidden = true; $('app').hidden = false;
  $('who').textContent = `${claims.sub} · ${claims.role}`; $('who').hidden = false; $('sign-out').hidden = false;
  for (const f of document.querySelectorAll('[data-role]')) f.hidden = !can(f.dataset.role);
  $('controls').hidden = !can('operator');
  $('token').value = '';
  await loadAll();
  openStream();
  S.timers.push(setInterval(() => refresh(loadSavings), 15000));
  S.timers.push(setInterval(() => refresh(loadModel), 60000));
  // Rollout checks run every flag_check_interval (60 s by default, 10 s in the demo).
  S.timers.push(setInterval(() => refresh(loadRollout), 10000));
  // A safety net for anything the stream does not carry (agents registered by a fleet).
  S.timers.push(setInterval(() => refresh(loadAgents), 30000));
}

async function refresh(fn) {
  if (!S.token) return;
  try { await fn(); showAppError(null); } catch (e) { handleError(e); }
}

function handleError(e) {
  if (e.status === 401) { signOut(expiredMessage()); return; }
  showAppError(explain(e));
}

function showAppError(msg) { const p = $('app-error'); p.textContent = msg || ''; p.hidden = !msg; }

// ---------- loading ----------

async function loadAll() {
  try {
    await Promise.all([loadConfig(), loadAgents(), loadDecisions(), loadAlerts(), loadControls(),
      loadForecast(), loadDemand(), loadSavings(), loadModel(), loadRollout()]);
    showAppError(null);
  } catch (e) { handleError(e); }
}

async function loadConfig() {
  S.config = await api('/config');
  const shadow = S.config.settings.scheduler.shadow;
  const b = $('mode-badge');
  b.textContent = shadow ? 'shadow mode: decides, never acts' : 'acting';
  b.className = `badge${shadow ? ' shadow' : ''}`; b.hidden = false;
  renderRails(); renderChart();
}

async function loadAgents() {
  const list = await api('/agents');
  S.agents = new Map(list.agents.map((a) => [a.id, a]));
  renderFleet();
}

async function loadDecisions() {
  const page = await api('/decisions?limit=200');
  S.decisions = page.decisions;
  if (S.decisions.length) advance(ms(S.decisions[0].at));
  renderDecisions(true); renderRails(); renderChart();
}

async function loadAlerts() {
  const page = await api('/alerts?limit=50');
  S.alerts = new Map(page.alerts.map((a) => [a.id, a]));
  renderAlerts();
}

async function loadControls() { S.controls = await api('/controls'); renderControls(); }

async function loadForecast() {
  try {
    const f = await api(`/forecast?horizon=${HORIZON}`);
    if (f.points.length) {
      S.forecast = { start_ms: ms(f.points[0].at) - f.step_s * 1000, step_s: f.step_s,
        mean: f.points.map((p) => p.mean), upper: f.points.map((p) => p.upper), model: f.model };
    }
  } catch (e) {
    // 503 `unavailable`: not enough history yet; the chart says so and the stream fills it in.
    if (e.status !== 503) throw e;
  }
  renderChart();
}

async function loadDemand() {
  const h = await api(`/demand?steps=${HISTORY_STEPS}`);
  S.demand = h.samples.map((s) => ({ t: ms(s.at), v: s.value }));
  renderChart();
}

async function loadSavings() { S.savings = await api('/savings'); renderSavings(); }

async function loadRollout() {
  // The list first: without the flag (the scheduler acts on every agent) the page asks for
  // nothing that would answer 404.
  const list = await api('/flags');
  S.rollout = list.flags.some((f) => f.flag.key === ROLLOUT)
    ? await api(`/flags/${ROLLOUT}/evidence?limit=20`) : null;
  renderRollout();
}

async function loadModel() {
  const r = await api('/forecast/models?limit=1');
  S.model = r.models[0] || null;
  renderAccuracy();
}

// Demand has no stream message of its own: read it again after a decision (at most every 3 s).
function demandSoon() {
  if (S.demandPending) return;
  S.demandPending = true;
  setTimeout(() => { S.demandPending = false; refresh(loadDemand); }, 3000);
}

// ---------- the live stream ----------

function setLive(state, text) { const l = $('live'); l.dataset.state = state; l.textContent = text; }

async function openStream() {
  if (!S.token) return;
  clearTimeout(S.retryTimer);
  let ticket;
  try {
    ticket = (await api('/stream/ticket', { method: 'POST' })).ticket;
  } catch (e) {
    if (e.status === 401) { signOut(expiredMessage()); return; }
    scheduleReconnect(); return;
  }
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const since = S.seq === null ? '' : `&since=${S.seq}`;
  const ws = new WebSocket(`${proto}//${location.host}${API}/stream?ticket=${encodeURIComponent(ticket)}${since}`);
  S.ws = ws;
  ws.onopen = () => { S.retry = 0; setLive('on', 'live'); };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    // A replay after `since` may repeat what was already applied.
    if (S.seq !== null && msg.seq <= S.seq && msg.type !== 'gap') return;
    if (msg.seq > (S.seq ?? -1)) S.seq = msg.seq;
    onMessage(msg);
  };
  ws.onclose = (ev) => {
    if (S.ws !== ws) return;
    S.ws = null;
    if (!S.token) return;
    if (ev.code === 4001) { signOut('Your token expired while watching. Paste a new one.'); return; }
    scheduleReconnect(ev.code === 4008 ? 'fell behind; reconnecting' : 'reconnecting');
  };
}

function scheduleReconnect(text = 'reconnecting') {
  setLive('retry', text);
  const delay = Math.min(15000, 1000 * 2 ** S.retry);
  S.retry += 1;
  clearTimeout(S.retryTimer);
  S.retryTimer = setTimeout(openStream, delay);
}

function stopStream() {
  clearTimeout(S.retryTimer);
  if (S.ws) { const ws = S.ws; S.ws = null; ws.close(1000); }
  S.seq = null; S.retry = 0;
}

function onMessage(msg) {
  const d = msg.data;
  // The panels plan the default pool; other pools' decisions and forecasts carry `pool`.
  if (d && d.pool && (msg.type === 'decision' || msg.type === 'forecast')) return;
  switch (msg.type) {
    case 'decision': {
      if (!S.decisions.some((x) => x.id === d.id)) {
        S.decisions.unshift(d);
        S.decisions.sort((a, b) => b.id - a.id);
        S.decisions.length = Math.min(S.decisions.length, 500);
      }
      advance(ms(d.at));
      sampleAwake();
      renderDecisions(false); renderRails(); renderChart(); demandSoon();
      break;
    }
    case 'agent': {
      for (const c of d.changes) {
        const a = S.agents.get(c.agent);
        if (a) a.state = c.to; else S.agents.set(c.agent, { id: c.agent, state: c.to });
      }
      advance(ms(d.at));
      sampleAwake();
      renderFleet(); renderRails(); renderChart();
      break;
    }
    case 'forecast':
      S.forecast = { start_ms: ms(d.start), step_s: d.step_s, mean: d.mean.slice(0, HORIZON), upper: d.upper.slice(0, HORIZON), model: d.model };
      renderChart();
      break;
    case 'alert':
      S.alerts.set(d.id, d); renderAlerts();
      break;
    case 'control':
      refresh(loadControls);
      if (String(d.action).startsWith('config')) refresh(loadConfig);
      break;
    case 'gap':
      // Some messages are gone for good: read everything again.
      loadAll();
      break;
    case 'tick_failed':
      showAppError(`A tick failed at ${dayHhmm(ms(d.at))}: ${d.error}`);
      break;
    default:
      break;
  }
}

// ---------- rendering ----------

const MOVING = ['preparing_sleep', 'consolidating', 'waking'];

function counts() {
  const c = { total: 0, awake: 0, asleep: 0, moving: 0, error: 0 };
  for (const a of S.agents.values()) {
    c.total += 1;
    if (a.state === 'awake') c.awake += 1;
    else if (a.state === 'asleep') c.asleep += 1;
    else if (a.state === 'error') c.error += 1;
    else if (MOVING.includes(a.state)) c.moving += 1;
  }
  return c;
}

function sampleAwake() {
  if (S.now === null) return;
  const n = counts().awake;
  const last = S.awakeHistory[S.awakeHistory.length - 1];
  if (last && last.t === S.now) last.n = n; else S.awakeHistory.push({ t: S.now, n });
  if (S.awakeHistory.length > 2000) S.awakeHistory.shift();
}

function renderFleet() {
  const c = counts();
  $('fleet-total').textContent = c.total; $('fleet-awake').textContent = c.awake;
  $('fleet-asleep').textContent = c.asleep; $('fleet-moving').textContent = c.moving;
  $('fleet-error').textContent = c.error;
  const ids = [...S.agents.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const grid = $('agent-grid');
  grid.replaceChildren(...ids.map((id) => {
    const a = S.agents.get(id);
    const extra = [a.pin ? `pinned ${a.pin}` : null, a.busy ? 'busy' : null, a.do_not_disrupt ? 'do not disrupt' : null].filter(Boolean);
    return el('span', { class: `st-${a.state}${a.pin ? ' pinned' : ''}`, title: `${id}: ${a.state.replace('_', ' ')}${extra.length ? ` (${extra.join(', ')})` : ''}` });
  }));
}

function groupBy(items, key, weight) {
  const m = new Map();
  for (const it of items) m.set(key(it), (m.get(key(it)) || 0) + weight(it));
  return [...m.entries()];
}

function decisionRow(d, fresh) {
  const held = d.blocked.reduce((n, b) => n + b.count, 0);
  const head = el('div', { class: 'head' },
    el('time', { datetime: d.at, title: d.at, text: dayHhmm(ms(d.at)) }),
    el('span', { class: 'target', text: `target ${d.target_awake} awake` }),
    el('span', { class: 'chip', text: d.tier }),
    d.mode !== 'normal' ? el('span', { class: 'chip mode', text: d.mode.replace('_', ' ') }) : null,
    d.shadow ? el('span', { class: 'chip shadow', text: 'shadow' }) : null,
    el('span', { class: 'chip held', 'data-testid': 'held-count', text: `held back ${held}` }));
  const chips = el('div');
  for (const [k, n] of groupBy(d.actions, (a) => `${a.kind} ${a.reason}`, () => 1)) {
    const [kind, reason] = k.split(' ');
    chips.append(el('span', { class: `chip ${kind}`, text: `${kind} ×${n} · ${reason}` }));
  }
  for (const [k, n] of groupBy(d.blocked, (b) => `${b.kind} ${b.reason}`, (b) => b.count)) {
    const [kind, reason] = k.split(' ');
    chips.append(el('span', { class: 'chip held', text: `held ${kind} ×${n} · ${reason}` }));
  }
  if (!d.actions.length && !d.blocked.length) chips.append(el('span', { class: 'chip', text: 'no action' }));
  return el('li', { class: `decision${fresh ? ' fresh' : ''}`, 'data-testid': 'decision-row', 'data-id': String(d.id) },
    head, chips, el('div', { class: 'why', text: d.explanation }));
}

function renderDecisions(all) {
  const list = $('decision-list');
  const shown = S.decisions.slice(0, FEED_MAX);
  const have = new Set([...list.children].map((li) => li.dataset.id));
  list.replaceChildren(...shown.map((d) => {
    const old = !all && have.has(String(d.id)) ? list.querySelector(`[data-id="${d.id}"]`) : null;
    if (old) { old.classList.remove('fresh'); return old; }
    return decisionRow(d, !all);
  }));
}

function renderRails() {
  const body = $('rails').tBodies[0];
  if (!S.config || !S.agents.size) { body.replaceChildren(); return; }
  const r = S.config.settings.scheduler.rails;
  const c = counts();
  const now = S.now ?? Date.now();
  // Sleeps the decisions admitted within a window: the gate counts started sleeps from the
  // task journal, which the API does not list per window, so this is the decisions' view.
  const sleepsSince = (secs) => S.decisions.filter((d) => ms(d.at) > now - secs * 1000)
    .reduce((n, d) => n + d.actions.filter((a) => a.kind === 'sleep').length, 0);
  const transitioning = c.total ? Math.ceil(r.max_in_transition * c.total) : 0;
  const scaleDown = Math.floor(r.max_scale_down * c.awake);
  const rows = [
    ['awake above min_awake', c.awake - r.min_awake, Math.max(c.awake, 1), `${c.awake} awake, floor ${r.min_awake}`],
    ['in transition', transitioning - (c.total - c.awake - c.asleep - c.error), transitioning, `at most ${transitioning} at once`],
    ['sleep rate', r.sleep_rate - sleepsSince(r.sleep_rate_window), r.sleep_rate, `${r.sleep_rate} per ${r.sleep_rate_window} s`],
    ['scale-down budget', scaleDown - sleepsSince(r.agent_cooldown), Math.max(scaleDown, 1), `${Math.round(r.max_scale_down * 100)} % of awake per ${r.agent_cooldown} s`],
  ];
  const last = S.decisions[0];
  body.replaceChildren(...rows.map(([name, left, of, hint]) => {
    const share = Math.max(0, Math.min(1, left / of));
    const bar = el('b', { class: left <= 0 ? 'none' : share < 0.25 ? 'low' : '' });
    bar.style.width = `${Math.round(share * 100)}%`;
    return el('tr', {}, el('td', {}, el('div', { text: name, title: hint }), el('div', { class: 'bar' }, bar)),
      el('td', { class: 'v', text: `${Math.max(0, left)} left` }));
  }), ...(last && last.blocked.length ? [el('tr', {}, el('td', { colspan: '2', class: 'note' },
    `last decision held back: ${groupBy(last.blocked, (b) => b.reason, (b) => b.count).map(([k, n]) => `${k} ×${n}`).join(', ')}`))] : []));
}

function renderSavings() {
  const s = S.savings;
  if (!s) return;
  const pick = (w) => (s.shadow ? w.planned_savings_pct : w.savings_pct);
  for (const w of s.windows) {
    const e = $(`savings-${w.window}`);
    if (e) { e.textContent = pct(pick(w)); e.title = `${w.agent_hours.toFixed(1)} agent-h billed of ${w.always_on_agent_hours.toFixed(1)} always-on`; }
  }
  $('savings-mode').textContent = s.shadow ? 'would have saved (shadow mode)' : 'agent-hours saved vs always-on';
  const day = s.windows.find((w) => w.window === '24h');
  const covered = day ? ` The day window covers ${(day.covered_s / 3600).toFixed(1)} h of decisions.` : '';
  $('savings-note').textContent = `Target ${s.target_pct.toFixed(0)} %.${covered}`;
}

function renderAccuracy() {
  const body = $('accuracy').tBodies[0];
  const m = S.model;
  if (!m) { body.replaceChildren(el('tr', {}, el('td', { class: 'note', text: 'No model fitted yet.' }))); return; }
  $('accuracy-when').textContent = `${m.model}, fitted on data to ${dayHhmm(ms(m.fitted_at))}`;
  const ranking = Array.isArray(m.accuracy?.backtest_relative_mae) ? m.accuracy.backtest_relative_mae : [];
  const members = new Set((m.parameters?.members || []).map((x) => String(x.model)));
  const rows = ranking.slice(0, 6).map(([name, err], i) => el('tr', { class: i === 0 ? 'best' : '' },
    el('td', { text: name, title: 'backtest error relative to mean demand' }),
    el('td', { class: 'v', text: `${(err * 100).toFixed(1)} % MAE` })));
  if (!rows.length) {
    for (const [k, v] of Object.entries(m.accuracy || {})) if (typeof v === 'number') rows.push(el('tr', {}, el('td', { text: k }), el('td', { class: 'v', text: v.toFixed(3) })));
  }
  if (members.size) rows.push(el('tr', {}, el('td', { colspan: '2', class: 'note', text: `in use: ${[...members].join(', ')}` })));
  body.replaceChildren(...rows);
}

function renderRollout() {
  const ev = S.rollout;
  const status = $('rollout-status');
  const ladder = $('rollout-ladder');
  const arms = $('rollout-arms').tBodies[0];
  const checks = $('rollout-checks');
  if (!ev) {
    status.textContent = ev === null ? `No rollout: the scheduler acts on every agent (create ${ROLLOUT} to roll it out).` : '–';
    ladder.replaceChildren(); arms.replaceChildren(); checks.replaceChildren();
    return;
  }
  const r = ev.flag.rollout;
  const last = ev.decisions.find((d) => d.observations) || null;
  const advances = ev.decisions.filter((d) => d.decision.action === 'advance').length;
  const waiting = last && last.decision.waiting.length ? ` · waiting: ${last.decision.waiting.join(', ').replace(/_/g, ' ')}` : '';
  status.textContent = `${r.percentage} % · ${r.phase.replace(/_/g, ' ')}${ev.flag.breaker_open ? ' · breaker open' : ''} · ${advances} advance${advances === 1 ? '' : 's'} shown${waiting}`;
  ladder.className = `ladder ${r.phase}`;
  ladder.replaceChildren(...ev.flag.flag.ladder.map((p) => el('li', {
    class: p === r.percentage ? 'now' : p < r.percentage ? 'done' : '', text: `${p} %` })));
  const o = last && last.observations;
  const share = (a) => { const d = a.completed + a.failed + a.wakes_failed; return d ? pct(100 * (a.failed + a.wakes_failed) / d) : '–'; };
  arms.replaceChildren(...(o ? [['treatment', o.treatment], ['control', o.control]].map(([name, a]) => el('tr', {},
    el('td', { text: name, title: 'agents assigned to the arm; of them, reporting work (awake)' }),
    el('td', { class: 'v', 'data-testid': `rollout-${name}`, text: `${a.assigned} agents · ${a.units} at work · ${a.completed + a.failed} tasks · ${share(a)} unserved` }))) : []));
  checks.replaceChildren(...(last ? last.decision.checks.map((c, i) => el('li', { class: c.outcome, title: last.explanation[i] || '' },
    el('b', { text: c.outcome.replace('_', ' ') }), c.guardrail.replace(/_/g, ' '))) : []));
}

function renderAlerts() {
  const list = $('alert-list');
  const alerts = [...S.alerts.values()].sort((a, b) =>
    (a.state === 'resolved') - (b.state === 'resolved') || ms(b.fired_at) - ms(a.fired_at));
  list.replaceChildren(...alerts.map((a) => {
    const ack = can('operator') && a.state === 'firing'
      ? el('button', { type: 'button', class: 'quiet', 'data-testid': 'alert-ack', text: 'Acknowledge' }) : null;
    if (ack) ack.addEventListener('click', () => acknowledge(a.id, ack));
    const when = a.state === 'acknowledged' ? ` · acknowledged by ${a.acknowledged_by}` : a.state === 'resolved' ? ` · resolved ${dayHhmm(ms(a.resolved_at))}` : '';
    return el('li', { class: `alert-row ${a.state}`, 'data-testid': 'alert-row', 'data-state': a.state },
      el('span', { class: `sev ${a.severity}`, text: a.severity }),
      el('div', { class: 'body' }, el('div', { text: a.summary }),
        el('div', { class: 'meta', text: `${a.rule} · fired ${dayHhmm(ms(a.fired_at))}${when}` })),
      ack);
  }));
  $('alerts-empty').hidden = alerts.length > 0;
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    const a = await api(`/alerts/${encodeURIComponent(id)}/ack`, { method: 'POST' });
    S.alerts.set(a.id, a); renderAlerts();
  } catch (e) {
    if (e.status === 401) { signOut(expiredMessage()); return; }
    button.disabled = false; showAppError(explain(e, 'operator'));
  }
}

function renderControls() {
  const c = S.controls || {};
  const until = (u) => (u ? ` until ${dayHhmm(ms(u))}` : ' until resumed');
  const stop = $('emergency-banner');
  stop.hidden = !c.emergency;
  stop.textContent = c.emergency ? `Emergency stop in force: ${c.emergency.mode.replace('_', ' ')}${until(c.emergency.until)}. Nothing it halts reaches the fleet.` : '';
  const pause = $('pause-banner');
  pause.hidden = !c.pause;
  pause.textContent = c.pause ? `Paused: ${c.pause.direction}${c.pause.until ? ` until ${dayHhmm(ms(c.pause.until))}` : ' until lifted'}.` : '';
  $('unpause').hidden = !c.pause;
  $('resume-form').hidden = !can('admin') || !c.emergency;
}

// ---------- chart ----------

function renderChart() {
  const box = $('forecast-chart');
  const W = 720, H = 260, L = 46, R = 12, T = 10, B = 24;
  const cap = S.config ? S.config.settings.scheduler.capacity : null;
  const f = S.forecast;
  const demand = S.demand;
  const fc = f ? f.mean.map((m, i) => ({ t: f.start_ms + (i + 1) * f.step_s * 1000, m, u: f.upper[i] })) : [];
  const now = Math.max(S.now ?? -Infinity, demand.length ? demand[demand.length - 1].t : -Infinity);
  const t0 = demand.length ? demand[0].t : (Number.isFinite(now) ? now - 86400000 : null);
  const t1 = fc.length ? fc[fc.length - 1].t : now;
  if (t0 === null || !Number.isFinite(t1) || t1 <= t0) {
    box.replaceChildren(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }));
    box.lastChild.textContent = 'Waiting for demand and a forecast…';
    return;
  }
  const target = cap ? S.decisions.filter((d) => ms(d.at) >= t0).map((d) => ({ t: ms(d.at), v: d.target_awake * cap })).reverse() : [];
  const awake = cap ? S.awakeHistory.filter((p) => p.t >= t0).map((p) => ({ t: p.t, v: p.n * cap })) : [];
  if (cap && Number.isFinite(now)) awake.push({ t: now, v: counts().awake * cap });
  const values = [...demand.map((p) => p.v), ...fc.map((p) => p.u), ...target.map((p) => p.v), ...awake.map((p) => p.v)];
  const vmax = Math.max(1, ...values) * 1.05;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / vmax) * (H - T - B);
  const path = (pts, fx, fy) => pts.map((p, i) => `${i ? 'L' : 'M'}${fx(p).toFixed(1)},${fy(p).toFixed(1)}`).join('');
  const stepPath = (pts) => pts.map((p, i) => (i ? `H${x(p.t).toFixed(1)}V${y(p.v).toFixed(1)}` : `M${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)).join('') + (pts.length ? `H${x(now).toFixed(1)}` : '');
  const nodes = [];
  for (let i = 0; i <= 4; i++) {
    const v = (vmax / 1.05) * (i / 4);
    nodes.push(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid-line' }));
    const lbl = svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }); lbl.textContent = compact(v); nodes.push(lbl);
  }
  const span = t1 - t0;
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (span * i) / 4;
    const lbl = svg('text', { x: x(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' });
    lbl.textContent = span > 86400000 ? dayHhmm(t) : hhmm(t); nodes.push(lbl);
  }
  if (fc.length) {
    // The forecast starts from the newest observation so the lines join.
    const origin = demand.length ? [{ t: demand[demand.length - 1].t, m: demand[demand.length - 1].v, u: demand[demand.length - 1].v }] : [];
    const pts = [...origin, ...fc];
    const band = `${path(pts, (p) => x(p.t), (p) => y(p.u))}${[...pts].reverse().map((p) => `L${x(p.t).toFixed(1)},${y(p.m).toFixed(1)}`).join('')}Z`;
    nodes.push(svg('path', { d: band, class: 'band', 'data-series': 'interval' }));
    nodes.push(svg('path', { d: path(pts, (p) => x(p.t), (p) => y(p.m)), class: 'mean', 'data-series': 'mean' }));
  }
  if (demand.length) nodes.push(svg('path', { d: path(demand, (p) => x(p.t), (p) => y(p.v)), class: 'demand', 'data-series': 'demand' }));
  if (target.length) nodes.push(svg('path', { d: stepPath(target), class: 'target', 'data-series': 'target' }));
  if (awake.length) nodes.push(svg('path', { d: stepPath(awake), class: 'capacity', 'data-series': 'capacity' }));
  if (Number.isFinite(now)) {
    nodes.push(svg('line', { x1: x(now), x2: x(now), y1: T, y2: H - B, class: 'now' }));
    const lbl = svg('text', { x: x(now) + 4, y: T + 10 }); lbl.textContent = 'now'; nodes.push(lbl);
  }
  box.replaceChildren(...nodes);
  // The full model string lists every member with its weight: the family name is enough here.
  const chartModel = $('chart-model');
  chartModel.textContent = f ? `forecast by ${f.model.split('[')[0]}` : 'no forecast yet';
  chartModel.title = f ? f.model : '';
}

// ---------- controls ----------

function controlsMessage(text, error = false) {
  const p = $('controls-msg'); p.textContent = text; p.className = error ? 'error' : 'note';
}

async function control(path, method, body, done, needed) {
  try {
    const c = await api(path, { method, body });
    if (c && 'emergency' in c) { S.controls = c; renderControls(); } else await loadControls();
    controlsMessage(done);
    return true;
  } catch (e) {
    if (e.status === 401) { signOut(expiredMessage()); return false; }
    controlsMessage(explain(e, needed), true);
    return false;
  }
}

function wireControls() {
  $('stop-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ok = await control('/emergency/stop', 'POST', { code: $('stop-code').value.trim(), mode: $('stop-mode').value, reason: $('stop-reason').value },
      'Emergency stop set.', 'admin');
    if (ok) { $('stop-code').value = ''; }
  });
  $('resume-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ok = await control('/emergency/resume', 'POST', { code: $('resume-code').value.trim(), reason: $('resume-reason').value },
      'Resumed.', 'admin');
    if (ok) { $('resume-code').value = ''; }
  });
  $('pause-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    control('/controls/pause', 'PUT', { direction: $('pause-direction').value, reason: $('pause-reason').value }, 'Paused.', 'operator');
  });
  $('unpause').addEventListener('click', () => {
    const reason = $('pause-reason').value.trim() || 'lifted from the dashboard';
    control('/controls/pause', 'DELETE', { reason }, 'Pause lifted.', 'operator');
  });
}

// ---------- start ----------

function start() {
  $('signin-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('token').value.trim()); });
  $('sign-out').addEventListener('click', () => signOut());
  wireControls();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved, true); else showSignIn();
}

start();
