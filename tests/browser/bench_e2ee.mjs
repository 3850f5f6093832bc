// What end-to-end encryption costs per frame in the browser (issue 20):
// the wasm SFrame transform (sotto-web's FrameCrypto, the code the frame
// Worker runs) against a no-op transform (a copy of the frame) and a plain
// WebCrypto AES-128-GCM seal/open of the same bytes, in one headless
// Chromium page, in one run. A benchmark that prints figures, not a test:
// it asserts nothing about speed. Run by tests/bench/browser-e2ee, which
// starts the server that serves the wasm.
//
// Frame sizes (the encoder's output per frame, at 30 frames/s): Opus
// 20 ms at 48 kbit/s is 120 B; VP8 360p at 1 Mbit/s about 4 KiB, 720p at
// 2.5 Mbit/s about 10 KiB, 1080p at 4 Mbit/s about 17 KiB; keyframes are
// several times larger, so 64 KiB is measured too.

import { options, launch } from './lib/harness.mjs';
import { gzipSync } from 'node:zlib';

const opt = options();
const ctx = await launch();
const page = await ctx.newPage();
await page.goto(`${opt.base}/`);

const rows = await page.evaluate(async () => {
  const wasm = await (await import('/static/session.js')).loadWasm();
  const key = crypto.getRandomValues(new Uint8Array(16));
  const roster = { alicealicealice1: 3, bobbobbobbobbob2: 1 };
  const keys = (own) => wasm.epochKeysFromParts(7, key, own, new Uint32Array(Object.values(roster)), Object.keys(roster));
  const sender = new wasm.FrameCrypto();
  sender.addEpoch(keys(3), Date.now());
  const receiver = new wasm.FrameCrypto();
  receiver.addEpoch(keys(1), Date.now());
  const aes = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);

  const sizes = [
    ['Opus 20 ms', 'audio', 'mic', 120],
    ['VP8 360p', 'video', 'camera', 4 * 1024],
    ['VP8 720p', 'video', 'camera', 10 * 1024],
    ['VP8 1080p', 'video', 'camera', 17 * 1024],
    ['VP8 keyframe', 'video', 'camera', 64 * 1024],
  ];
  // performance.now() is coarse in a page that is not cross-origin
  // isolated: time batches and divide.
  const BATCH = 100;
  const BATCHES = 15;
  const perFrame = async (f) => {
    const times = [];
    for (let b = 0; b < BATCHES; b++) {
      const t0 = performance.now();
      for (let i = 0; i < BATCH; i++) await f(i);
      times.push(((performance.now() - t0) * 1000) / BATCH);
    }
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(times.length / 2)], best: times[0] };
  };
  const out = [];
  for (const [name, kind, source, n] of sizes) {
    const frame = crypto.getRandomValues(new Uint8Array(Math.min(n, 65536)));
    if (n > 65536) frame.set(crypto.getRandomValues(new Uint8Array(n - 65536)), 65536);
    // A delta frame (VP8 bit 0 set: a 3-byte clear prefix), or an Opus TOC.
    frame[0] |= 1;
    // Warm up, and frames to open.
    const sealed = [];
    for (let i = 0; i < BATCH * BATCHES + 50; i++) sealed.push(sender.encrypt(kind, source, frame));
    let next = 50;
    for (let i = 0; i < 50; i++) receiver.decrypt(kind, 'alicealicealice1', source, sealed[i]);
    const iv = new Uint8Array(12);
    const aad = frame.subarray(0, 13);
    const gcm = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, aes, frame));
    out.push({
      name,
      bytes: n,
      noop: await perFrame(() => new Uint8Array(frame)),
      encrypt: await perFrame(() => sender.encrypt(kind, source, frame)),
      decrypt: await perFrame(() => receiver.decrypt(kind, 'alicealicealice1', source, sealed[next++])),
      webcryptoSeal: await perFrame(() => crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, aes, frame)),
      webcryptoOpen: await perFrame(() => crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, aes, gcm)),
    });
  }
  return out;
});

const wasmBytes = Buffer.from(await (await fetch(`${opt.base}/static/pkg/sotto_web_bg.wasm`)).arrayBuffer());
const us = (x) => x.median.toFixed(1);
const lines = [
  `Chromium ${ctx.browser()?.version() ?? '(persistent context)'}, headless, ${new Date().toISOString().slice(0, 10)}; per frame, median of 15 batches of 100 (µs)`,
  '',
  '| frame | bytes | no-op copy | wasm encrypt | wasm decrypt | WebCrypto seal | WebCrypto open | wasm encrypt / WebCrypto seal | wasm decrypt / WebCrypto open |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.name} | ${r.bytes} | ${us(r.noop)} | ${us(r.encrypt)} | ${us(r.decrypt)} | ${us(r.webcryptoSeal)} | ${us(r.webcryptoOpen)} | ${(r.encrypt.median / r.webcryptoSeal.median).toFixed(2)} | ${(r.decrypt.median / r.webcryptoOpen.median).toFixed(2)} |`),
  '',
  `wasm bundle (sotto_web_bg.wasm): ${wasmBytes.length} bytes raw, ${gzipSync(wasmBytes, { level: 9 }).length} bytes gzipped (budget 716800 gzipped, server/tests/web_bundle_fits_its_budget.rs)`,
];
console.log(lines.join('\n'));
await ctx.close();
