// The participant core's rules, in the browser (real Chromium, real
// server, the page's own wasm core). The server is started with
// --max-participants 3 --max-rooms 2 (tests/tests/browser.rs). What a
// cheating or unlucky server does (a commit that never arrives, a verdict
// for a commit the page does not hold, a second KeyPackage for a knocker)
// is done by the tests' instrumentation of the page's WebSocket
// (lib/instrument.js), not by any hook of the app.
//
// Checks:
// - a browser that misses a commit notices at the next one, joins again
//   as a new participant and decodes again;
// - a browser told its commit won twice (a commit it cannot merge) joins
//   again and decodes again;
// - a second KeyPackage for a knocker, injected between the knock and the
//   click, drops the knock with a warning; the injected key never enters;
// - a fourth person in a room of three sees "This call is full" within 5 s and
//   does not try again; the same for a new room on a server at its limit,
//   and for a page speaking another protocol version.

import { randomBytes } from 'node:crypto';
import { options, check, finish, until } from './lib/harness.mjs';
import { person, join, tileShows, idOf, socketsOf } from './lib/people.mjs';

const opt = options();
const secret = randomBytes(16).toString('base64url');
const stamp = Date.now() % 100000;

/** Waits until `p` is back under a new participant id and sees `other`. */
async function rejoined(p, before, other, pattern) {
  await until(`${p.name} under a new participant id`, async () => {
    const now = await idOf(p);
    return now && now !== before;
  }, 20000);
  await until(`${other.name} on ${p.name} again`, () => tileShows(p, other.name, pattern), 30000);
  await until(`${p.name} on ${other.name} again`, () => tileShows(other, p.name, p.pattern), 30000);
}

const room = `rules-${stamp}`;
const bob = await person(opt.base, room, 'Bob', 'B', 660, { secret });
bob.pattern = 'B';
await join(bob);
await until('Bob in the call', () => bob.page.locator('#room-code').textContent());
const alice = await person(opt.base, room, 'Alice', 'A', 440, { secret });
alice.pattern = 'A';
await join(alice);
await until('Bob on Alice', () => tileShows(alice, 'Bob', 'B'), 30000);
await until('Alice on Bob', () => tileShows(bob, 'Alice', 'A'), 30000);

await check('a browser that misses a commit joins again and decodes again', async () => {
  const before = await idOf(alice);
  // Alice never gets Bob's commit that adds Carol; the commit that removes
  // Carol again is for an epoch Alice cannot reach.
  await alice.page.evaluate(() => window.__sotto.incoming.push({ type: 'commit', action: 'drop', times: 1 }));
  const carol = await person(opt.base, room, 'Carol', 'A', 500, { secret });
  await join(carol);
  await until('Carol in the call', () => carol.page.locator('#room-code').textContent(), 20000);
  await carol.ctx.close();
  await rejoined(alice, before, bob, 'B');
});

await check('a browser told its commit won twice joins again and decodes again', async () => {
  // Bob founded the room (leaf 0): he commits the next change, here his
  // removal of Alice's old leaf once she reconnects. The second verdict is
  // for a commit he no longer holds: he cannot follow the room any more.
  const before = await idOf(bob);
  await bob.page.evaluate(() => window.__sotto.incoming.push({ type: 'commit_accepted', action: 'duplicate', times: 1 }));
  const aliceBefore = await idOf(alice);
  await alice.page.evaluate(() => window.__sotto.sockets.at(-1).close());
  await until('Alice back', async () => (await idOf(alice)) !== aliceBefore, 20000);
  await rejoined(bob, before, alice, 'A');
});

await check('a second KeyPackage for a knocker drops the knock; the injected key never enters', async () => {
  const solo = `rules-knock-${stamp}`;
  const host = await person(opt.base, solo, 'Host', 'A', 440, { secret });
  await join(host);
  await until('Host in the call', () => host.page.locator('#room-code').textContent());
  const kim = await person(opt.base, solo, 'Kim', 'B', 550);
  await join(kim);
  const knock = host.page.locator('.knock-request');
  await knock.waitFor({ timeout: 20000 });
  const kimId = await knock.getAttribute('data-participant');
  const shown = await knock.locator('code').textContent();
  // The server's own KeyPackage under Kim's id: made in the host page by a
  // second participant core that believes the server gave it Kim's id.
  const forged = await host.page.evaluate(async (id) => {
    const wasm = await import('/static/pkg/sotto_web.js');
    const p = new wasm.Participant(wasm.generateIdentity(), location.pathname.slice(1), undefined, 'x', 1, Date.now());
    const outs = () => [...(function* () { for (let o; (o = p.pollOutput()); ) yield JSON.parse(o); })()];
    outs();
    p.handleConnected(Date.now());
    outs();
    p.handleMessage(JSON.stringify({ v: 1, type: 'joined', participant: id, role: 'joiner', ice_servers: [],
      limits: { max_message_bytes: 524288, max_participants: 2, messages_per_second: 20 } }), Date.now());
    const kp = outs().find((o) => o.do === 'send' && JSON.parse(o.text).type === 'key_package');
    return { kp: JSON.parse(kp.text).key_package, fingerprint: p.fingerprint() };
  }, kimId);
  if (forged.fingerprint === shown) throw new Error('the forged key has the shown fingerprint');
  await host.page.evaluate(([id, kp]) => window.__sotto.inject(JSON.stringify({ v: 1, type: 'join_request', participant: id, key_package: kp })), [kimId, forged.kp]);
  await until('the knock prompt closed', async () => (await host.page.locator('.knock-request').count()) === 0, 5000);
  await until('the warning shown', async () => (await host.page.locator('#warning').isVisible())
    && (await host.page.locator('#warning').textContent()).includes('two different keys'), 5000);
  // Nobody entered: the host's group is still the host alone, Kim waits.
  await new Promise((r) => setTimeout(r, 3000));
  const listed = await host.page.evaluate(() => document.querySelectorAll('#people li').length);
  if (listed !== 0) throw new Error(`${listed} people in the host's group`);
  const kimIn = await kim.page.locator('#room-code').textContent();
  if (kimIn) throw new Error('Kim got in');
  await kim.ctx.close();
  await host.ctx.close();
});

/** Waits for the ended screen `reason`, then checks no new connection. */
async function endsWith(p, reason, within) {
  const start = Date.now();
  await until(`the ${reason} screen`, () => p.page.evaluate((r) => {
    const e = document.getElementById('ended');
    return !e.hidden && e.dataset.reason === r;
  }, reason), within);
  const took = Date.now() - start;
  const sockets = await socketsOf(p);
  await new Promise((r) => setTimeout(r, 3000));
  if ((await socketsOf(p)) !== sockets) throw new Error('it connected again after the end');
  return took;
}

await check('a fourth person in a room of three sees "This call is full" within 5 s, and stops', async () => {
  const carol = await person(opt.base, room, 'Carol', 'A', 500, { secret });
  await join(carol);
  await until('Carol in the call', () => carol.page.locator('#room-code').textContent(), 20000);
  const dan = await person(opt.base, room, 'Dan', 'B', 520, { secret });
  await join(dan);
  const took = await endsWith(dan, 'room_full', 5000);
  const title = await dan.page.locator('#ended-title').textContent();
  if (title !== 'This call is full') throw new Error(`title ${title}`);
  console.log(`# room_full shown ${took} ms after joining`);
  await dan.ctx.close();
  await carol.ctx.close();
});

await check('a new room on a server at its room limit says the server is busy, and stops', async () => {
  // Two rooms are the limit: the call above and Olga's.
  const other = await person(opt.base, `rules-other-${stamp}`, 'Olga', 'A', 500, { secret });
  await join(other);
  await until('Olga in the call', () => other.page.locator('#room-code').textContent());
  const dan = await person(opt.base, `rules-third-${stamp}`, 'Dan', 'A', 500, { secret });
  await join(dan);
  await endsWith(dan, 'too_many_rooms', 5000);
  await dan.ctx.close();
  await other.ctx.close();
});

await check('a page speaking another protocol version is told to reload, and stops', async () => {
  const eve = await person(opt.base, `rules-v-${stamp}`, 'Eve', 'A', 500, { secret });
  await eve.page.evaluate(() => {
    window.__sotto.rewriteOut = (text) => text.replace('"v":1', '"v":2');
  });
  await join(eve);
  await endsWith(eve, 'version_mismatch', 5000);
  await eve.ctx.close();
});

for (const p of [alice, bob]) await p.ctx.close();
finish();
