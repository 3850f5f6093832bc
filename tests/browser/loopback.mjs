// The frame transform alone, inside one page: peer connections on
// loopback, the app's own Worker and wasm, no server. Shows that what the
// sender's Worker emits is encrypted (a receiver that passes frames
// through undecrypted, or holds the wrong key, shows nothing recognisable)
// and that the right key gives back the exact picture and tone.

import { options, launch, check, finish, until } from './lib/harness.mjs';

const opt = options();
const ctx = await launch();
await ctx.addInitScript({ path: new URL('./lib/fake-media.js', import.meta.url).pathname });
const page = await ctx.newPage();
page.on('console', (m) => m.type() === 'error' && console.error('[console]', m.text()));
await page.goto(`${opt.base}/`);

await page.evaluate(async () => {
  const { Frames, transformConfig } = await import('/static/frames.js');
  const wasm = await (await import('/static/session.js')).loadWasm();
  // Epoch 7's keys as the MLS session would hand them over: `roster` maps
  // participants to leaves; the receiver ('bob') sits at leaf 1.
  const epochKeys = (k, ownLeaf, roster) =>
    wasm.epochKeysFromParts(7, k, ownLeaf, new Uint32Array(Object.values(roster)), Object.keys(roster));
  const key = crypto.getRandomValues(new Uint8Array(16));
  const wrong = crypto.getRandomValues(new Uint8Array(16));
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });

  async function link(name, rxKey, roster, decrypt = true, txRoster = { alice: 3, bob: 1 }) {
    const tx = new Frames();
    const rx = new Frames();
    tx.addEpoch(epochKeys(key, 3, txRoster));
    rx.addEpoch(epochKeys(rxKey, 1, { ...roster, bob: 1 }));
    const a = new RTCPeerConnection(transformConfig());
    const b = new RTCPeerConnection(transformConfig());
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.dataset.link = name;
    document.body.append(video);
    const audio = document.createElement('audio');
    audio.autoplay = true;
    document.body.append(audio);
    const ids = {};
    b.ontrack = (e) => {
      const source = e.track.kind === 'audio' ? 'mic' : 'camera';
      // Without decryption the receiver gets no transform at all: the
      // decoder is handed the ciphertext as it arrived.
      if (decrypt) ids[e.track.kind] = rx.protectReceiver(e.receiver, e.track.kind, source, 'alice');
      const s = new MediaStream([e.track]);
      if (e.track.kind === 'video') video.srcObject = s;
      else audio.srcObject = s;
    };
    const senders = [];
    for (const track of media.getTracks()) {
      const t = a.addTransceiver(track.kind, { direction: 'sendonly' });
      senders.push(
        tx.protectSender(t.sender, track.kind, track.kind === 'audio' ? 'mic' : 'camera')
          .then(() => t.sender.replaceTrack(track)),
      );
      if (track.kind === 'video') {
        const vp8 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => /VP8|rtx/i.test(c.mimeType));
        t.setCodecPreferences(vp8);
      }
    }
    await Promise.all(senders);
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription);
    window.__links ??= {};
    window.__links[name] = { rx, tx, ids, video, audio, pc: b };
  }

  await link('right-key', key, { alice: 3 });
  await link('passthrough', key, { alice: 3 }, false);
  await link('wrong-key', wrong, { alice: 3 });
  // Leaf 3 is someone else's in this receiver's roster. Both rosters
  // reach leaf 4, so that sender and receiver share one KID layout (its
  // width follows the highest leaf) and the frame does open: only the
  // sender check can refuse it.
  await link('wrong-leaf', key, { alice: 4, mallory: 3 }, true, { alice: 3, bob: 1, mallory: 4 });
});

const shows = (name, pattern) =>
  page.evaluate(([n, p]) => window.__sottoFake.shows(window.__links[n].video, p), [name, pattern]);
const stats = (name, kind) =>
  page.evaluate(([n, k]) => {
    const l = window.__links[n];
    return l.rx.tracks[l.ids[k]];
  }, [name, kind]);

await check('the right key gives back the sender\'s picture', async () => {
  await until('pattern A on right-key', () => shows('right-key', 'A'), 20000);
});

await check('the right key gives back the sender\'s tone', async () => {
  const t = await page.evaluate(() => window.__sottoFake.tone(window.__links['right-key'].audio.srcObject));
  if (Math.abs(t.hz - 440) > 30) throw new Error(`dominant ${t.hz} Hz at ${t.level} dB`);
});

await check('frames passed through undecrypted show nothing recognisable', async () => {
  for (let i = 0; i < 12; i++) {
    if (await shows('passthrough', 'A')) {
      const detail = await page.evaluate(() => {
        const l = window.__links.passthrough;
        return { tx: l.tx.tracks, rx: l.rx.tracks, sample: window.__sottoFake.sample(l.video) };
      });
      throw new Error(`the pattern is visible without decryption: ${JSON.stringify(detail)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // ...although encrypted frames did arrive.
  const received = await page.evaluate(async () => {
    let n = 0;
    (await window.__links.passthrough.pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.packetsReceived ?? 0;
    });
    return n;
  });
  if (received < 20) throw new Error(`only ${received} video packets arrived`);
});

await check('a receiver with the wrong key decodes nothing and counts failures', async () => {
  const s = await until('auth failures', async () => {
    const s = await stats('wrong-key', 'video');
    return s && s.dropped.auth > 10 && s;
  });
  if (s.ok !== 0) throw new Error(`${s.ok} frames opened with the wrong key`);
  const w = await page.evaluate(() => window.__links['wrong-key'].video.videoWidth);
  if (w !== 0) throw new Error(`decoded a ${w}px wide frame`);
});

await check('frames whose KID names another member than the track\'s are refused', async () => {
  let last;
  const s = await until('wrong_sender drops', async () => {
    const s = (last = await stats('wrong-leaf', 'video'));
    return s && s.dropped.wrong_sender > 10 && s;
  }).catch((e) => {
    throw new Error(`${e.message}; stats ${JSON.stringify(last)}`);
  });
  if (s.ok !== 0) throw new Error(`${s.ok} frames accepted from the wrong leaf`);
});

await ctx.close();
finish();
