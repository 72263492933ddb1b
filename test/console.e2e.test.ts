// The web console as an operator uses it: a real Chromium (Debian's, driven by playwright-core)
// against a real fleet server serving the built app (dist/console), 50 real simulated devices,
// and a rollout started with the real CLI. Asserts what the operator sees; saves a screenshot of
// each page (into docs/images/ with WF_SCREENSHOTS=docs; the README shows them).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { openBrowser, screenshot, type Browser } from './helpers/browser.js';
import { members, waitRollout } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const NORTH = 30;
const SOUTH = 20;
const DEVICES = NORTH + SOUTH;
const SEE = 60_000;

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** The text of the first element matching `selector`, once it matches `want`. */
async function seeText(page: Page, selector: string, want: RegExp, timeout = SEE): Promise<string> {
  await page.waitForFunction(
    ([sel, src, flags]) => new RegExp(src, flags).test(document.querySelector(sel)?.textContent ?? ''),
    [selector, want.source, want.flags] as const,
    { timeout },
  );
  return (await page.textContent(selector)) ?? '';
}

/** A count of a CountList ("Devices by state" → pending → 12), 0 when the row is absent. */
async function countOf(page: Page, list: string, key: string): Promise<number> {
  return page.evaluate(
    ([l, k]) => {
      for (const row of document.querySelectorAll(`dl[aria-label="${l}"] .count`)) {
        if (row.querySelector('dt')?.textContent === k) return Number(row.querySelector('dd')?.textContent);
      }
      return 0;
    },
    [list, key] as const,
  );
}

describe('web console in Chromium', () => {
  let fleet: TestFleet;
  const sims: Fleet[] = [];
  let browser: Browser;
  let page: Page;
  let env: Record<string, string>;
  let base: string;
  let rolloutId: string;

  beforeAll(async () => {
    fleet = await startFleet({ rolloutTickMs: 100 });
    base = fleet.server.httpUrl;
    env = { WASMFLEET_SERVER: base, WASMFLEET_TOKEN: fleet.server.operatorToken, WASMFLEET_KEYS: fleet.keysDir };
    await fleet.publish('counter', 'counter', '1.0.0');
    // 1.1.0 is examples/wat/counter-flaky.wat: it reads a sensor (a new capability) and traps on
    // about half the boards, which revert by themselves: the rollout has failures to show.
    await fleet.publish('counter-flaky', 'counter', '1.1.0');
    for (const [site, n] of [['north', NORTH], ['south', SOUTH]] as const) {
      const f = await Fleet.start({ server: base, token: fleet.server.operatorToken, devices: n, prefix: site, seed: site, tags: { site }, agent: { probation: { ticks: 2 } } });
      sims.push(f);
    }
    for (const f of sims) await f.waitFor('online', (s) => s.online === s.devices, 60_000);
    // Every device on counter 1.0.0 first: the fleet page has a release and an adoption line to show.
    for (const site of ['north', 'south']) await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { site } });
    for (const f of sims) await f.waitFor('counter 1.0.0 everywhere', (s) => s.running['counter@1.0.0'] === s.devices && s.inProgress === 0, 120_000);
    await waitFor('the server to see every commit', async () => {
      const { devices } = await fleet.api.get<{ devices: Array<{ state: string; hello: unknown }> }>('/v1/devices');
      return devices.filter((d) => d.state === 'committed' && d.hello).length === DEVICES;
    }, 60_000);
    browser = await openBrowser();
    page = browser.page;
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    for (const f of sims) await f.stop();
    await fleet?.close();
  });

  it('refuses a bad token with a message, and signs in with the operator token', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('Operator token').fill('not-a-token');
    await screenshot(page, 'sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await seeText(page, '[role=alert]', /refused/)).toBe('That token was refused: it is unknown or revoked.');
    // the token is never in the URL
    expect(page.url()).toBe(`${base}/`);

    await page.getByLabel('Operator token').fill(fleet.server.operatorToken);
    await page.keyboard.press('Enter');
    await seeText(page, 'h1', /^Fleet$/);
    expect(await page.textContent('.who')).toContain('operator-token (admin)');
    // nothing of the session in the browser's storage; the cookie is HttpOnly
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    const cookies = await browser.context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['wf_session', true, 'Strict']]);
  });

  it('shows the 50 devices on the fleet page, by state, release and host, with the adoption chart', async () => {
    expect(await seeText(page, '[data-testid=fleet-devices]', /^\d+$/)).toBe(String(DEVICES));
    expect(await page.textContent('[data-testid=fleet-online]')).toBe(String(DEVICES));
    expect(await countOf(page, 'Devices by state', 'committed')).toBe(DEVICES);
    expect(await countOf(page, 'Devices by release', 'counter@1.0.0')).toBe(DEVICES);
    await page.locator('figure.chart svg').waitFor();
    expect(await page.textContent('figure.chart figcaption')).toContain(`counter@1.0.0: ${DEVICES}`);
    await screenshot(page, 'fleet');
  });

  it('lists the devices a page at a time and filters them by tag', async () => {
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    expect(await seeText(page, '[data-testid=devices-count]', /of/)).toBe(`1–25 of ${DEVICES} devices`);
    expect(await page.locator('tbody tr').count()).toBe(25);
    await page.getByRole('button', { name: 'Next page' }).click();
    expect(await seeText(page, '[data-testid=devices-count]', /^26/)).toBe(`26–${DEVICES} of ${DEVICES} devices`);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await seeText(page, '[data-testid=devices-count]', /^1–/);

    await page.getByLabel('Tag').fill('site=south');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    expect(await seeText(page, '[data-testid=devices-count]', new RegExp(`of ${SOUTH} `))).toBe(`1–${SOUTH} of ${SOUTH} devices`);
    expect(new URL(page.url()).searchParams.get('tag')).toBe('site=south');
    const ids = await page.locator('tbody th a').allTextContents();
    expect(ids).toHaveLength(SOUTH);
    expect(ids.every((id) => id.startsWith('south-'))).toBe(true);
    await screenshot(page, 'devices');
  });

  it('opens a device: hello facts, what it runs, its history and telemetry; its strings are text, never markup', async () => {
    const id = (await page.locator('tbody th a').first().textContent())!;
    const markup = '<img src=x onerror="window.__injected=1">';
    await fleet.api.put(`/v1/devices/${id}/tags`, { tags: { site: 'south', note: markup } });
    await page.locator('tbody th a').first().click();
    await seeText(page, 'h1', new RegExp(`^Device ${id}$`));
    const facts = (await page.textContent('dl.facts'))!;
    expect(facts).toMatch(/ABI 1/);
    expect(facts).toContain(`site=south, note=${markup}`);
    expect(await page.locator('dl.facts img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected)).toBeUndefined();
    expect(await page.textContent('section[aria-labelledby=slots]')).toContain('counter@1.0.0');
    await seeText(page, 'section[aria-labelledby=history] table', /committed/);
    await seeText(page, 'section[aria-labelledby=telemetry] table', /count/);
    await fleet.api.put(`/v1/devices/${id}/tags`, { tags: { site: 'south' } });
    await page.reload();
    await seeText(page, 'dl.facts', /site=south$|site=southCredential/);
    await seeText(page, 'section[aria-labelledby=telemetry] table', /count/);
    await screenshot(page, 'device');
  });

  it('shows the modules with sizes, digests and capabilities', async () => {
    await page.getByRole('link', { name: 'Modules' }).click();
    await seeText(page, 'h1', /^Modules$/);
    const rows = await page.locator('tbody tr th').allTextContents();
    expect(rows).toEqual(['1.1.0', '1.0.0']);
    const newest = (await page.textContent('tbody tr:first-child'))!;
    expect(newest).toContain('kv, sensor, telemetry');
    expect(newest).toContain('+sensor vs 1.0.0');
    expect(await page.textContent('tbody tr:nth-child(2)')).toContain('first version');
    await screenshot(page, 'modules');
  });

  it('follows a rollout started from the CLI wave by wave, approves, pauses and resumes it from the page and rolls it back', async () => {
    // wave 1: two devices, then an approval; wave 2: the rest of site north, one device every 3 s,
    // so there is time to pause it; failures do not stop it (--max-failures 100%: the operator
    // watches and decides)
    const c = await cli(
      ['rollout', 'create', 'counter@1.1.0', '--target', 'site=north', '--waves', '2,100%', '--soak', '1s', '--rate', '20/min', '--max-failures', '100%', '--allow-new-capabilities', '--approve', '--yes', '--json'],
      env,
    );
    expect(c.code, c.stderr).toBe(0);
    rolloutId = (JSON.parse(c.stdout) as { rollout: { id: string } }).rollout.id;

    await page.getByRole('link', { name: 'Rollouts' }).click();
    // what the page asks the server while it follows the rollout: one stream, no polling
    const asked: string[] = [];
    const record = (r: { url(): string }) => asked.push(new URL(r.url()).pathname);
    page.on('request', record);
    await page.getByRole('link', { name: rolloutId }).click();
    await seeText(page, 'h1', new RegExp(`counter@1.1.0$`));
    await seeText(page, '.stream', /^live$/);
    // the waves advance on the page as the devices report (the stream, not a reload)
    await seeText(page, '[data-testid=wave-1] .wave-count', /^2\/2 done/);
    await seeText(page, '[data-testid=rollout-state]', /^running, awaiting approval/);
    expect(await page.textContent('[data-testid=wave-2] .wave-count')).toBe('0/28 done');
    await page.getByRole('button', { name: 'Approve next wave' }).click();
    await seeText(page, '[data-testid=wave-1] .wave-state', /^done$/);
    await seeText(page, '[data-testid=wave-2] .wave-count', /^[1-9]\d*\/28 done/);

    page.off('request', record);
    const live = `/v1/rollouts/${rolloutId}`;
    // the view once on arrival and once after the approval; everything else came over the stream
    expect(asked.filter((p) => p.startsWith('/v1/')).sort()).toEqual([`${live}/approve`, `${live}/events`, `${live}/live`, `${live}/live`]);
    await page.getByRole('button', { name: 'Pause' }).click();
    await seeText(page, '[data-testid=rollout-state]', /^paused \(OPERATOR\)$/);
    // devices already on their way finish; no new one is assigned while paused
    await page.waitForFunction(() => !/assigned/.test(document.querySelector('dl[aria-label="Devices by state"]')?.textContent ?? ''), undefined, { timeout: SEE });
    const pending = await countOf(page, 'Devices by state', 'pending');
    const committed = await countOf(page, 'Devices by state', 'committed');
    const failed = await countOf(page, 'Devices by state', 'failed');
    expect(pending).toBeGreaterThan(0);
    expect(pending + committed + failed).toBe(NORTH);
    const after = await members(fleet.api, rolloutId);
    expect(after.filter((m) => m.state === 'assigned')).toEqual([]);
    expect(after.filter((m) => m.state === 'pending')).toHaveLength(pending);
    expect(await page.getByRole('button', { name: 'Resume' }).isVisible()).toBe(true);

    // the audit entry, with who paused it
    await page.getByRole('link', { name: 'entries for this rollout' }).click();
    await seeText(page, 'h1', /^Audit log$/);
    const paused = page.locator('tbody tr', { hasText: 'rollout.paused' });
    await paused.waitFor();
    expect(await paused.textContent()).toContain('operator-token');
    expect(await paused.textContent()).toContain('OPERATOR');
    await screenshot(page, 'audit');

    // resume: devices are assigned again; abort and roll back ask first
    await page.goto(`${base}/rollouts/${rolloutId}`);
    await page.getByRole('button', { name: 'Resume' }).click();
    await seeText(page, '[data-testid=rollout-state]', /^running \(RESUMED\)$/);
    // failures are listed with their reason, linking to the device
    const failures = page.locator('section[aria-labelledby=failures] tbody tr');
    await failures.first().waitFor({ timeout: SEE });
    expect(await failures.first().textContent()).toMatch(/failed.*MODULE_TRAP/);
    await screenshot(page, 'rollout');
    await page.getByRole('button', { name: 'Abort' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await fleet.api.get<{ state: string }>(`/v1/rollouts/${rolloutId}`)).state).toBe('running');

    await page.getByRole('button', { name: 'Roll back' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Yes, roll back' }).click();
    await seeText(page, '[data-testid=rollout-state]', /^rolled_back \(OPERATOR\)$/);
    // every device it updated goes back; once none is in flight the stream ends
    await seeText(page, '.stream', /^finished$/);
    expect(await page.locator('.actions').count()).toBe(0);
    expect(await countOf(page, 'Devices by state', 'committed')).toBe(0);
    expect(await countOf(page, 'Devices by state', 'assigned')).toBe(0);
    // a failed device: it reverted by itself and runs 1.0.0; its history says why
    const failedDevice = page.locator('section[aria-labelledby=failures] tbody th a').first();
    const first = (await failedDevice.textContent())!;
    await failedDevice.click();
    await seeText(page, 'h1', new RegExp(`^Device ${first}$`));
    await seeText(page, 'section[aria-labelledby=slots]', /counter@1\.0\.0/);
    await seeText(page, 'section[aria-labelledby=history]', /MODULE_TRAP/);
    await waitRollout(fleet.api, rolloutId, 'rolled back', (r) => r.state === 'rolled_back');

    await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
    await seeText(page, 'tbody', new RegExp(`${rolloutId}.*rolled_back`));
    await page.locator('details.hint summary').click();
    expect(await page.textContent('details.hint pre')).toContain('wasmfleet rollout create');
    await screenshot(page, 'rollouts');
  }, 240_000);

  it('says so when a rollout does not exist', async () => {
    await page.goto(`${base}/rollouts/no-such-rollout`);
    expect(await seeText(page, '[role=alert]', /no longer exists/)).toContain('There is no rollout no-such-rollout on this server.');
  });

  it('is readable at 390 px: nothing wider than the screen but the tables, which scroll in their box', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const pages = [
      ['/', '[data-testid=fleet-devices]', 'fleet-390'],
      [`/rollouts/${rolloutId}`, '[data-testid=wave-1]', 'rollout-390'],
      ['/devices', '[data-testid=devices-count]', null],
      ['/audit', 'tbody tr', null],
    ] as const;
    for (const [path, ready, name] of pages) {
      await page.goto(`${base}${path}`);
      await page.locator(ready).first().waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(390);
      if (name) await screenshot(page, name);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('is usable by keyboard: tab reaches the navigation and Enter follows a link', async () => {
    await page.goto(`${base}/`);
    await page.locator('[data-testid=fleet-devices]').waitFor();
    await page.keyboard.press('Tab'); // skip link
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Tab'); // brand
    await page.keyboard.press('Tab'); // Fleet
    await page.keyboard.press('Tab'); // Devices
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Devices');
    // the focus is visible
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).toBe('solid');
    await page.keyboard.press('Enter');
    await seeText(page, 'h1', /^Devices$/);
    // the page's heading takes the focus, so the next Tab starts in the page
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
  });

  it('signs out, and a revoked token ends its session: back to sign-in with a message', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    expect(await seeText(page, '[role=status]', /signed out/)).toBe('You are signed out.');
    await page.goto(`${base}/devices`);
    await page.getByLabel('Operator token').waitFor();

    const t = await fleet.api.post<{ id: string; token: string }>('/v1/tokens', { name: 'console-viewer', role: 'viewer' });
    await page.getByLabel('Operator token').fill(t.token);
    await page.keyboard.press('Enter');
    await seeText(page, 'h1', /^Devices$/);
    expect(await page.textContent('.who')).toContain('console-viewer (viewer)');
    await fleet.api.post(`/v1/tokens/${t.id}/revoke`, {});
    await page.getByRole('link', { name: 'Modules' }).click();
    expect(await seeText(page, '[role=status]', /expired/)).toBe('Your session has expired. Sign in again.');
    expect(await page.getByLabel('Operator token').isVisible()).toBe(true);
  });

  it('says so when the server cannot be reached', async () => {
    await page.getByLabel('Operator token').fill(fleet.server.operatorToken);
    await page.keyboard.press('Enter');
    await seeText(page, 'h1', /^Modules$/);
    for (const f of sims.splice(0)) await f.stop();
    await fleet.server.close();
    await page.getByRole('link', { name: 'Audit' }).click();
    expect(await seeText(page, '[role=alert]', /unreachable/)).toContain('Server unreachable');
    expect(await page.getByRole('button', { name: 'Try again' }).isVisible()).toBe(true);
  });

  it('logged no error in the page (no CSP violation, no uncaught exception)', () => {
    // the server's own refusals (401 expired or refused, 404 missing rollout) and the closed
    // server are answers the pages show, not page errors
    expect(browser.errors.filter((e) => !/status of 40[14]|ERR_CONNECTION_REFUSED/.test(e))).toEqual([]);
  });
});
