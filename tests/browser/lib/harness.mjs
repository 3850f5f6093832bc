// Shared by the browser tests: a launcher for Debian's headless Chromium
// with fake media, a static server that serves the web client the way
// sotto-server does (until its HTTP side lands), and small assertions.

import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile, mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize, extname } from 'node:path';

export const CHROMIUM = process.env.SOTTO_CHROMIUM ?? '/usr/bin/chromium';

/** Command-line options: --public DIR --bundle DIR --shots DIR --base URL. */
export function options() {
  const o = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];
  return o;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

/** The CSP sotto-server sends: everything from 'self', wasm allowed. */
export const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
  "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; " +
  "worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/**
 * Serves `/` and `/{room}` -> index.html and `/static/...` from the public
 * directory, then from the bundle directory (the wasm and its glue), with
 * sotto-server's CSP. Returns {url, close}.
 */
export async function staticServer(publicDir, bundleDir) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = null;
    if (path.startsWith('/static/')) {
      const rel = normalize(path.slice('/static/'.length));
      if (!rel.startsWith('..')) {
        for (const dir of [publicDir, bundleDir]) {
          try {
            file = await readFile(join(dir, rel));
            res.setHeader('content-type', TYPES[extname(rel)] ?? 'application/octet-stream');
            break;
          } catch {}
        }
      }
    } else if (/^\/([a-z0-9][a-z0-9-]{1,62}[a-z0-9])?$/.test(path)) {
      file = await readFile(join(publicDir, 'index.html'));
      res.setHeader('content-type', TYPES['.html']);
    }
    if (!file) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.setHeader('content-security-policy', CSP);
    res.end(file);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
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
