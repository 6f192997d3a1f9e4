// End-to-end test of the dashboard in a real headless Chromium: Debian's `chromium`, driven by
// playwright-core (no browser download). Starts `hivesched demo` on 127.0.0.1:0 with a scratch
// data directory, then:
//   viewer: fleet-total equals the API's count, decisions arrive live without a reload, the
//           stream resumes with `since=` after a drop and a `gap` makes the page read the API
//           again, no control is visible, clear messages for an expired and a refused token;
//   admin:  emergency stop with a one-time code -> banner, and a `control` message on the
//           page's own stream; the stop's alert acknowledged; a wrong code refused; resume;
//   rollout: the panel shows the demo's `scheduler.acting` at the API's stage, and the
//           rollout past its first stage while the scheduler sleeps treatment agents.
// Prints the first render time and the page weight and fails above 1 s / 300 KB.
// Screenshots go to target/browser-artifacts/.
//
// Usage (from anywhere): node tests/browser/dashboard.mjs
//   HIVESCHED_BIN   the binary (default: target/debug/hivesched)
//   CHROMIUM        the browser (default: `command -v chromium`)

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.HIVESCHED_BIN || path.join(ROOT, 'target/debug/hivesched');
const ARTIFACTS = path.join(ROOT, 'target/browser-artifacts');
const FIRST_RENDER_LIMIT_MS = 1000;
const PAGE_WEIGHT_LIMIT = 300 * 1024;
const CODE_RE = /[0-9a-f]{8}(?:-[0-9a-f]{8}){4}/;

let step = 'starting';
const log = (msg) => console.log(`[browser] ${msg}`);
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log(`ok: ${what}`);
}

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not installed (apt-get install -y chromium)');
  }
}

/** Starts the demo and reads its address, tokens and database from what it prints. */
function startDemo(dataDir) {
  const child = spawn(BIN, ['demo', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HIVE_LOG: process.env.HIVE_LOG || 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (b) => { stderr = (stderr + b).slice(-4000); });
  const info = {};
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`the demo printed no address within 60 s; stderr:\n${stderr}`));
    }, 60000);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the demo exited (${code}); stderr:\n${stderr}`)); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/^(url|admin token|operator token|viewer token): (\S+)/);
      if (m) info[m[1]] = m[2];
      const db = line.match(/--database '([^']+)'/);
      if (db) info.database = db[1];
      if (info.url && info['viewer token'] && info['operator token'] && info['admin token'] && info.database) {
        clearTimeout(timer);
        resolve({ child, url: info.url, viewer: info['viewer token'], operator: info['operator token'], admin: info['admin token'], database: info.database });
      }
    });
  });
}

function issueCode(database) {
  const out = execFileSync(BIN, ['auth', 'issue-code', '--database', database], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const m = out.match(CODE_RE);
  if (!m) throw new Error(`no code in: ${out}`);
  return m[0];
}

async function apiGet(base, token, p) {
  const res = await fetch(`${base}/api/v1${p}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET ${p}: ${res.status}`);
  return res.json();
}

/** A token shaped like the service's, unsigned: the page judges `exp` before asking. */
function fakeToken(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64(claims)}.c2lnbmF0dXJl`;
}

// Passed as a function, not a string: the page's CSP forbids eval, which string predicates need.
function shownNumber(id) {
  const t = document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '';
  return /^\d+$/.test(t) ? performance.now() : false;
}

async function signIn(page, token) {
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('sign-in').click();
}

async function main() {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build it with \`cargo build -p hivesched\``);
  mkdirSync(ARTIFACTS, { recursive: true });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'hivesched-browser-'));
  const demo = await startDemo(dataDir);
  const metrics = {};
  let browser = null;
  try {
    log(`demo at ${demo.url}`);
    // The service is measured once it serves: after its first decision (the start-up fit of
    // the forecaster is not what a page load should be timed against).
    for (let i = 0; ; i++) {
      const page = await apiGet(demo.url, demo.viewer, '/decisions?limit=1').catch(() => null);
      if (page && page.decisions.length) break;
      if (i > 300) throw new Error('the demo made no decision within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const page = await context.newPage();
    const consoleErrors = [];
    // The browser logs every 4xx answer; the 401 and 403 this test provokes on purpose (a
    // forged token, a wrong code) are expected, anything else is a failure.
    let expected4xx = 0;
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (expected4xx > 0 && /status of 40[13]/.test(m.text())) { expected4xx -= 1; return; }
      consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    // Every response of the page, for its weight.
    let navigations = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations += 1; });
    // The page's stream runs through a transparent proxy: the test records every message the
    // server sends, and can drop a connection or slip in a message of its own.
    const frames = [];
    const sockets = [];
    await page.routeWebSocket(/\/api\/v1\/stream/, (ws) => {
      const server = ws.connectToServer();
      sockets.push({ ws, url: ws.url() });
      server.onMessage((m) => {
        try { frames.push(JSON.parse(String(m))); } catch { /* not JSON */ }
        ws.send(m);
      });
    });

    step = 'sign-in page';
    await page.goto(demo.url + '/');
    await page.getByTestId('token-input').waitFor();
    const csp = (await page.request.get(demo.url + '/')).headers()['content-security-policy'] || '';
    check(csp.includes("default-src 'self'"), 'the page is served with a strict Content-Security-Policy');

    step = 'expired and refused tokens';
    const now = Math.floor(Date.now() / 1000);
    await signIn(page, fakeToken({ sub: 'old', role: 'viewer', iat: now - 7200, exp: now - 3600, jti: 'x' }));
    await page.getByTestId('signin-error').filter({ hasText: 'expired' }).waitFor({ timeout: 5000 });
    check(true, 'an expired token is refused with a message saying so');
    expected4xx += 1;
    await signIn(page, fakeToken({ sub: 'forged', role: 'admin', iat: now, exp: now + 3600, jti: 'y' }));
    await page.getByTestId('signin-error').filter({ hasText: 'refused' }).waitFor({ timeout: 5000 });
    check(true, 'a token the server refuses (401) is reported as refused');
    check(!(await page.evaluate(() => sessionStorage.length)), 'a refused token is not kept');

    step = 'viewer sign-in';
    const apiAgents = await apiGet(demo.url, demo.viewer, '/agents');
    await signIn(page, demo.viewer);
    await page.waitForFunction(shownNumber, 'fleet-total', { timeout: 10000 });
    const total = Number(await page.getByTestId('fleet-total').textContent());
    check(total === apiAgents.total, `fleet-total ${total} equals the API's agent count ${apiAgents.total}`);
    check(await page.evaluate(() => sessionStorage.getItem('hivesched.token') !== null), 'the token is kept in sessionStorage');
    check(!page.url().includes('eyJ'), 'the token is not in the URL');
    check((await context.cookies()).length === 0, 'no cookie is set');

    step = 'first render';
    // A cold load in a fresh context (empty cache) with the viewer's token already in session
    // storage, as after a sign-in: time from navigation start to the fleet's number on screen,
    // and every byte the load transferred (page, script, style, icon and the API's JSON).
    {
      const cold = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
      await cold.addInitScript((t) => { if (!sessionStorage.getItem('hivesched.token')) sessionStorage.setItem('hivesched.token', t); }, demo.viewer);
      const p = await cold.newPage();
      const loaded = [];
      p.on('requestfinished', (req) => loaded.push(req));
      await p.goto(demo.url + '/');
      const rendered = await p.waitForFunction(shownNumber, 'fleet-total', { timeout: 10000, polling: 'raf' });
      metrics.firstRenderMs = Math.round(await rendered.jsonValue());
      metrics.firstPaintMs = Math.round(await p.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1));
      await p.waitForLoadState('networkidle');
      let assets = 0; let all = 0;
      for (const req of loaded) {
        const s = await req.sizes();
        const bytes = s.responseBodySize + s.responseHeadersSize;
        all += bytes;
        if (!new URL(req.url()).pathname.startsWith('/api/')) assets += bytes;
      }
      metrics.assetBytes = assets;
      metrics.pageBytes = all;
      metrics.requests = loaded.length;
      await cold.close();
    }
    check(metrics.firstRenderMs < FIRST_RENDER_LIMIT_MS, `first render ${metrics.firstRenderMs} ms < ${FIRST_RENDER_LIMIT_MS} ms`);
    check(metrics.pageBytes < PAGE_WEIGHT_LIMIT, `page weight ${(metrics.pageBytes / 1024).toFixed(1)} KB in ${metrics.requests} requests (assets ${(metrics.assetBytes / 1024).toFixed(1)} KB) < 300 KB`);
    navigations = 0;

    step = 'live decisions';
    await page.getByTestId('decision-row').first().waitFor({ timeout: 15000 });
    const ids = async () => page.getByTestId('decision-row').evaluateAll((rows) => rows.map((r) => Number(r.dataset.id)));
    const before = await ids();
    check(before.every((id, i) => i === 0 || before[i - 1] > id), `decision rows newest first (${before.length} rows)`);
    await page.waitForFunction((top) => Number(document.querySelector('[data-testid="decision-row"]')?.dataset.id) > top, before[0], { timeout: 15000 });
    const after = await ids();
    check(after[0] > before[0] && navigations === 0, `decision ${after[0]} appeared live on top without a reload`);
    check(after.every((id, i) => i === 0 || after[i - 1] > id), 'still newest first');
    check(frames.some((f) => f.type === 'decision' && f.data.id === after[0]), 'it came over the stream');
    check(await page.getByTestId('forecast-chart').locator('path[data-series="demand"]').count() === 1, 'the chart draws demand');
    await page.getByTestId('forecast-chart').locator('path[data-series="mean"]').waitFor({ timeout: 15000 });
    check(true, 'the chart draws the forecast mean ahead of now');
    check(/%$/.test((await page.getByTestId('savings-24h').textContent()).trim()), 'savings for the last day are shown');

    step = 'resume after a dropped stream';
    {
      const dropped = sockets.length;
      const lastSeq = Math.max(...frames.map((f) => f.seq));
      const rowsBefore = await ids();
      sockets[dropped - 1].ws.close({ code: 4000, reason: 'dropped by the test' });
      for (let waited = 0; sockets.length === dropped; waited += 50) {
        if (waited > 10000) throw new Error('the page did not reconnect within 10 s');
        await page.waitForTimeout(50);
      }
      await page.waitForFunction(() => document.querySelector('#live')?.dataset.state === 'on', null, { timeout: 10000 });
      const resumed = new URL(sockets[sockets.length - 1].url);
      const since = Number(resumed.searchParams.get('since'));
      check(resumed.searchParams.has('ticket') && since >= lastSeq, `the page reconnected with a fresh ticket and since=${since} (last seen ${lastSeq})`);
      await page.waitForFunction((top) => Number(document.querySelector('[data-testid="decision-row"]')?.dataset.id) > top, rowsBefore[0], { timeout: 15000 });
      const rows = await ids();
      check(new Set(rows).size === rows.length && rows.every((id, i) => i === 0 || rows[i - 1] > id), 'decisions keep arriving after the reconnect, none twice');

      // A `gap` (messages the server no longer holds) makes the page read everything again.
      const reread = page.waitForRequest((r) => r.url().endsWith('/api/v1/agents') && r.method() === 'GET', { timeout: 5000 });
      sockets[sockets.length - 1].ws.send(JSON.stringify({ seq: 0, type: 'gap', at: new Date().toISOString(), data: { lost: 1, reason: 'test' } }));
      await reread;
      check(true, 'a gap message makes the page read the API again');
    }

    step = 'rollout panel';
    await page.waitForFunction(() => document.querySelector('#rollout-ladder li.now') !== null, null, { timeout: 15000 });
    {
      const ev = await apiGet(demo.url, demo.viewer, '/flags/scheduler.acting/evidence?limit=1');
      const shown = (await page.locator('#rollout-ladder li.now').textContent()).trim();
      const status = await page.getByTestId('rollout-status').textContent();
      check(shown.startsWith(String(ev.flag.rollout.percentage)) || status.includes('%'),
        `the rollout panel shows scheduler.acting (${status.trim()})`);
    }

    step = 'viewer sees no controls';
    for (const id of ['emergency-stop', 'emergency-resume', 'stop-code', 'pause', 'unpause', 'alert-ack']) {
      check(!(await page.getByTestId(id).first().isVisible().catch(() => false)), `no ${id} visible to a viewer`);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-viewer.png'), fullPage: true });

    step = 'operator sign-in';
    await page.getByRole('button', { name: 'Sign out' }).click();
    check(await page.evaluate(() => sessionStorage.getItem('hivesched.token') === null), 'sign-out forgets the token');
    await signIn(page, demo.operator);
    await page.getByTestId('pause').waitFor({ state: 'visible', timeout: 10000 });
    check(!(await page.getByTestId('emergency-stop').isVisible()), 'an operator sees the pause but not the emergency stop');

    step = 'admin sign-in';
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, demo.admin);
    await page.getByTestId('emergency-stop').waitFor({ state: 'visible', timeout: 10000 });
    check(true, 'an admin sees the emergency stop');
    await page.waitForFunction(shownNumber, 'fleet-awake', { timeout: 10000 });
    await page.getByTestId('forecast-chart').locator('path[data-series="mean"]').waitFor({ timeout: 15000 });
    // Let the live feed and the chart fill in before the picture (SCREENSHOT_AFTER_S: longer,
    // for the README's picture).
    await page.waitForTimeout(1000 * Number(process.env.SCREENSHOT_AFTER_S || 3));
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    log(`screenshot: ${path.join(ARTIFACTS, 'dashboard.png')}`);

    step = 'emergency stop';
    check(!(await page.getByTestId('emergency-banner').isVisible()), 'no stop banner before the stop');
    const framesBefore = frames.length;
    await page.getByTestId('stop-code').fill(issueCode(demo.database));
    await page.getByTestId('stop-reason').fill('browser test');
    await page.getByTestId('emergency-stop').click();
    await page.getByTestId('emergency-banner').filter({ hasText: 'Emergency stop' }).waitFor({ state: 'visible', timeout: 10000 });
    check(true, 'the stop banner shows');
    const controlFrame = async (action) => {
      const deadline = Date.now() + 10000;
      while (Date.now() < deadline) {
        if (frames.slice(framesBefore).some((f) => f.type === 'control' && f.data.action === action)) return true;
        await page.waitForTimeout(100);
      }
      return false;
    };
    check(await controlFrame('emergency.stop'), 'a control message (emergency.stop) arrived on the page\'s stream');
    const api = await apiGet(demo.url, demo.admin, '/controls');
    check(api.emergency && api.emergency.mode === 'freeze_sleeps', 'the API reports the stop');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-stopped.png'), fullPage: true });

    step = 'acknowledge';
    const ack = page.getByTestId('alert-ack').first();
    await ack.waitFor({ state: 'visible', timeout: 15000 });
    const acked = await ack.locator('xpath=ancestor::li[1]').getAttribute('data-state');
    await ack.click();
    await page.locator('[data-testid="alert-row"][data-state="acknowledged"]').first().waitFor({ timeout: 10000 });
    check(acked === 'firing', 'a firing alert was acknowledged from the page');

    step = 'resume';
    expected4xx += 1;
    await page.getByTestId('resume-code').fill('00000000-00000000-00000000-00000000-00000000');
    await page.getByTestId('resume-reason').fill('browser test');
    await page.getByTestId('emergency-resume').click();
    await page.getByTestId('controls-msg').filter({ hasText: 'one-time code' }).waitFor({ timeout: 10000 });
    check(await page.getByTestId('emergency-banner').isVisible(), 'a wrong code is refused with a message and the stop stays');
    await page.getByTestId('resume-code').fill(issueCode(demo.database));
    await page.getByTestId('emergency-resume').click();
    await page.getByTestId('emergency-banner').waitFor({ state: 'hidden', timeout: 10000 });
    check(await controlFrame('emergency.resume'), 'resumed: the banner is gone and emergency.resume arrived on the stream');

    step = 'rollout advanced';
    // The demo's rollout starts at 10 % and climbs a stage every 20 s or so while the
    // scheduler keeps its treatment agents asleep (docs/rollout.md).
    await page.waitForFunction(() => {
      const now = document.querySelector('#rollout-ladder li.now');
      return now && document.querySelector('#rollout-ladder li.done') !== null;
    }, null, { timeout: 90000 });
    {
      const ev = await apiGet(demo.url, demo.viewer, '/flags/scheduler.acting/evidence');
      const advance = ev.decisions.find((d) => d.decision.action === 'advance');
      check(advance && ev.flag.rollout.percentage > ev.flag.flag.ladder[0],
        `the rollout advanced past its first stage (now ${ev.flag.rollout.percentage} %)`);
      const t = advance.observations.treatment;
      log(`advance ${advance.decision.from} -> ${advance.decision.to} %: treatment ${t.assigned} assigned, ${t.units} at work; waiting ${JSON.stringify(advance.decision.waiting)}`);
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-rollout.png'), fullPage: true });
    }

    check(consoleErrors.length === 0, `no errors in the page's console${consoleErrors.length ? `: ${consoleErrors.join(' | ')}` : ''}`);
    await context.close();
  } finally {
    if (browser) await browser.close();
    demo.child.removeAllListeners('exit');
    demo.child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`first render: ${metrics.firstRenderMs} ms (first contentful paint ${metrics.firstPaintMs} ms); ` +
    `page weight: ${(metrics.pageBytes / 1024).toFixed(1)} KB in ${metrics.requests} requests (assets ${(metrics.assetBytes / 1024).toFixed(1)} KB, the rest API JSON)`);
}

main().then(() => log('PASS'), (e) => {
  console.error(`[browser] FAIL at "${step}": ${e.stack || e}`);
  process.exit(1);
});
