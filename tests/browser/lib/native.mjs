// The native `sotto` participant in a browser test: it joins with the
// committed fixtures (tests/fixtures/), records what the others send,
// decrypted, and prints its events as JSON lines, which are collected.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/** Starts `sotto join LINK` as "Native": {proc, events, recordDir, leave()}. */
export async function startNative(sotto, fixtures, link) {
  const recordDir = await mkdtemp(join(tmpdir(), 'sotto-native-'));
  const events = [];
  const proc = spawn(sotto, ['join', link, '--name', 'Native', '--json',
    '--send-video', join(fixtures, 'pattern.ivf'), '--send-audio', join(fixtures, 'tone.ogg'),
    '--record', recordDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  proc.stdout.on('data', (d) => {
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
  /** Types `leave`; resolves to the exit code. */
  const leave = () => {
    proc.stdin.write('leave\n');
    return new Promise((r) => proc.once('exit', r));
  };
  return { proc, events, recordDir, leave };
}

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

/**
 * Checks what the native client recorded of `who` (the first participant
 * to take that name): at least `minFrames` video frames, one of them a
 * decrypted VP8 keyframe (the start code 9d 01 2a after its 3-byte frame
 * tag, RFC 6386 §9.1; ciphertext would not have it), and an Ogg file of at
 * least `minAudio` bytes. Returns a line of figures.
 */
export async function checkRecorded(native, who, { minFrames = 10, minAudio = 1024 } = {}) {
  const names = {};
  for (const e of native.events) if (e.event === 'name') names[e.name] ??= e.from;
  const id = names[who];
  if (!id) throw new Error(`the native client never learnt ${who}'s name`);
  const frames = ivfFrames(await readFile(join(native.recordDir, `${id}-camera.ivf`)));
  const keys = frames.filter((f) => (f[0] & 1) === 0 && f[3] === 0x9d && f[4] === 0x01 && f[5] === 0x2a);
  if (frames.length < minFrames || keys.length < 1) throw new Error(`${who}: ${frames.length} frames, ${keys.length} key frames`);
  const ogg = await readFile(join(native.recordDir, `${id}-mic.ogg`));
  if (ogg.length < minAudio || ogg.toString('latin1', 0, 4) !== 'OggS') throw new Error(`${who}: ${ogg.length} bytes of audio`);
  return `${who}: ${frames.length} video frames (${keys.length} keyframes), ${ogg.length} bytes of audio`;
}
