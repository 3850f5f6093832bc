// What a person sees before a call: the home page and the pre-join screen,
// in English and French, on a laptop and a phone. Saves screenshots under
// --shots for people to look at.

import { join } from 'node:path';
import { options, launch, check, finish, until, shotsDir, accessibilityProblems } from './lib/harness.mjs';

const opt = options();
const shots = await shotsDir(opt.shots);
const ctx = await launch();
await ctx.addInitScript({ path: new URL('./lib/fake-media.js', import.meta.url).pathname });
const page = await ctx.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('console', (m) => m.type() === 'error' && !/favicon/.test(m.text()) && errors.push(m.text()));

await check('the home page offers a new call and joining by name', async () => {
  await page.goto(`${opt.base}/`);
  await page.getByRole('button', { name: 'Start a new call' }).waitFor();
  await page.getByLabel('Or join a call by its name').waitFor();
  await page.screenshot({ path: join(shots, 'home.png') });
});

await check('a bad room name is refused with a message', async () => {
  await page.getByLabel('Or join a call by its name').fill('A!');
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await until('error text', async () => (await page.locator('#join-error').textContent()).includes('3 to 64'));
});

let link;
await check('a new call gets a readable name and a 22-character secret in the fragment', async () => {
  await page.getByRole('button', { name: 'Start a new call' }).click();
  await page.waitForURL(/\/[a-z]+-[a-z]+-[a-z]+-\d\d#[A-Za-z0-9_-]{22}$/);
  link = page.url();
});

await check('the pre-join screen previews the camera and the microphone level', async () => {
  await page.getByLabel('Your name (only the people in the call see it)').fill('Alice');
  await until('preview shows the camera pattern', () =>
    page.evaluate(() => window.__sottoFake.shows(document.getElementById('preview'), 'A')));
  await until('the meter moves', async () => Number(await page.locator('.meter').getAttribute('aria-valuenow')) > 0);
  // The lists fill once the devices are open (labels need the permission).
  await until('a camera to choose', async () => (await page.locator('#camera-select option').count()) >= 1);
  await page.screenshot({ path: join(shots, 'prejoin.png') });
});

await check('with the link, joining is direct; with only the name, it is a knock', async () => {
  if ((await page.locator('#join-button').textContent()) !== 'Join the call') throw new Error('link mode');
  const p2 = await ctx.newPage();
  await p2.goto(link.replace(/#.*/, ''));
  await until('knock mode', async () => (await p2.locator('#join-button').textContent()) === 'Join or ask to join');
  await p2.close();
});

await check('French texts, switchable', async () => {
  await page.selectOption('#lang', 'fr');
  await until('French', async () => (await page.locator('#join-button').textContent()) === 'Rejoindre l’appel');
  await page.goto(`${opt.base}/`);
  await page.getByRole('button', { name: 'Lancer un nouvel appel' }).waitFor();
  await page.screenshot({ path: join(shots, 'home-fr.png') });
  await page.selectOption('#lang', 'en');
});

await check('phone-sized pre-join fits the screen', async () => {
  const phone = await ctx.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(link);
  await phone.locator('#join-button').waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  if (overflow) throw new Error('horizontal scrolling on a phone');
  await phone.screenshot({ path: join(shots, 'prejoin-phone.png'), fullPage: true });
  await phone.close();
});

await check('axe-core finds no serious or critical violation on the home, pre-join and missing-room screens', async () => {
  const found = [];
  // A page of its own: the missing room's 404 is logged as a console
  // error, which the last check would count.
  const a11y = await ctx.newPage();
  for (const [what, url] of [['home', `${opt.base}/`], ['pre-join', link], ['missing room', `${opt.base}/a/b`]]) {
    await a11y.goto(url);
    await a11y.locator('main:not([hidden])').first().waitFor();
    await new Promise((r) => setTimeout(r, 500));
    for (const v of await accessibilityProblems(a11y)) found.push(`${what}: ${v}`);
  }
  await a11y.close();
  if (found.length) throw new Error(found.join('; '));
});

await check('no script errors', async () => {
  if (errors.length) throw new Error(errors.join('\n'));
});

await ctx.close();
finish();
