// Random room names and link secrets (spec/protocol.md §1). The rules of
// names people type are sotto-proto's, through the wasm (`roomName`).

const ADJECTIVES = ['quiet', 'calm', 'bright', 'gentle', 'brave', 'clever', 'lucky', 'sunny', 'misty', 'golden',
  'silver', 'swift', 'kind', 'merry', 'noble', 'proud', 'quick', 'tidy', 'witty', 'cosy', 'amber', 'coral', 'olive', 'rosy'];
const ANIMALS = ['otter', 'heron', 'fox', 'lynx', 'owl', 'badger', 'hare', 'wren', 'seal', 'crane', 'finch', 'mole',
  'panda', 'koala', 'robin', 'stork', 'tiger', 'whale', 'bison', 'gecko', 'lemur', 'moose', 'raven', 'yak'];
const THINGS = ['lamp', 'kettle', 'harbor', 'meadow', 'lantern', 'bridge', 'garden', 'river', 'piano', 'pebble',
  'candle', 'willow', 'comet', 'maple', 'island', 'violin', 'harbour', 'orchard', 'canyon', 'glacier', 'forest', 'beacon'];

function pickFrom(list) {
  const r = crypto.getRandomValues(new Uint32Array(1))[0];
  return list[r % list.length];
}

/** A readable random room name, like `quiet-otter-lamp-42`. */
export function newRoomName() {
  const n = crypto.getRandomValues(new Uint32Array(1))[0] % 90 + 10;
  return `${pickFrom(ADJECTIVES)}-${pickFrom(ANIMALS)}-${pickFrom(THINGS)}-${n}`;
}

/** 16 random bytes as base64url without padding: 22 characters. */
export function newSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Whether `s` is a link secret: 16 bytes as 22 base64url characters
 * without padding. The last character carries 2 bits of the secret and 4
 * zero bits, so only A, Q, g and w may end it (what sotto-crypto's
 * `RoomSecret::from_fragment` accepts).
 */
export function isSecret(s) {
  return typeof s === 'string' && /^[A-Za-z0-9_-]{21}[AQgw]$/.test(s);
}
