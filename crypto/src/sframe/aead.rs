//! The AEAD algorithms behind the suites: AES-GCM from `aes-gcm`, and the
//! compound AES-CTR + HMAC construction of RFC 9605 §4.5.1.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce, Tag};
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{CipherSuite, Error};

type Aes128Ctr = ctr::Ctr32BE<aes::Aes128>;

/// An AEAD keyed with one `sframe_key`.
///
/// The AES-GCM variants hold the expanded key schedule (wiped on drop by
/// the crates' `zeroize` feature); the CTR variant keeps its two subkeys in
/// [`Zeroizing`] buffers and expands them per frame, which is cheap next to
/// the HMAC it computes anyway.
pub(crate) enum Cipher {
    Gcm128(Box<Aes128Gcm>),
    Gcm256(Box<Aes256Gcm>),
    CtrHmac {
        enc_key: Zeroizing<[u8; 16]>,
        auth_key: Zeroizing<[u8; 32]>,
        tag_len: usize,
    },
}

impl Cipher {
    /// `key` must be exactly `suite.nk()` bytes (the derivation guarantees it).
    pub(crate) fn new(suite: CipherSuite, key: &[u8]) -> Self {
        debug_assert_eq!(key.len(), suite.nk());
        match suite {
            CipherSuite::AesGcm128Sha256 => Cipher::Gcm128(Box::new(Aes128Gcm::new(key.into()))),
            CipherSuite::AesGcm256Sha512 => Cipher::Gcm256(Box::new(Aes256Gcm::new(key.into()))),
            _ => {
                // RFC 9605 §4.5.1: enc_key = key[..Nka], auth_key = key[Nka..].
                let mut enc_key = Zeroizing::new([0u8; 16]);
                let mut auth_key = Zeroizing::new([0u8; 32]);
                enc_key.copy_from_slice(&key[..16]);
                auth_key.copy_from_slice(&key[16..48]);
                Cipher::CtrHmac {
                    enc_key,
                    auth_key,
                    tag_len: suite.nt(),
                }
            }
        }
    }

    /// Encrypts `buf[start..]` in place and appends the tag.
    pub(crate) fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), Error> {
        match self {
            Cipher::Gcm128(c) => {
                let tag = c
                    .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buf[start..])
                    .map_err(|_| Error::PlaintextTooLong)?;
                buf.extend_from_slice(&tag);
            }
            Cipher::Gcm256(c) => {
                let tag = c
                    .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buf[start..])
                    .map_err(|_| Error::PlaintextTooLong)?;
                buf.extend_from_slice(&tag);
            }
            Cipher::CtrHmac {
                enc_key,
                auth_key,
                tag_len,
            } => {
                ctr_keystream(enc_key, nonce, &mut buf[start..])?;
                let tag = ctr_hmac_tag(auth_key, *tag_len, nonce, aad, &buf[start..]);
                buf.extend_from_slice(&tag[..*tag_len]);
            }
        }
        Ok(())
    }

    /// Verifies and decrypts `ct_and_tag`, appending the plaintext to `out`.
    /// On failure `out` is left as it was.
    pub(crate) fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        ct_and_tag: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let tag_len = self.tag_len();
        let Some(ct_len) = ct_and_tag.len().checked_sub(tag_len) else {
            return Err(Error::TooShort {
                tag: tag_len,
                got: ct_and_tag.len(),
            });
        };
        let (ct, tag) = ct_and_tag.split_at(ct_len);
        let start = out.len();
        match self {
            Cipher::Gcm128(c) => {
                out.extend_from_slice(ct);
                c.decrypt_in_place_detached(
                    Nonce::from_slice(nonce),
                    aad,
                    &mut out[start..],
                    Tag::from_slice(tag),
                )
                .map_err(|_| {
                    out.truncate(start);
                    Error::Authentication
                })
            }
            Cipher::Gcm256(c) => {
                out.extend_from_slice(ct);
                c.decrypt_in_place_detached(
                    Nonce::from_slice(nonce),
                    aad,
                    &mut out[start..],
                    Tag::from_slice(tag),
                )
                .map_err(|_| {
                    out.truncate(start);
                    Error::Authentication
                })
            }
            Cipher::CtrHmac {
                enc_key, auth_key, ..
            } => {
                // Encrypt-then-MAC: verify before touching the ciphertext.
                let expected = ctr_hmac_tag(auth_key, tag_len, nonce, aad, ct);
                if !bool::from(expected[..tag_len].ct_eq(tag)) {
                    return Err(Error::Authentication);
                }
                out.extend_from_slice(ct);
                ctr_keystream(enc_key, nonce, &mut out[start..])
            }
        }
    }

    pub(crate) fn tag_len(&self) -> usize {
        match self {
            Cipher::Gcm128(_) | Cipher::Gcm256(_) => 16,
            Cipher::CtrHmac { tag_len, .. } => *tag_len,
        }
    }
}

/// AES-128-CTR with the initial counter block `nonce || 0x00000000`.
fn ctr_keystream(key: &[u8; 16], nonce: &[u8; 12], buf: &mut [u8]) -> Result<(), Error> {
    let mut iv = [0u8; 16];
    iv[..12].copy_from_slice(nonce);
    let mut cipher = Aes128Ctr::new(key.into(), &iv.into());
    // A 32-bit block counter covers 64 GiB, far beyond any media frame.
    cipher
        .try_apply_keystream(buf)
        .map_err(|_| Error::PlaintextTooLong)
}

/// `compute_tag` of RFC 9605 §4.5.1, before truncation.
fn ctr_hmac_tag(
    auth_key: &[u8; 32],
    tag_len: usize,
    nonce: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
) -> Zeroizing<[u8; 32]> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(auth_key).expect("HMAC accepts keys of any length");
    mac.update(&(aad.len() as u64).to_be_bytes());
    mac.update(&(ct.len() as u64).to_be_bytes());
    mac.update(&(tag_len as u64).to_be_bytes());
    mac.update(nonce);
    mac.update(aad);
    mac.update(ct);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Exposes the compound AEAD for the RFC 9605 §C.2 vectors.
    pub(crate) fn ctr_hmac_seal(
        suite: CipherSuite,
        key: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        pt: &[u8],
    ) -> Vec<u8> {
        let c = Cipher::new(suite, key);
        let mut buf = pt.to_vec();
        c.seal(nonce, aad, &mut buf, 0).expect("seal");
        buf
    }

    pub(crate) fn ctr_hmac_open(
        suite: CipherSuite,
        key: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let c = Cipher::new(suite, key);
        let mut out = Vec::new();
        c.open(nonce, aad, ct, &mut out).map(|()| out)
    }
}
