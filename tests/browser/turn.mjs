// Calls through TURN (issue 19, "reach"): two browsers that may use
// relayed candidates only (iceTransportPolicy 'relay', as behind a
// firewall that lets nothing but the TURN server through) call each
// other through a real coturn, with credentials the server minted for
// each of them (--turn-secret, coturn's use-auth-secret).
// tests/tests/browser.rs starts coturn and the server.
//
// Checks:
// - each `joined` carries a TURN entry with a username "EXPIRY:ID" for
//   that participant, expiring about 12 hours from now;
// - both decode each other's camera, and every connected pair of their
//   peer connections runs over a relay candidate;
// - Carol, whose UDP is unusable (she may reach the TURN server over TCP
//   only), sees and is seen by Alice, over relayed pairs whose way to
//   the TURN server is TCP.

import { randomBytes } from 'node:crypto';
import { options, check, finish, until } from './lib/harness.mjs';
import { person, join, tileShows, selectedLocalCandidates } from './lib/people.mjs';

const opt = options();
const secret = randomBytes(16).toString('base64url');
const room = `turn-${Date.now() % 100000}`;
const alice = await person(opt.base, room, 'Alice', 'A', 440, { secret, relayOnly: true });
const bob = await person(opt.base, room, 'Bob', 'B', 550, { secret, relayOnly: true });

await check('each joined carries TURN credentials minted for its participant', async () => {
  await join(alice);
  await until('Alice in the call', () => alice.page.locator('#room-code').textContent());
  await join(bob);
  await until('Bob in the call', () => bob.page.locator('#room-code').textContent(), 30000);
  for (const p of [alice, bob]) {
    const joined = await p.page.evaluate(() => window.__sotto.joined);
    const turn = (joined.ice_servers ?? []).find((s) => (s.urls ?? []).some((u) => u.startsWith('turn:')));
    if (!turn) throw new Error(`no TURN server in ${JSON.stringify(joined.ice_servers)}`);
    const [expiry, who] = String(turn.username).split(':');
    if (who !== joined.participant) throw new Error(`username ${turn.username} for ${joined.participant}`);
    const hours = (Number(expiry) - Date.now() / 1000) / 3600;
    if (!(hours > 11.9 && hours <= 12.01)) throw new Error(`expires in ${hours} h`);
    if (!turn.credential) throw new Error('no credential');
  }
});

/** The local candidate types of `p`'s selected pairs, with the protocol relayed ones use to reach the TURN server ('relay/udp'). */
const relayed = async (p) => (await selectedLocalCandidates(p))
  .map((c) => (c.candidateType === 'relay' ? `relay/${c.relayProtocol}` : c.candidateType));

await check('both decode each other through the relay, and only relayed pairs carry media', async () => {
  await until('Bob on Alice', () => tileShows(alice, 'Bob', 'B'), 40000);
  await until('Alice on Bob', () => tileShows(bob, 'Alice', 'A'), 40000);
  for (const p of [alice, bob]) {
    const types = await relayed(p);
    if (types.length < 2 || !types.every((t) => t.startsWith('relay/'))) throw new Error(`${p.name}: ${JSON.stringify(types)}`);
    console.log(`# ${p.name}: ${types.length} connected pairs, all relayed`);
  }
});

await check('with UDP unusable, Carol calls through TURN over TCP', async () => {
  const carol = await person(opt.base, room, 'Carol', 'A', 600, { secret, relayOnly: 'tcp' });
  await join(carol);
  await until('Alice on Carol', () => tileShows(carol, 'Alice', 'A'), 40000);
  await until('Carol on Bob', () => tileShows(bob, 'Carol', 'A'), 40000);
  const types = await relayed(carol);
  // (Both directions decode above, so both connections carry media; each
  // selected pair the stats name must be relayed over TCP.)
  if (!types.length || !types.every((t) => t === 'relay/tcp')) throw new Error(`Carol: ${JSON.stringify(types)}`);
  console.log(`# Carol: ${types.length} connected pairs, all relayed over TCP to the TURN server`);
  await carol.ctx.close();
});

for (const p of [alice, bob]) await p.ctx.close();
finish();
