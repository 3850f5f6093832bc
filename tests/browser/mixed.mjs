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

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { options, check, finish, until } from './lib/harness.mjs';
import { person, join as clickJoin, tileShows } from './lib/people.mjs';
import { firefoxPerson } from './lib/firefox.mjs';

const opt = options();
const room = `mixed-${Date.now() % 100000}`;
const secret = randomBytes(16).toString('base64url');

const chromium = await person(opt.base, room, 'Chromium', 'A', 440, { secret });
await clickJoin(chromium);
await until('Chromium in the call', () => chromium.page.locator('#room-code').textContent(), 30000);
const firefox = await firefoxPerson(opt.base, room, 'Firefox', 'B', 550, { secret });
await clickJoin(firefox);

const recordDir = await mkdtemp(join(tmpdir(), 'sotto-native-'));
const events = [];
const native = spawn(opt.sotto, ['join', `${opt.base}/${room}#${secret}`, '--name', 'Native', '--json',
  '--send-video', join(opt.fixtures, 'pattern.ivf'), '--send-audio', join(opt.fixtures, 'tone.ogg'),
  '--record', recordDir], { stdio: ['pipe', 'pipe', 'inherit'] });
let buf = '';
native.stdout.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    try {
      events.push(JSON.parse(line));
    } catch {
      console.error(`[native] ${line}`);
    }
  }
});
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

/** The frames of an IVF file (32-byte header, 12-byte frame headers). */
function ivfFrames(b) {
  const out = [];
  for (let at = b.readUInt16LE(6); at + 12 <= b.length;) {
    const len = b.readUInt32LE(at);
    out.push(b.subarray(at + 12, at + 12 + len));
    at += 12 + len;
  }
  return out;
}

await check('the native client records both browsers, decrypted', async () => {
  // Let a few seconds of both browsers' media arrive.
  await new Promise((r) => setTimeout(r, 3000));
  native.stdin.write('leave\n');
  const code = await new Promise((r) => native.once('exit', r));
  if (code !== 0) throw new Error(`sotto exited with ${code}`);
  const names = {};
  for (const e of events) if (e.event === 'name') names[e.name] ??= e.from;
  for (const who of ['Chromium', 'Firefox']) {
    const id = names[who];
    if (!id) throw new Error(`the native client never learnt ${who}'s name`);
    const frames = ivfFrames(await readFile(join(recordDir, `${id}-camera.ivf`)));
    const keys = frames.filter((f) => (f[0] & 1) === 0 && f[3] === 0x9d && f[4] === 0x01 && f[5] === 0x2a);
    if (frames.length < 10 || keys.length < 1) throw new Error(`${who}: ${frames.length} frames, ${keys.length} key frames`);
    const ogg = await readFile(join(recordDir, `${id}-mic.ogg`));
    if (ogg.length < 1024 || ogg.toString('latin1', 0, 4) !== 'OggS') throw new Error(`${who}: ${ogg.length} bytes of audio`);
    console.log(`# native recorded ${who}: ${frames.length} video frames (${keys.length} keyframes), ${ogg.length} bytes of audio`);
  }
});

await chromium.ctx.close();
await firefox.ctx.close();
finish();
