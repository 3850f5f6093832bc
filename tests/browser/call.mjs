// A real call through sotto-server's SFU, MLS in each page's wasm, frames
// encrypted in each page's Worker: two browsers (tests/tests/browser.rs),
// plus the native `sotto` participant when given `--sotto PATH --fixtures
// DIR` (the hook for the native client: its checks run only then, and the
// closing line counts them).
//
// Checks: each browser decodes the other's video against its known canvas
// pattern (and, with --sotto, the native fixture's quadrants); tones
// arrive; chat arrives; the room code is the same everywhere; A's
// fingerprint for B is B's own; a receiver with decryption disabled shows
// nothing recognisable although its frames arrive; screen share is
// received; a knock (name only) is shown and admitted by a click.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { options, launch, check, finish, until, shotsDir } from './lib/harness.mjs';

const opt = options();
const shots = await shotsDir(opt.shots);
const room = `test-call-${Date.now() % 100000}`;
const secret = 'AAAAAAAAAAAAAAAAAAAAAA'.replace(/A/g, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(Math.random() * 26)]);

async function person(name, camera, tone, { withSecret = true, viewport, test = '' } = {}) {
  const ctx = await launch({ viewport });
  await ctx.addInitScript(`window.__sottoFakeConfig = ${JSON.stringify({ camera, screen: 'S', tone })};`);
  await ctx.addInitScript({ path: new URL('./lib/fake-media.js', import.meta.url).pathname });
  const page = await ctx.newPage();
  await page.goto(`${opt.base}/${room}?sotto-test${test ? `=${test}` : ''}${withSecret ? `#${secret}` : ''}`);
  await page.getByLabel(/Your name/).fill(name);
  return { ctx, page, name };
}

const join_ = (p) => p.page.locator('#join-button').click();
const tileShows = (p, participantName, pattern, source = 'camera') =>
  p.page.evaluate(([n, pat, src]) => {
    for (const t of document.querySelectorAll(`.tile[data-source="${src}"]`)) {
      if (!t.querySelector('.name')?.textContent.includes(n)) continue;
      if (window.__sottoFake.shows(t.querySelector('video'), pat)) return true;
    }
    return false;
  }, [participantName, pattern, source]);

const alice = await person('Alice', 'A', 440);
await join_(alice);
await until('Alice in the call', () => alice.page.locator('#room-code').textContent());
const bob = await person('Bob', 'B', 660);
await join_(bob);
const native = opt.sotto
  ? spawn(opt.sotto, ['join', `${opt.base}/${room}#${secret}`, '--name', 'Native',
    '--video', join(opt.fixtures, 'pattern.ivf'), '--audio', join(opt.fixtures, 'tone.ogg')], { stdio: 'inherit' })
  : null;

await check('each browser decodes the other browser\'s camera', async () => {
  await until('Bob on Alice', () => tileShows(alice, 'Bob', 'B'), 30000);
  await until('Alice on Bob', () => tileShows(bob, 'Alice', 'A'), 30000);
});

if (native) {
  await check('each browser decodes the native client\'s fixture video', async () => {
    await until('native on Alice', () => tileShows(alice, 'Native', 'FIXTURE'), 30000);
    await until('native on Bob', () => tileShows(bob, 'Native', 'FIXTURE'), 30000);
  });
}

await check('tones arrive decrypted', async () => {
  const hz = await bob.page.evaluate(async () => {
    const a = [...document.querySelectorAll('audio[data-source="mic"]')];
    const tones = await Promise.all(a.map((x) => window.__sottoFake.tone(x.srcObject)));
    return tones.map((t) => Math.round(t.hz));
  });
  if (!hz.some((f) => Math.abs(f - 440) < 30)) throw new Error(`Bob hears ${hz}`);
});

await check('chat text arrives', async () => {
  await alice.page.locator('#btn-chat').click();
  await alice.page.locator('#chat-input').fill('bonjour à tous');
  await alice.page.locator('#chat-form button').click();
  await until('chat on Bob', () => bob.page.evaluate(() =>
    [...document.querySelectorAll('#messages li .text')].some((e) => e.textContent === 'bonjour à tous')));
});

await check('the room code is the same everywhere; A shows B\'s own fingerprint', async () => {
  const codeA = await alice.page.locator('#room-code').textContent();
  const codeB = await bob.page.locator('#room-code').textContent();
  if (!codeA || codeA !== codeB) throw new Error(`${codeA} vs ${codeB}`);
  const bobOwn = await bob.page.locator('#own-fingerprint').textContent();
  const bobOnAlice = await alice.page.evaluate(() => [...document.querySelectorAll('#people li')]
    .find((li) => li.textContent.includes('Bob'))?.querySelector('.fp')?.textContent);
  if (!bobOwn || bobOwn !== bobOnAlice) throw new Error(`${bobOwn} vs ${bobOnAlice}`);
});

await check('a receiver with decryption disabled shows nothing recognisable', async () => {
  const carol = await person('Carol', 'A', 500, { test: 'no-decrypt' });
  await join_(carol);
  // Frames do reach Carol's receivers (passed through undecrypted)...
  await until('Carol receives Bob\'s camera frames', () => carol.page.evaluate(() => {
    const t = [...document.querySelectorAll('.tile[data-source="camera"]')]
      .find((e) => e.querySelector('.name')?.textContent.includes('Bob'));
    return t?.dataset.state === 'test_passthrough';
  }), 30000);
  // ...while a receiver that decrypts shows Bob meanwhile...
  await until('Bob still on Alice', () => tileShows(alice, 'Bob', 'B'), 10000);
  // ...and what Carol's decoder gets shows nothing of Bob's picture.
  for (let i = 0; i < 20; i++) {
    if (await tileShows(carol, 'Bob', 'B') || await tileShows(carol, 'Native', 'FIXTURE')) {
      throw new Error('recognisable video without decryption');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await alice.page.screenshot({ path: join(shots, 'call-three.png') });
  await carol.ctx.close();
});

await check('screen share from Alice is decoded by Bob', async () => {
  await alice.page.locator('#btn-screen').click();
  await until('screen on Bob', () => tileShows(bob, 'Alice', 'S', 'screen'), 30000);
  await bob.page.screenshot({ path: join(shots, 'call.png') });
  await alice.page.locator('#btn-screen').click();
});

await check('a knock with only the name is shown and admitted by a click', async () => {
  const dave = await person('Dave', 'B', 550, { withSecret: false });
  await join_(dave);
  const knock = alice.page.locator('.knock');
  await knock.waitFor({ timeout: 20000 });
  await knock.getByRole('button', { name: 'Let in' }).click();
  await until('Dave in the call', () => dave.page.locator('#room-code').textContent(), 20000);
  await dave.ctx.close();
});

native?.kill();
for (const p of [alice, bob]) await p.ctx.close();
finish();
