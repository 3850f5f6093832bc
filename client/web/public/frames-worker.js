// The frame-transform Worker: every encoded frame of every track passes
// through here, and through the wasm key ring (sotto-web), on its way to the
// packetizer or the decoder. Frames that do not open are dropped and
// counted per track; they never reach the decoder (spec/protocol.md §7).
//
// Messages from the page:
//   {type:'epoch', keys: Uint8Array}   serialised EpochKeys from the session
//   {type:'ack', epoch, leaf}          a member holds that epoch's key
//   {type:'reset'}                     a new group (after a rejoin): new ring
//   {type:'stream', dir, id, kind, source, participant?, readable, writable}
//     (createEncodedStreams browsers; RTCRtpScriptTransform browsers get
//     the same options through `onrtctransform`)
// Messages to the page: {type:'stats', tracks:{id:{ok, dropped, state}}},
// where a track's state is 'none' (no frame came yet), 'no_key' (frames
// come, and we hold no key for them: the sender's key has not reached us),
// 'ok' (the last frame opened) or 'failing' (the last frame did not open:
// forged, damaged, or from someone who is not who the track says);
// {type:'attached', id} once a track's transform is in place.
// Key material never leaves this Worker and the page's MLS session, and is
// never logged.

import init, { FrameCrypto } from './pkg/sotto_web.js';

const ready = init({ module_or_path: new URL('./pkg/sotto_web_bg.wasm', import.meta.url) });
let crypto = null;
const pending = [];
const stats = new Map();

function statFor(id) {
  let s = stats.get(id);
  if (!s) {
    s = { ok: 0, dropped: {}, state: 'none' };
    stats.set(id, s);
  }
  return s;
}

// The ring's timers: switching the sending epoch once members have the
// new key (or after a timeout), dropping old epochs.
let timer = null;
function armTimer() {
  clearTimeout(timer);
  const at = crypto?.pollTimeout();
  if (at === undefined) return;
  timer = setTimeout(() => {
    crypto?.handleTimeout(Date.now());
    armTimer();
  }, Math.max(0, at - Date.now()));
}

function drop(s, code) {
  s.dropped[code] = (s.dropped[code] ?? 0) + 1;
}

const options = new Map();

// Returns the transform for one track. `opts` = {dir, id, kind, source, participant}.
function transformFor(opts) {
  options.set(opts.id, opts);
  const s = statFor(opts.id);
  s.dir = opts.dir;
  s.participant = opts.participant;
  s.source = opts.source;
  const send = opts.dir === 'send';
  const open = send
    ? (data) => crypto.encrypt(opts.kind, opts.source, data)
    : (data) => crypto.decrypt(opts.kind, opts.participant, opts.source, data);
  return new TransformStream({
    transform(frame, controller) {
      if (!crypto) {
        drop(s, 'no_key');
        s.state = 'no_key';
        return; // nothing leaves in the clear, nothing undecrypted plays
      }
      try {
        frame.data = open(new Uint8Array(frame.data)).buffer;
        s.ok++;
        s.state = 'ok';
        controller.enqueue(frame);
      } catch (e) {
        drop(s, e.message);
        s.state = e.message === 'no_key' ? 'no_key' : 'failing';
      }
    },
  });
}

async function pipe(opts, readable, writable) {
  await ready;
  const piped = readable.pipeThrough(transformFor(opts)).pipeTo(writable);
  // Senders get their track only after this: no frame can reach the
  // packetizer before the transform is in place.
  self.postMessage({ type: 'attached', id: opts.id });
  try {
    await piped;
  } catch {
    // The track ended or the connection closed.
  }
  stats.delete(opts.id);
  options.delete(opts.id);
}

// RTCRtpScriptTransform (spec'd API; Chromium and Safari).
self.onrtctransform = (event) => {
  const t = event.transformer;
  pipe(t.options, t.readable, t.writable);
};

async function handle(msg) {
  await ready;
  switch (msg.type) {
    case 'epoch':
      try {
        crypto ??= new FrameCrypto();
        crypto.addEpoch(msg.keys, Date.now());
        msg.keys.fill(0);
      } catch {
        self.postMessage({ type: 'error', what: 'keys' });
      }
      armTimer();
      break;
    case 'ack':
      try {
        crypto?.acknowledge(msg.epoch, msg.leaf, Date.now());
      } catch {}
      armTimer();
      break;
    case 'departed':
      try {
        crypto?.departed(msg.participant, Date.now());
      } catch {}
      armTimer();
      break;
    case 'reset':
      crypto?.free();
      crypto = null;
      clearTimeout(timer);
      break;
    case 'stream':
      pipe(msg, msg.readable, msg.writable);
      break;
    case 'retarget': {
      const o = options.get(msg.id);
      if (o) {
        o.participant = msg.participant;
        o.source = msg.source;
        const s = statFor(msg.id);
        s.participant = msg.participant;
        s.source = msg.source;
      }
      break;
    }
  }
}

// Messages are handled in order even though wasm loads asynchronously.
let chain = Promise.resolve();
self.onmessage = (event) => {
  pending.push(event.data);
  chain = chain.then(() => handle(pending.shift()));
};

setInterval(() => {
  const tracks = {};
  for (const [id, s] of stats) tracks[id] = { ...s, dropped: { ...s.dropped } };
  self.postMessage({ type: 'stats', tracks });
}, 500);
