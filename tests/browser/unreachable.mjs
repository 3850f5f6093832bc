// A media server that cannot be reached (issue 18): the SFU announces
// 192.0.2.1 (TEST-NET-1, RFC 5737: nothing answers there), so signalling
// and MLS work and media never connects, for Chromium and for Firefox ESR
// alike. tests/tests/browser.rs starts the server with --public-ip.
//
// Checks:
// - both are in the call with the same room code (the keys are there);
// - each shows "Cannot reach the media server" within 25 s of entering
//   the call (the server gives up on a connection after 20 s, spec §6),
//   and its tiles of the other say there is no media connection, never
//   that keys are missing (and that screen passes axe-core);
// - no silent rejoin loop: for 30 s more (at least one more of the server's
//   attempts for each), each keeps its participant id, its one WebSocket, the
//   room code and the other in its people list, while new peer
//   connections are tried (the server counts the failures).

import { randomBytes } from 'node:crypto';
import { options, check, finish, until, shotsDir, accessibilityProblems } from './lib/harness.mjs';
import { person, join, idOf, socketsOf } from './lib/people.mjs';
import { firefoxPerson } from './lib/firefox.mjs';

const opt = options();
const room = `unreachable-${Date.now() % 100000}`;
const secret = randomBytes(16).toString('base64url');
const digits = (s) => (s ?? '').replace(/\D/g, '');

const chromium = await person(opt.base, room, 'Chromium', 'A', 440, { secret });
await join(chromium);
await until('Chromium in the call', () => chromium.page.locator('#room-code').textContent(), 30000);
const firefox = await firefoxPerson(opt.base, room, 'Firefox', 'B', 550, { secret });
await join(firefox);
const people = [chromium, firefox];

/** What `p` shows: the problem box, its tiles' states and texts, the room code, the people. */
const seen = (p) => p.page.evaluate(() => ({
  problem: document.getElementById('media-problem')?.dataset.state ?? null,
  problemText: document.getElementById('media-problem')?.textContent ?? '',
  tiles: [...document.querySelectorAll('.tile:not(.self)')].map((t) => ({
    state: t.dataset.state, text: t.querySelector('.state span')?.textContent ?? '',
  })),
  code: document.getElementById('room-code')?.textContent ?? '',
  people: document.querySelectorAll('#people li').length,
}));

const failures = async () => {
  const text = await (await fetch(`${opt.base}/metrics`)).text();
  return Number(/^sotto_media_failures_total (\d+)/m.exec(text)?.[1] ?? NaN);
};

let entered;
await check('both are in the call with the same room code', async () => {
  await until('one room code in both, with each other listed', async () => {
    const [a, b] = await Promise.all(people.map(seen));
    return digits(a.code).length === 12 && digits(a.code) === digits(b.code) && a.people === 1 && b.people === 1;
  }, 40000);
  entered = Date.now();
});

const ids = await Promise.all(people.map(idOf));
const code = digits((await seen(chromium)).code);

await check('each says the media server cannot be reached, within 25 s, and never that keys are missing', async () => {
  for (const p of people) {
    await until(`${p.name} shows the failure`, async () => (await seen(p)).problem === 'failed', 25000 - (Date.now() - entered), 200);
    const s = await seen(p);
    console.log(`# ${p.name} said so ${((Date.now() - entered) / 1000).toFixed(1)} s after entering: ${s.problemText}`);
    if (!/Cannot reach the media server/.test(s.problemText)) throw new Error(s.problemText);
  }
  await chromium.page.screenshot({ path: `${await shotsDir(opt.shots)}/media-unreachable-chromium.png` });
  const found = await accessibilityProblems(chromium.page);
  if (found.length) throw new Error(`axe-core on the failed-media screen: ${found.join('; ')}`);
});

await check('no silent rejoin loop: same id, socket, room code and people for 30 s while media is retried', async () => {
  const before = await failures();
  const end = Date.now() + 30000;
  while (Date.now() < end) {
    for (const [i, p] of people.entries()) {
      const s = await seen(p);
      if (s.problem !== 'failed') throw new Error(`${p.name}: the problem box says ${s.problem}`);
      if (digits(s.code) !== code) throw new Error(`${p.name}: room code ${s.code}, was ${code}`);
      if (s.people !== 1) throw new Error(`${p.name}: ${s.people} people listed`);
      for (const t of s.tiles) {
        if (!t.state?.startsWith('media_') || /key/i.test(t.text)) throw new Error(`${p.name}: a tile says ${t.state} "${t.text}"`);
      }
      if ((await idOf(p)) !== ids[i]) throw new Error(`${p.name} joined again as a new participant`);
      if ((await socketsOf(p)) !== 1) throw new Error(`${p.name} opened another WebSocket`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const after = await failures();
  console.log(`# the server dropped failed media ${after - before} times in 30 s (both people)`);
  // Each is retried about every 20 s: at least one more attempt each.
  if (!(after - before >= 2)) throw new Error(`media failures ${before} -> ${after}`);
});

for (const p of people) await p.ctx.close();
finish();
