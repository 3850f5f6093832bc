//! A participant's long-term signature key.
//!
//! Every participant signs its MLS KeyPackage and leaf with an Ed25519 key
//! (the signature scheme of MLS ciphersuite 0x0001, RFC 9420 §17.1). A
//! browser keeps it in IndexedDB and the CLI in a file, so that a
//! participant shows the same fingerprint in every call; an identity that
//! is never saved is ephemeral.
//!
//! Saved form (`spec/mls-profile.md`, "Identity"), 67 bytes:
//!
//! ```text
//! version (1 byte, 0x01) || scheme (u16 BE, 0x0807 = ed25519) ||
//! seed (32 bytes) || public key (32 bytes)
//! ```
//!
//! The public key is stored only to detect corruption: it must be the one
//! the seed derives.

use std::fmt;

use ed25519_dalek::SigningKey;
use openmls::prelude::SignatureScheme;
use openmls_basic_credential::SignatureKeyPair;
use zeroize::Zeroizing;

use crate::verify::Fingerprint;

/// Version byte of the saved form.
const VERSION: u8 = 1;
/// TLS SignatureScheme value of Ed25519 (RFC 8446 §4.2.3).
const ED25519: u16 = 0x0807;
/// Length of the saved form.
pub const IDENTITY_BYTES: usize = 1 + 2 + 32 + 32;

/// Why an identity could not be created or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The saved form has the wrong length.
    #[error("identity of {got} bytes, expected {IDENTITY_BYTES}")]
    Length {
        /// Bytes given.
        got: usize,
    },
    /// The saved form is of a version this code does not know.
    #[error("unknown identity version {0}")]
    Version(u8),
    /// The saved form names a signature scheme other than Ed25519.
    #[error("unsupported signature scheme 0x{0:04x}")]
    Scheme(u16),
    /// The stored public key is not the one the seed derives.
    #[error("identity is corrupt: public key does not match the seed")]
    Corrupt,
    /// The system random generator failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// An Ed25519 signature key pair. The seed is wiped on drop and never printed.
#[derive(Clone)]
pub struct Identity {
    seed: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .field("seed", &"[redacted]")
            .finish()
    }
}

impl Identity {
    /// A new identity from the system's random generator.
    pub fn generate() -> Result<Identity, IdentityError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom_02::getrandom(&mut seed[..]).map_err(|e| IdentityError::Random(e.to_string()))?;
        Ok(Identity::from_seed(*seed))
    }

    /// The identity whose Ed25519 seed (RFC 8032 §5.1.5 private key) is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        let seed = Zeroizing::new(seed);
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        Identity { seed, public }
    }

    /// Loads the saved form written by [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Identity, IdentityError> {
        if bytes.len() != IDENTITY_BYTES {
            return Err(IdentityError::Length { got: bytes.len() });
        }
        if bytes[0] != VERSION {
            return Err(IdentityError::Version(bytes[0]));
        }
        let scheme = u16::from_be_bytes([bytes[1], bytes[2]]);
        if scheme != ED25519 {
            return Err(IdentityError::Scheme(scheme));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[3..35]);
        let identity = Identity::from_seed(*seed);
        // Not secret: a plain comparison is fine.
        if identity.public[..] != bytes[35..] {
            return Err(IdentityError::Corrupt);
        }
        Ok(identity)
    }

    /// The saved form (secret: keep it where only this participant reads it).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(IDENTITY_BYTES));
        out.push(VERSION);
        out.extend_from_slice(&ED25519.to_be_bytes());
        out.extend_from_slice(&self.seed[..]);
        out.extend_from_slice(&self.public);
        out
    }

    /// The Ed25519 public key: the MLS leaf's `signature_key`.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The fingerprint others compare to recognise this identity.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.public)
    }

    /// The key pair in the form openmls signs with.
    pub(crate) fn signer(&self) -> SignatureKeyPair {
        SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            self.seed.to_vec(),
            self.public.to_vec(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_form_round_trips_and_keeps_the_fingerprint() {
        let id = Identity::from_seed([7; 32]);
        let bytes = id.to_bytes();
        assert_eq!(bytes.len(), IDENTITY_BYTES);
        let back = Identity::from_bytes(&bytes).expect("loads");
        assert_eq!(back.public_key(), id.public_key());
        assert_eq!(back.fingerprint(), id.fingerprint());
    }

    #[test]
    fn damaged_saved_forms_are_refused() {
        let bytes = Identity::from_seed([7; 32]).to_bytes().to_vec();
        assert_eq!(
            Identity::from_bytes(&bytes[..66]).err(),
            Some(IdentityError::Length { got: 66 })
        );
        let mut v = bytes.clone();
        v[0] = 2;
        assert_eq!(
            Identity::from_bytes(&v).err(),
            Some(IdentityError::Version(2))
        );
        let mut v = bytes.clone();
        v[2] = 0x03;
        assert_eq!(
            Identity::from_bytes(&v).err(),
            Some(IdentityError::Scheme(0x0803))
        );
        let mut v = bytes.clone();
        v[10] ^= 1;
        assert_eq!(Identity::from_bytes(&v).err(), Some(IdentityError::Corrupt));
    }

    #[test]
    fn generated_identities_differ_and_debug_hides_the_seed() {
        let a = Identity::generate().expect("random");
        let b = Identity::generate().expect("random");
        assert_ne!(a.public_key(), b.public_key());
        let text = format!("{a:?}");
        assert!(text.contains("[redacted]"));
        let seed_hex: String = a.seed[..4].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&seed_hex));
    }

    #[test]
    fn the_rfc_8032_test_key_derives_its_public_key() {
        // RFC 8032 §7.1, TEST 1.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        let id = Identity::from_seed(seed);
        assert_eq!(
            hex::encode(id.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }
}
