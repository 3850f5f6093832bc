// People in a call, for the browser tests: a fresh browser with fake media
// and the tests' instrumentation (fake-media.js, instrument.js), on a room
// page of the server under test.

import { launch } from './harness.mjs';

const lib = (f) => new URL(`./${f}`, import.meta.url).pathname;

/**
 * Opens `base/room[#secret]` as `name` with camera pattern `camera` and a
 * tone of `tone` Hz; `passthrough`: its receivers skip decryption;
 * `relayOnly`: its peer connections may use TURN relays only ('tcp': and
 * reach them over TCP only); `tcpOnly`: it never sees the server's UDP
 * candidates (UDP to the server blocked).
 */
export async function person(base, room, name, camera, tone, { secret, viewport, passthrough = false, relayOnly = false, tcpOnly = false } = {}) {
  const ctx = await launch({ viewport });
  await ctx.addInitScript(`window.__sottoFakeConfig = ${JSON.stringify({ camera, screen: 'S', tone, passthrough, relayOnly, tcpOnly })};`);
  await ctx.addInitScript({ path: lib('fake-media.js') });
  await ctx.addInitScript({ path: lib('instrument.js') });
  const page = await ctx.newPage();
  await page.goto(`${base}/${room}${secret ? `#${secret}` : ''}`);
  await page.getByLabel(/Your name/).fill(name);
  return { ctx, page, name };
}

/** Clicks "Join" (or "Join or ask to join"). */
export const join = (p) => p.page.locator('#join-button').click();

/** Whether `p` shows `who`'s `source` tile decoding `pattern`. */
export const tileShows = (p, who, pattern, source = 'camera') =>
  p.page.evaluate(([n, pat, src]) => {
    for (const t of document.querySelectorAll(`.tile[data-source="${src}"]`)) {
      if (!t.querySelector('.name')?.textContent.includes(n)) continue;
      if (window.__sottoFake.shows(t.querySelector('video'), pat)) return true;
    }
    return false;
  }, [who, pattern, source]);

/** `p`'s participant id on its latest connection (from `joined`). */
export const idOf = (p) => p.page.evaluate(() => window.__sotto.participant);

/** How many WebSockets `p`'s page opened so far. */
export const socketsOf = (p) => p.page.evaluate(() => window.__sotto.sockets.length);

/**
 * The local candidates (their stats: candidateType, protocol,
 * relayProtocol) of the selected pairs of `p`'s connected peer
 * connections.
 */
export const selectedLocalCandidates = (p) => p.page.evaluate(async () => {
  const out = [];
  for (const pc of window.__sotto.pcs) {
    if (pc.connectionState !== 'connected') continue;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated) {
        const c = stats.get(s.localCandidateId);
        out.push({ candidateType: c?.candidateType, protocol: c?.protocol, relayProtocol: c?.relayProtocol });
      }
    }
  }
  return out;
});
