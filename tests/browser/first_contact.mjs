// First contact (issue 17): two people who agreed on a room name meet by
// it. Real Chromium, real server.
//
// Checks:
// - the first opens /Alice-and-Bob-03-May-2020, exactly as typed: the
//   server sends it to the canonical /alice-and-bob-03-may-2020, nobody is
//   there, so the page opens the room, the address bar becomes the full
//   link and the screen offers it;
// - the second opens the same name and knocks, showing its fingerprint;
//   the first sees the same fingerprint on the knock and lets it in; each
//   decodes the other's camera;
// - a third opens /alice-and-bob-03-may-2020/ (lower case, trailing slash)
//   and knocks into the same room;
// - a path that is not a room shows the "not found" screen with status
//   404, and a name that cannot be a room says so.

import { options, check, finish, until, launch } from './lib/harness.mjs';
import { person, join, tileShows } from './lib/people.mjs';

const opt = options();
const typed = 'Alice-and-Bob-03-May-2020';
const canonical = 'alice-and-bob-03-may-2020';

const alice = await person(opt.base, typed, 'Alice', 'A', 440);
const bob = await person(opt.base, typed, 'Bob', 'B', 550);

await check('the typed name lands on its canonical form, and the first arrival opens the room', async () => {
  const path = new URL(alice.page.url()).pathname;
  if (path !== `/${canonical}`) throw new Error(`landed on ${path}`);
  await join(alice);
  await alice.page.locator('#opened').waitFor({ timeout: 20000 });
  await until('Alice in the call', () => alice.page.locator('#room-code').textContent());
  const hash = await alice.page.evaluate(() => location.hash);
  if (!/^#[A-Za-z0-9_-]{22}$/.test(hash)) throw new Error(`address bar fragment ${hash}`);
});

await check('the second arrival knocks and is let in by the fingerprint both see', async () => {
  await join(bob);
  const own = bob.page.locator('#knock-fingerprint');
  await own.waitFor({ timeout: 20000 });
  const knock = alice.page.locator('.knock-request');
  await knock.waitFor({ timeout: 20000 });
  const shown = await knock.locator('code').textContent();
  const told = await own.textContent();
  if (!shown || shown !== told) throw new Error(`the knock shows ${shown}, Bob reads out ${told}`);
  await knock.getByRole('button', { name: 'Let in' }).click();
  await until('Bob on Alice', () => tileShows(alice, 'Bob', 'B'), 30000);
  await until('Alice on Bob', () => tileShows(bob, 'Alice', 'A'), 30000);
  const bobPath = new URL(bob.page.url()).pathname;
  if (bobPath !== `/${canonical}`) throw new Error(`Bob is on ${bobPath}`);
});

await check('lower case with a trailing slash knocks into the same room', async () => {
  const carol = await person(opt.base, `${canonical}/`, 'Carol', 'A', 500);
  const path = new URL(carol.page.url()).pathname;
  if (path !== `/${canonical}`) throw new Error(`landed on ${path}`);
  await join(carol);
  await until('Carol\'s knock on Alice', async () => (await alice.page.locator('.knock-request').count()) === 1, 20000);
  await alice.page.locator('.knock-request').getByRole('button', { name: 'Let in' }).click();
  await until('Carol in the call', () => carol.page.locator('#room-code').textContent(), 20000);
  await until('one room code for all three', async () => {
    const c = await Promise.all([alice, bob, carol].map((p) => p.page.locator('#room-code').textContent()));
    return c.every((x) => x && x === c[0]);
  }, 20000);
  await carol.ctx.close();
});

await check('a path that is not a room gets the not-found screen with 404, and a bad name says so', async () => {
  const ctx = await launch();
  const page = await ctx.newPage();
  const res = await page.goto(`${opt.base}/no/such/page`);
  if (res.status() !== 404) throw new Error(`status ${res.status()}`);
  await until('the not-found screen', () => page.evaluate(() => !document.getElementById('missing').hidden
    && document.getElementById('missing').dataset.kind === 'not_found'), 10000);
  const bad = await page.goto(`${opt.base}/a`);
  if (bad.status() !== 404) throw new Error(`status ${bad.status()} for /a`);
  await until('the bad-name screen', () => page.evaluate(() => !document.getElementById('missing').hidden
    && document.getElementById('missing').dataset.kind === 'bad_name'), 10000);
  await page.screenshot({ path: `${opt.shots}/not-found.png` });
  await ctx.close();
});

for (const p of [alice, bob]) await p.ctx.close();
finish();
