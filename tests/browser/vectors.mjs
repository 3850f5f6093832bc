// spec/vectors/ checked through the wasm bundle in the browser: the page
// runs the same, correct SFrame code as the native client. (The MLS
// helper's sotto-*.json vectors join here once the MLS bindings land.)

import { readFile } from 'node:fs/promises';
import { options, launch, check, finish } from './lib/harness.mjs';

const opt = options();
// KIDs and counters go up to 2^64 - 1: keep them as strings (JSON numbers
// lose precision above 2^53), and make BigInts of them in the page.
const text = await readFile(new URL('../../spec/vectors/rfc9605.json', import.meta.url), 'utf8');
const rfc = JSON.parse(text.replace(/"(kid|ctr)":\s*(\d+)/g, '"$1":"$2"'));
const ctx = await launch();
const page = await ctx.newPage();
await page.goto(`${opt.base}/`);

const result = (name, f, arg) => check(name, async () => {
  const failures = await page.evaluate(f, arg);
  if (failures.length) throw new Error(failures.join('\n'));
});

const prelude = async () => {
  const m = await import('/static/pkg/sotto_web.js');
  await m.default({ module_or_path: '/static/pkg/sotto_web_bg.wasm' });
  return m;
};
await page.evaluate(`window.__load = ${prelude.toString()}`);

await result('RFC 9605 C.1: every header encodes as the RFC says', async (vectors) => {
  const m = await window.__load();
  const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return vectors
    .filter((v) => hex(m.vectorHeader(BigInt(v.kid), BigInt(v.ctr))) !== v.encoded)
    .map((v) => `kid ${v.kid} ctr ${v.ctr}`);
}, rfc.header);

await result('RFC 9605 C.3: every suite seals and opens as the RFC says', async (vectors) => {
  const m = await window.__load();
  const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  const bytes = (h) => new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);
  const out = [];
  for (const v of vectors) {
    const sealed = hex(m.vectorSeal(v.cipher_suite, BigInt(v.kid), BigInt(v.ctr), bytes(v.base_key), bytes(v.metadata), bytes(v.pt)));
    if (sealed !== v.ct) out.push(`suite ${v.cipher_suite}: sealed ${sealed}`);
    const opened = hex(m.vectorOpen(v.cipher_suite, BigInt(v.kid), bytes(v.base_key), bytes(v.metadata), bytes(v.ct)));
    if (opened !== v.pt) out.push(`suite ${v.cipher_suite}: opened ${opened}`);
    const bad = bytes(v.ct);
    bad[bad.length - 1] ^= 1;
    try {
      m.vectorOpen(v.cipher_suite, BigInt(v.kid), bytes(v.base_key), bytes(v.metadata), bad);
      out.push(`suite ${v.cipher_suite}: a forged tag opened`);
    } catch {}
  }
  if (vectors.length < 5) out.push(`only ${vectors.length} vectors`);
  return out;
}, rfc.sframe);

await ctx.close();
finish();
