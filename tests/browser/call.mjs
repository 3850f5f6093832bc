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
//
// `--bob firefox` makes Bob a Firefox ESR (lib/firefox.mjs), everyone else
// staying in Chromium: every check above then runs with Firefox on one
// side (decoding, tones, chat, codes, verification, his rejoin, screen
// share both ways, the native client's recording of him), and Dave knocks
// from a Firefox on a phone-sized screen. Firefox needs a
// network namespace and a sound server for that (tests/tests/browser.rs).

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { options, check, finish, until, shotsDir } from './lib/harness.mjs';
import { startNative, checkRecorded } from './lib/native.mjs';
import * as people from './lib/people.mjs';
import { firefoxPerson } from './lib/firefox.mjs';

const opt = options();
const shots = await shotsDir(opt.shots);
const room = `test-call-${Date.now() % 100000}`;
// A link secret as the app makes them: 16 random bytes, base64url.
const secret = randomBytes(16).toString('base64url');

const person = (name, camera, tone, { withSecret = true, ...rest } = {}) =>
  people.person(opt.base, room, name, camera, tone, { secret: withSecret ? secret : null, ...rest });
const bobIn = opt.bob ?? 'chromium';
if (!['chromium', 'firefox'].includes(bobIn)) throw new Error(`--bob ${bobIn}: chromium or firefox`);
console.log(`# Bob runs in ${bobIn}`);
// The Firefox run leaves its own screenshots beside Chromium's.
const shotPrefix = bobIn === 'firefox' ? 'firefox-' : '';
const { join: join_, tileShows } = people;

const alice = await person('Alice', 'A', 440);
await join_(alice);
await until('Alice in the call', () => alice.page.locator('#room-code').textContent());
const bob = bobIn === 'firefox'
  ? await firefoxPerson(opt.base, room, 'Bob', 'B', 660, { secret })
  : await person('Bob', 'B', 660);
await join_(bob);
// The native participant, when given: sends the committed fixtures,
// records what the browsers send (decrypted), prints events as JSON.
const native = opt.sotto ? await startNative(opt.sotto, opt.fixtures, `${opt.base}/${room}#${secret}`) : null;
const nativeEvents = native?.events ?? [];
/** The native client's latest room code (digits), from its events. */
const nativeRoomCode = () => nativeEvents.filter((e) => e.room_code).at(-1)?.room_code;

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

await check('no offer of a browser names the audio-level extension', async () => {
  // Only the server's answer kept the extension out before: the browser
  // offered it (RFC 6464 levels would tell the server who speaks when).
  for (const p of [alice, bob]) {
    const offers = await p.page.evaluate(() => window.__sotto.sentSdp.filter((s) => s.pc === 'pub' && s.kind === 'offer'));
    if (!offers.length || !offers.every((o) => /^m=audio /m.test(o.sdp))) throw new Error('no offer with audio');
    const codecs = [...new Set([...offers.at(-1).sdp.matchAll(/^a=rtpmap:\d+ ([^/\r\n]+)/gm)].map((m) => m[1]))];
    const exts = [...new Set([...offers.at(-1).sdp.matchAll(/^a=extmap:\d+(?:\/\w+)? (\S+)/gm)].map((m) => m[1].replace(/^.*[/:]/, '')))];
    console.log(`# ${p.name} (${p.browser ?? 'chromium'}) offers codecs ${codecs.join(' ')}; header extensions ${exts.join(' ')}`);
    const bad = offers.filter((o) => /audio-level/.test(o.sdp));
    if (bad.length) throw new Error(`${bad.length} offers name audio-level`);
  }
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
  if (native) {
    const digits = (t) => t.replace(/\D/g, '');
    await until('the native client at the browsers\' epoch', () => nativeRoomCode() === digits(codeA), 10000);
    // The native client's view of Bob: his participant id from his name.
    const bobId = nativeEvents.find((e) => e.event === 'name' && e.name === 'Bob')?.from;
    const bobOnNative = nativeEvents.find((e) => e.event === 'member' && e.participant === bobId)?.fingerprint;
    if (!bobOnNative || bobOnNative !== digits(bobOwn)) throw new Error(`native sees Bob as ${bobOnNative}, Bob is ${bobOwn}`);
  }
});

/** Opens `who`'s safety number dialog in `p`'s people list. */
const openSafety = (p, who) => p.page.evaluate((n) => [...document.querySelectorAll('#people li')]
  .find((li) => li.querySelector('strong')?.textContent === n)?.querySelector('button')?.click(), who);

await check('Alice and Bob see the same safety number; Alice marks Bob verified', async () => {
  await openSafety(alice, 'Bob');
  await openSafety(bob, 'Alice');
  const onAlice = await alice.page.locator('#safety-number').textContent();
  const onBob = await bob.page.locator('#safety-number').textContent();
  if (!/^[\d ]{20,}$/.test(onAlice) || onAlice !== onBob) throw new Error(`${onAlice} vs ${onBob}`);
  await bob.page.locator('#safety').evaluate((d) => d.close());
  await alice.page.locator('#safety-verify').click();
  await until('Bob marked verified on Alice', () => alice.page.evaluate(() => Boolean([...document.querySelectorAll('#people li')]
    .find((li) => li.querySelector('strong')?.textContent === 'Bob')?.querySelector('.verified-mark'))));
});

await check('Bob\'s connection drops; he rejoins by himself, is seen again and still verified', async () => {
  const before = await bob.page.evaluate(() => window.__sotto.participant);
  // A network blip as the page sees it: its signalling socket closes.
  await bob.page.evaluate(() => window.__sotto.sockets.at(-1).close());
  const after = await until('Bob back under a new participant id', () => bob.page.evaluate((old) => {
    const p = window.__sotto.participant;
    return p && p !== old && p;
  }, before), 30000);
  await until('new Bob on Alice', () => alice.page.evaluate(([id]) => {
    const t = document.querySelector(`.tile[data-source="camera"][data-participant="${CSS.escape(id)}"]`);
    return Boolean(t) && window.__sottoFake.shows(t.querySelector('video'), 'B');
  }, [after]), 30000);
  await until('Alice on new Bob', () => tileShows(bob, 'Alice', 'A'), 30000);
  await until('old Bob gone from Alice', async () => {
    const left = await alice.page.evaluate((id) => [...document.querySelectorAll(`[data-participant="${CSS.escape(id)}"]`)]
      .map((e) => e.outerHTML.slice(0, 160)), before);
    if (left.length) throw new Error(left.join(' | '));
    return true;
  }, 20000);
  await until('Bob still verified on Alice', () => alice.page.evaluate(() => Boolean([...document.querySelectorAll('#people li')]
    .find((li) => li.querySelector('strong')?.textContent === 'Bob')?.querySelector('.verified-mark'))), 10000);
  const codeA = await alice.page.locator('#room-code').textContent();
  await until('same room code', async () => (await bob.page.locator('#room-code').textContent()) === codeA, 10000);
});

await check('a receiver with decryption disabled shows nothing recognisable', async () => {
  // Carol's receivers hand what arrives to the decoder as it is (the
  // tests' own instrumentation: tests/browser/lib/instrument.js).
  const carol = await person('Carol', 'A', 500, { passthrough: true });
  await join_(carol);
  // Frames do reach Carol's receivers...
  await until('Carol receives Bob\'s camera frames', () => carol.page.evaluate(() => {
    const t = [...document.querySelectorAll('.tile[data-source="camera"]')]
      .find((e) => e.querySelector('.name')?.textContent.includes('Bob'));
    return t && window.__sotto.passthrough[`${t.dataset.participant}/camera`] > 10;
  }), 30000);
  // ...the page never shows them as fine...
  const shown = await carol.page.evaluate(() => [...document.querySelectorAll('.tile:not(.self)[data-source="camera"] video')]
    .filter((v) => v.style.visibility !== 'hidden').length);
  if (shown) throw new Error(`${shown} undecrypted tiles shown as playing`);
  // ...while a receiver that decrypts shows Bob meanwhile...
  await until('Bob still on Alice', () => tileShows(alice, 'Bob', 'B'), 10000);
  // ...and what Carol's decoder gets shows nothing of Bob's picture.
  for (let i = 0; i < 20; i++) {
    if (await tileShows(carol, 'Bob', 'B') || await tileShows(carol, 'Native', 'FIXTURE')) {
      throw new Error('recognisable video without decryption');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await alice.page.screenshot({ path: join(shots, shotPrefix + 'call-three.png') });
  await carol.ctx.close();
});

await check('screen share from Alice is decoded by Bob', async () => {
  await alice.page.locator('#btn-screen').click();
  await until('screen on Bob', () => tileShows(bob, 'Alice', 'S', 'screen'), 30000);
  await bob.page.screenshot({ path: join(shots, shotPrefix + 'call.png') });
  await alice.page.locator('#btn-screen').click();
});

await check('screen share from Bob is decoded by Alice', async () => {
  await bob.page.locator('#btn-screen').click();
  await until('Bob\'s screen on Alice', () => tileShows(alice, 'Bob', 'S', 'screen'), 30000);
  await bob.page.locator('#btn-screen').click();
  await until('Bob\'s screen gone from Alice', () => alice.page.evaluate(() =>
    !document.querySelector('.tile[data-source="screen"]')), 20000);
});

await check('a knock with only the name is shown and admitted by a click', async () => {
  // Dave is on a phone.
  // With --bob firefox, Dave knocks from Firefox too.
  const phone = { width: 390, height: 844 };
  const dave = bobIn === 'firefox'
    ? await firefoxPerson(opt.base, room, 'Dave', 'B', 550, { viewport: phone })
    : await person('Dave', 'B', 550, { withSecret: false, viewport: phone });
  await join_(dave);
  const knock = alice.page.locator('.knock-request');
  await knock.waitFor({ timeout: 20000 });
  await knock.getByRole('button', { name: 'Let in' }).click();
  await until('Dave in the call', () => dave.page.locator('#room-code').textContent(), 20000);
  await until('Alice on Dave\'s phone', () => tileShows(dave, 'Alice', 'A'), 60000);
  // The pixels above are read from the <video> even while the page still
  // hides it ('Waiting for keys…': tile states follow the frame Worker's
  // stats, every 500 ms). Shown to Dave, too, is what the screenshot is for.
  await until('every camera tile decrypted on Dave\'s phone', () => dave.page.evaluate(() => {
    const tiles = [...document.querySelectorAll('.tile:not(.self)[data-source="camera"]')];
    return tiles.length === 3 && tiles.every((t) => t.dataset.state === 'ok' && t.querySelector('video').style.visibility === 'visible');
  }), 10000);
  const overflow = await dave.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  if (overflow) throw new Error('horizontal scrolling in a call on a phone');
  await dave.page.screenshot({ path: join(shots, shotPrefix + 'call-phone.png') });
  await dave.ctx.close();
});

await check('someone else calling themselves Bob raises the key-change warning', async () => {
  const impostor = await person('Bob', 'B', 600);
  await join_(impostor);
  const warning = alice.page.locator('#warning');
  await until('the warning on Alice', async () => (await warning.isVisible()) && (await warning.textContent()).includes('Bob'), 30000);
  // The real Bob is still shown verified: verification follows his key.
  const marks = await alice.page.evaluate(() => [...document.querySelectorAll('#people li')]
    .filter((li) => li.querySelector('strong')?.textContent === 'Bob')
    .map((li) => [Boolean(li.querySelector('.verified-mark')), Boolean(li.querySelector('.changed'))]));
  if (JSON.stringify(marks.sort()) !== JSON.stringify([[false, true], [true, false]])) throw new Error(`Bob rows ${JSON.stringify(marks)}`);
  await alice.page.screenshot({ path: join(shots, shotPrefix + 'call-key-changed.png') });
  await impostor.ctx.close();
});

if (native) {
  await check('the native client records both browsers\' video and audio, decrypted', async () => {
    const code = await native.leave();
    if (code !== 0) throw new Error(`sotto exited with ${code}`);
    // The first participant to take each name (the impostor 'Bob' comes
    // later). Bob's first id records only until his connection drop
    // above, a few seconds in: at least 10 frames, not more.
    for (const who of ['Alice', 'Bob']) console.log(`# ${await checkRecorded(native, who, { minAudio: 4096 })}`);
    const fails = nativeEvents.filter((e) => e.event === 'decrypt_failures');
    if (fails.length) console.log(`# native decrypt failures: ${JSON.stringify(fails)}`);
  });
}
for (const p of [alice, bob]) await p.ctx.close();
finish();
