// Debian's headless Firefox ESR for the browser tests, driven by
// puppeteer-core over WebDriver BiDi (playwright-core cannot drive a stock
// Firefox: ../../shared/FACTS.md). A person here has the same shape as
// people.mjs's Chromium one ({page, name}), with the few page calls the
// tests use, so that checks run unchanged in either browser.

import puppeteer from 'puppeteer-core';
import { readFile } from 'node:fs/promises';

export const FIREFOX = process.env.SOTTO_FIREFOX ?? '/usr/bin/firefox-esr';

const lib = (f) => new URL(`./${f}`, import.meta.url).pathname;

const PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'media.autoplay.block-webaudio': false,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
};

/**
 * A locator-like handle on a selector, with the calls the tests make of
 * Playwright's: textContent, click, fill, isVisible, evaluate, waitFor.
 */
function locate(page, selector) {
  return {
    textContent: () => page.$eval(selector, (e) => e.textContent).catch(() => null),
    click: () => page.click(selector),
    fill: async (text) => {
      await page.$eval(selector, (e) => { e.value = ''; });
      await page.type(selector, text);
    },
    isVisible: () => page.$eval(selector, (e) => Boolean(e.offsetParent) && !e.hidden).catch(() => false),
    evaluate: (f, arg) => page.$eval(selector, f, arg),
    waitFor: ({ timeout = 20000 } = {}) => page.waitForSelector(selector, { timeout }),
  };
}

/**
 * Opens `base/room#secret` in a fresh Firefox as `name`, with camera
 * pattern `camera` and a tone of `tone` Hz (and `viewport`, e.g. a
 * phone's, if given; no `secret`: it knocks); the tests' instrumentation
 * (fake-media.js, instrument.js) runs before the page's scripts.
 */
export async function firefoxPerson(base, room, name, camera, tone, { secret, viewport } = {}) {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: PREFS,
  });
  const page = await browser.newPage();
  if (viewport) await page.setViewport(viewport);
  page.on('pageerror', (e) => console.error('[firefox page error]', e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' || process.env.SOTTO_BROWSER_LOG) console.error(`[firefox console ${m.type()}]`, m.text());
  });
  const config = `window.__sottoFakeConfig = ${JSON.stringify({ camera, screen: 'S', tone })};`;
  await page.evaluateOnNewDocument(config);
  await page.evaluateOnNewDocument(await readFile(lib('fake-media.js'), 'utf8'));
  await page.evaluateOnNewDocument(await readFile(lib('instrument.js'), 'utf8'));
  await page.goto(`${base}/${room}${secret ? `#${secret}` : ''}`);
  await page.waitForSelector('#display-name');
  await page.type('#display-name', name);
  const p = {
    name,
    browser: 'firefox',
    page: {
      evaluate: (f, arg) => page.evaluate(f, arg),
      locator: (selector) => locate(page, selector),
      screenshot: (o) => page.screenshot(o),
      url: () => page.url(),
    },
    ctx: { close: () => browser.close() },
  };
  return p;
}
