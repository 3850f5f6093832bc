// Shared by the browser tests: a launcher for Debian's headless Chromium
// with fake media, and small assertions. The tests run against a real
// sotto-server (started by tests/tests/browser.rs, given as --base URL).

import { chromium } from 'playwright-core';
import { mkdtemp, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.SOTTO_CHROMIUM ?? '/usr/bin/chromium';

/** Command-line options: --base URL (the server) --shots DIR. */
export function options() {
  const o = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];
  return o;
}

/** DESIGN.md "Tests that matter most": the flags every browser gets. */
export const FLAGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--autoplay-policy=no-user-gesture-required',
];

/** A fresh browser profile (Playwright refuses --user-data-dir in args). */
export async function launch({ locale = 'en-GB', viewport = { width: 1280, height: 800 } } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'sotto-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    ignoreDefaultArgs: ['--mute-audio'],
    locale,
    viewport,
    permissions: ['camera', 'microphone'],
  });
  context.on('weberror', (e) => console.error('[page error]', e.error().message));
  // Console errors always reach the test's output (stderr); everything
  // with SOTTO_BROWSER_LOG=1, for debugging.
  context.on('console', (m) => {
    if (m.type() === 'error' || process.env.SOTTO_BROWSER_LOG) console.error(`[console ${m.type()}]`, m.text());
  });
  return context;
}

export async function shotsDir(dir) {
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Polls `f` (async) until it returns a truthy value or `ms` pass. */
export async function until(what, f, ms = 20000, every = 250) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

let failures = 0;
let passes = 0;
/** Runs one named check; failures are counted and reported, never skipped. */
export async function check(name, f) {
  try {
    await f();
    passes++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAILED - ${name}: ${e.stack ?? e}`);
  }
}

/** Prints the plain closing line and exits non-zero on any failure. */
export function finish() {
  console.log(`${passes} passed, ${failures} failed`);
  process.exit(failures === 0 && passes > 0 ? 0 : 1);
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's serious and critical violations on `page` as it is now
 * (WCAG rules), as readable lines; [] when there are none. Evaluated, not
 * added as a script: the page's CSP refuses inline scripts.
 */
export async function accessibilityProblems(page) {
  await page.evaluate(axeSource);
  return page.evaluate(async () => (await window.axe.run(document)).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`));
}
