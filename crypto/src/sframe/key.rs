//! Key and salt derivation (RFC 9605 §4.4.2) and per-frame sealing and
//! opening (§4.4.3, §4.4.4).

use std::fmt;

use hkdf::Hkdf;
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use super::aead::Cipher;
use super::suite::Hash;
use super::{CipherSuite, Counter, Error, Header, KeyId};

/// Shortest base key accepted. RFC 9605 does not set a floor (HKDF takes
/// any input), but a base key shorter than an AES-128 key would be a bug in
/// whatever produced it. Every RFC test vector uses 16 bytes.
const MIN_BASE_KEY_LEN: usize = 16;

/// Up to this much `header || metadata` is assembled on the stack.
const STACK_AAD: usize = 64;

/// `sframe_key` and `sframe_salt` for one KID, ready to seal or open frames.
///
/// A `FrameKey` has no direction; [`SenderContext`](super::SenderContext)
/// and [`ReceiverContext`](super::ReceiverContext) give it one.
/// Secrets are wiped on drop and never printed.
pub struct FrameKey {
    suite: CipherSuite,
    kid: KeyId,
    salt: Zeroizing<[u8; 12]>,
    cipher: Cipher,
}

impl fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameKey")
            .field("suite", &self.suite)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The HKDF label of RFC 9605 §4.4.2: `prefix || KID (u64 BE) || suite (u16 BE)`.
fn label(prefix: &[u8], kid: KeyId, suite: CipherSuite) -> Vec<u8> {
    let mut l = Vec::with_capacity(prefix.len() + 10);
    l.extend_from_slice(prefix);
    l.extend_from_slice(&kid.0.to_be_bytes());
    l.extend_from_slice(&suite.id().to_be_bytes());
    l
}

const KEY_LABEL: &[u8] = b"SFrame 1.0 Secret key ";
const SALT_LABEL: &[u8] = b"SFrame 1.0 Secret salt ";

/// `derive_key_salt` of RFC 9605 §4.4.2, writing into `key` and `salt`.
fn derive(suite: CipherSuite, kid: KeyId, base_key: &[u8], key: &mut [u8], salt: &mut [u8]) {
    let key_label = label(KEY_LABEL, kid, suite);
    let salt_label = label(SALT_LABEL, kid, suite);
    // HKDF-Extract with an empty salt; HKDF pads it to a zero block, as
    // RFC 5869 §2.2 specifies for a missing salt.
    let ok = match suite.hash() {
        Hash::Sha256 => {
            let hk = Hkdf::<Sha256>::new(None, base_key);
            hk.expand(&key_label, key).is_ok() && hk.expand(&salt_label, salt).is_ok()
        }
        Hash::Sha512 => {
            let hk = Hkdf::<Sha512>::new(None, base_key);
            hk.expand(&key_label, key).is_ok() && hk.expand(&salt_label, salt).is_ok()
        }
    };
    // Nk and Nn are far below HKDF's 255 * Nh output limit.
    debug_assert!(ok);
}

impl FrameKey {
    /// Derives the key and salt for `kid` from `base_key`.
    pub fn derive(suite: CipherSuite, kid: KeyId, base_key: &[u8]) -> Result<Self, Error> {
        if base_key.len() < MIN_BASE_KEY_LEN {
            return Err(Error::BaseKeyTooShort {
                min: MIN_BASE_KEY_LEN,
                got: base_key.len(),
            });
        }
        let mut key = Zeroizing::new([0u8; 48]);
        let key = &mut key[..suite.nk()];
        let mut salt = Zeroizing::new([0u8; 12]);
        derive(suite, kid, base_key, key, &mut salt[..]);
        Ok(FrameKey {
            suite,
            kid,
            salt,
            cipher: Cipher::new(suite, key),
        })
    }

    /// The KID this key was derived for.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// The suite this key was derived for.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Bytes a sealed frame adds to the plaintext for counter `ctr`.
    pub fn overhead(&self, ctr: Counter) -> usize {
        Header::new(self.kid, ctr).encoded_len() + self.cipher.tag_len()
    }

    /// nonce = salt XOR CTR, the counter big-endian in the last 8 bytes.
    fn nonce(&self, ctr: Counter) -> [u8; 12] {
        let mut nonce = *self.salt;
        for (n, c) in nonce[4..].iter_mut().zip(ctr.0.to_be_bytes()) {
            *n ^= c;
        }
        nonce
    }

    /// Runs `f` with `header || metadata`, on the stack when it is small.
    fn with_aad<R>(header: &[u8], metadata: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        let len = header.len() + metadata.len();
        if len <= STACK_AAD {
            let mut buf = [0u8; STACK_AAD];
            buf[..header.len()].copy_from_slice(header);
            buf[header.len()..len].copy_from_slice(metadata);
            f(&buf[..len])
        } else {
            let mut buf = Vec::with_capacity(len);
            buf.extend_from_slice(header);
            buf.extend_from_slice(metadata);
            f(&buf)
        }
    }

    /// Appends `header || ciphertext || tag` for `plaintext` under counter
    /// `ctr` to `out` (RFC 9605 §4.4.3). The caller guarantees that `ctr` is
    /// never used twice with this key; [`SenderContext`](super::SenderContext)
    /// does.
    pub fn seal_into(
        &self,
        ctr: Counter,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let header = Header::new(self.kid, ctr).encode();
        let header = header.as_bytes();
        let before = out.len();
        out.reserve(header.len() + plaintext.len() + self.cipher.tag_len());
        out.extend_from_slice(header);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let nonce = self.nonce(ctr);
        let sealed = Self::with_aad(header, metadata, |aad| {
            self.cipher.seal(&nonce, aad, out, start)
        });
        if sealed.is_err() {
            // Never leave plaintext behind in the output.
            out.truncate(before);
        }
        sealed
    }

    /// Verifies and decrypts the body that follows an already decoded
    /// `header` (whose encoding is `header_bytes`), appending the plaintext
    /// to `out` (RFC 9605 §4.4.4). Fails closed.
    pub fn open_into(
        &self,
        header: &Header,
        header_bytes: &[u8],
        metadata: &[u8],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if header.kid != self.kid {
            return Err(Error::UnknownKeyId(header.kid));
        }
        let nonce = self.nonce(header.ctr);
        Self::with_aad(header_bytes, metadata, |aad| {
            self.cipher.open(&nonce, aad, body, out)
        })
    }

    #[cfg(test)]
    pub(crate) fn salt_for_test(&self) -> [u8; 12] {
        *self.salt
    }

    #[cfg(test)]
    pub(crate) fn nonce_for_test(&self, ctr: Counter) -> [u8; 12] {
        self.nonce(ctr)
    }
}

#[cfg(test)]
pub(crate) fn derive_for_test(
    suite: CipherSuite,
    kid: KeyId,
    base_key: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut key = vec![0u8; suite.nk()];
    let mut salt = vec![0u8; suite.nn()];
    derive(suite, kid, base_key, &mut key, &mut salt);
    (key, salt)
}

#[cfg(test)]
pub(crate) fn label_for_test(salt: bool, kid: KeyId, suite: CipherSuite) -> Vec<u8> {
    label(if salt { SALT_LABEL } else { KEY_LABEL }, kid, suite)
}
