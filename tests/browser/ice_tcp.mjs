// ICE over TCP (issue 19, "reach"): the SFU listens on a TCP port too
// (--tcp-port, RFC 6544 passive candidates, RFC 4571 framing). Bob's UDP
// to the server is blocked (the test's instrumentation hides the server's
// UDP candidates from his page); Alice's is not.
// tests/tests/browser.rs starts the server with --tcp-port.
//
// Checks:
// - the server's descriptions carry a TCP passive candidate;
// - Alice and Bob decode each other's camera, Bob's peer connections
//   over TCP (their selected pairs' local candidates are TCP), Alice's
//   over UDP.

import { randomBytes } from 'node:crypto';
import { options, check, finish, until } from './lib/harness.mjs';
import { person, join, tileShows, selectedLocalCandidates } from './lib/people.mjs';

const opt = options();
const secret = randomBytes(16).toString('base64url');
const room = `tcp-${Date.now() % 100000}`;
const alice = await person(opt.base, room, 'Alice', 'A', 440, { secret });
const bob = await person(opt.base, room, 'Bob', 'B', 550, { secret, tcpOnly: true });

/** The protocols of the local candidates of `p`'s selected pairs. */
const protocols = async (p) => (await selectedLocalCandidates(p)).map((c) => c.protocol);

await check('both join; the server offers a TCP passive candidate', async () => {
  await join(alice);
  await until('Alice in the call', () => alice.page.locator('#room-code').textContent());
  await join(bob);
  await until('Bob in the call', () => bob.page.locator('#room-code').textContent(), 30000);
  const lines = await until('the server\'s answer', () => alice.page.evaluate(() =>
    window.__sotto.receivedSdp[0]?.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'))), 20000);
  console.log(`# the server's candidates: ${lines.join(' | ')}`);
  if (!lines.some((l) => / tcp .* typ host tcptype passive/i.test(l))) throw new Error('no TCP passive candidate');
  if (!lines.some((l) => / udp .* typ host/i.test(l))) throw new Error('no UDP candidate');
});

await check('both decode each other; Bob over TCP, Alice over UDP', async () => {
  await until('Alice on Bob', () => tileShows(bob, 'Alice', 'A'), 40000);
  await until('Bob on Alice', () => tileShows(alice, 'Bob', 'B'), 40000);
  const [a, b] = [await protocols(alice), await protocols(bob)];
  console.log(`# selected pairs: Alice ${JSON.stringify(a)}, Bob ${JSON.stringify(b)}`);
  if (b.length < 2 || !b.every((x) => x === 'tcp')) throw new Error(`Bob: ${JSON.stringify(b)}`);
  if (a.length < 2 || !a.every((x) => x === 'udp')) throw new Error(`Alice: ${JSON.stringify(a)}`);
});

for (const p of [alice, bob]) await p.ctx.close();
finish();
