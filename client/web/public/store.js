// The persistent identity and the people this browser verified, in
// IndexedDB (never sent anywhere). The identity is opaque bytes from the
// wasm session (an Ed25519 key, serialised by sotto-crypto); the verified
// list maps a display name to the fingerprint that was verified for it:
// a verified key is trusted under any name, and a verified name showing
// up with a key never verified raises a warning.

const DB = 'sotto';
const VERSION = 1;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('identity')) db.createObjectStore('identity');
      if (!db.objectStoreNames.contains('verified')) db.createObjectStore('verified');
      if (!db.objectStoreNames.contains('settings')) db.createObjectStore('settings');
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

/** {name: fingerprint} of everyone this browser verified. */
export async function verifiedPeople() {
  const out = {};
  const db = await open();
  await new Promise((resolve, reject) => {
    const tx = db.transaction('verified', 'readonly');
    const req = tx.objectStore('verified').openCursor();
    req.onsuccess = () => {
      const c = req.result;
      if (!c) return;
      out[c.key] = c.value;
      c.continue();
    };
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  return out;
}

export const markVerified = (name, fingerprint) => run('verified', 'readwrite', (s) => s.put(fingerprint, name));
export const unmarkVerified = (name) => run('verified', 'readwrite', (s) => s.delete(name));

export const getSetting = (key) => run('settings', 'readonly', (s) => s.get(key));
export const setSetting = (key, value) => run('settings', 'readwrite', (s) => s.put(value, key));
