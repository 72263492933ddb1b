// A real browser for the console tests: Debian's chromium (scripts/system-deps.sh installs it),
// driven by playwright-core, headless, in a fresh temporary profile. The flags keep Chromium off
// the network it would otherwise call home to (updates, sync, field trials), which this machine
// does not have.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from './server.js';

export const CHROMIUM = process.env.WASMFLEET_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Messages the page logged as errors (CSP violations, uncaught exceptions). */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(viewport = { width: 1280, height: 900 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run "bash scripts/system-deps.sh" (it installs Debian's chromium)`);
  const profile = tempDir('wf-chromium-');
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Screenshots go to docs/images/ (the README shows them) only when asked with
 * WF_SCREENSHOTS=docs; otherwise to a temporary directory, so a test run leaves the work tree
 * clean while the screenshot path is still exercised.
 */
export const IMAGES = process.env.WF_SCREENSHOTS === 'docs' ? join(process.cwd(), 'docs', 'images') : join(tmpdir(), 'wasmfleet-screenshots');

/** Save what the page shows now as console-<name>.png in IMAGES. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(IMAGES, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(IMAGES, `console-${name}.png`), fullPage: false });
}
