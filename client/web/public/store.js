// What this browser keeps, in IndexedDB (never sent anywhere): the
// identity, if the person chose to keep one (opaque bytes from the wasm
// core: an Ed25519 key, serialised by sotto-crypto), the people it
// verified, and settings. Verifications are pinned to the identity (its
// fingerprint), with the name it had when it was verified: a verified key
// is trusted under any name, and someone showing up under a verified name
// (or one that looks like it) with another key raises a warning.

const DB = 'sotto';
const VERSION = 2;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('identity')) db.createObjectStore('identity');
      if (!db.objectStoreNames.contains('settings')) db.createObjectStore('settings');
      // Version 1 kept name -> fingerprint; version 2 keeps fingerprint ->
      // {name, at}, so that a name cannot shadow a key.
      const pins = db.objectStoreNames.contains('pins') ? null : db.createObjectStore('pins');
      if (pins && db.objectStoreNames.contains('verified')) {
        const old = req.transaction.objectStore('verified');
        old.openCursor().onsuccess = (e) => {
          const c = e.target.result;
          if (!c) {
            db.deleteObjectStore('verified');
            return;
          }
          if (typeof c.value === 'string') pins.put({ name: String(c.key).replace(/^#/, ''), at: 0 }, c.value);
          c.continue();
        };
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(store, mode, f) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = f(tx.objectStore(store));
    tx.oncomplete = () => resolve(req?.result);
    tx.onerror = () => reject(tx.error);
  });
}

export const loadIdentity = () => run('identity', 'readonly', (s) => s.get('self'));
export const saveIdentity = (bytes) => run('identity', 'readwrite', (s) => s.put(bytes, 'self'));

/** Map fingerprint (30 digits) -> {name, at} of everyone this browser verified. */
export async function verifiedPeople() {
  const out = new Map();
  const db = await open();
  await new Promise((resolve, reject) => {
    const tx = db.transaction('pins', 'readonly');
    const req = tx.objectStore('pins').openCursor();
    req.onsuccess = () => {
      const c = req.result;
      if (!c) return;
      out.set(String(c.key), c.value);
      c.continue();
    };
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  return out;
}

/** Pins `fingerprint` (digits) as verified, under the name it has now. */
export const markVerified = (fingerprint, name) =>
  run('pins', 'readwrite', (s) => s.put({ name: String(name ?? ''), at: Date.now() }, fingerprint));
export const unmarkVerified = (fingerprint) => run('pins', 'readwrite', (s) => s.delete(fingerprint));

export const getSetting = (key) => run('settings', 'readonly', (s) => s.get(key));
export const setSetting = (key, value) => run('settings', 'readwrite', (s) => s.put(value, key));
