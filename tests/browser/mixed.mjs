// One call, three kinds of participant (issue 18): Chromium, Firefox ESR
// and the native `sotto` client in one room, through the real SFU, each
// frame encrypted by its sender. Firefox gathers no loopback candidate,
// so tests/tests/browser.rs runs the server, the browsers and this
// script in a network namespace of its own where the SFU announces a
// veth address (../../shared/FACTS.md); pages stay on 127.0.0.1.
//
// Checks:
// - all three are in one room and show the same room code;
// - Chromium and Firefox each decode the other's camera pattern and the
//   native client's fixture video;
// - the native client records both browsers' video, decrypted (VP8
//   keyframes with their start code), and their audio.

import { randomBytes } from 'node:crypto';
import { options, check, finish, until } from './lib/harness.mjs';
import { person, join as clickJoin, tileShows } from './lib/people.mjs';
import { firefoxPerson } from './lib/firefox.mjs';
import { startNative, checkRecorded } from './lib/native.mjs';

const opt = options();
const room = `mixed-${Date.now() % 100000}`;
const secret = randomBytes(16).toString('base64url');

const chromium = await person(opt.base, room, 'Chromium', 'A', 440, { secret });
await clickJoin(chromium);
await until('Chromium in the call', () => chromium.page.locator('#room-code').textContent(), 30000);
const firefox = await firefoxPerson(opt.base, room, 'Firefox', 'B', 550, { secret });
await clickJoin(firefox);

const native = await startNative(opt.sotto, opt.fixtures, `${opt.base}/${room}#${secret}`);
const { events } = native;
const digits = (s) => (s ?? '').replace(/\D/g, '');

await check('Chromium, Firefox and the native client share one room code', async () => {
  await until('one room code everywhere, with three members', async () => {
    const codes = [digits(await chromium.page.locator('#room-code').textContent()),
      digits(await firefox.page.locator('#room-code').textContent()),
      digits(events.filter((e) => e.room_code).at(-1)?.room_code)];
    const members = events.filter((e) => e.event === 'member').length;
    return members >= 2 && codes[0].length === 12 && codes.every((c) => c === codes[0]);
  }, 60000);
});

await check('Chromium and Firefox decode each other and the native fixture', async () => {
  await until('Firefox on Chromium', () => tileShows(chromium, 'Firefox', 'B'), 40000);
  await until('Chromium on Firefox', () => tileShows(firefox, 'Chromium', 'A'), 40000);
  await until('native on Chromium', () => tileShows(chromium, 'Native', 'FIXTURE'), 40000);
  await until('native on Firefox', () => tileShows(firefox, 'Native', 'FIXTURE'), 40000);
});

await check('the native client records both browsers, decrypted', async () => {
  // Let a few seconds of both browsers' media arrive.
  await new Promise((r) => setTimeout(r, 3000));
  const code = await native.leave();
  if (code !== 0) throw new Error(`sotto exited with ${code}`);
  for (const who of ['Chromium', 'Firefox']) console.log(`# native recorded ${await checkRecorded(native, who)}`);
});

await chromium.ctx.close();
await firefox.ctx.close();
finish();
