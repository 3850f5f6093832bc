//! Admission by the link secret.
//!
//! A room link is `https://HOST/ROOM#SECRET`; browsers never send the
//! fragment, so the server never sees SECRET. From SECRET and the room name
//! every holder derives the admission key
//!
//! ```text
//! K_adm = HKDF-SHA256(salt = "sotto admission v1", IKM = SECRET, info = ROOM)   (32 bytes)
//! ```
//!
//! and with it two MACs (`spec/mls-profile.md`, "Admission"):
//!
//! * the **admission tag** a joiner puts in its KeyPackage's leaf node
//!   (extension [`ADMISSION_TAG_EXTENSION`]):
//!   `HMAC-SHA256(K_adm, "sotto admission tag v1" || signature_key)`.
//!   Members commit an Add automatically only when it verifies; the server,
//!   without SECRET, cannot make one for a key it holds.
//! * the **room binding** the group's creator puts in the GroupContext
//!   (extension [`ROOM_BINDING_EXTENSION`]):
//!   `HMAC-SHA256(K_adm, "sotto room binding v1" || group_id)`. A joiner
//!   with SECRET refuses a group without it, so a server that creates a
//!   group itself (a "ghost creator") cannot lure link holders into it.
//!
//! Both extension types are in the private-use range of RFC 9420 §17.3.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Leaf node extension type carrying the admission tag (RFC 9420 §17.3
/// private use).
pub const ADMISSION_TAG_EXTENSION: u16 = 0xF50A;
/// GroupContext extension type carrying the room binding (RFC 9420 §17.3
/// private use).
pub const ROOM_BINDING_EXTENSION: u16 = 0xF50B;

/// Bytes of SECRET.
pub const SECRET_BYTES: usize = 16;
/// Characters of SECRET in a link: base64url without padding.
pub const SECRET_CHARS: usize = 22;
/// Bytes of an admission tag and of a room binding (HMAC-SHA256).
pub const MAC_BYTES: usize = 32;

const KDF_SALT: &[u8] = b"sotto admission v1";
const TAG_LABEL: &[u8] = b"sotto admission tag v1";
const BINDING_LABEL: &[u8] = b"sotto room binding v1";

/// Why a SECRET could not be read or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// The fragment is not 22 characters of base64url encoding 16 bytes.
    #[error("the link secret must be {SECRET_CHARS} base64url characters")]
    BadSecret,
    /// The system random generator failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// The room's SECRET. Wiped on drop, never printed by `Debug`.
#[derive(Clone)]
pub struct RoomSecret(Zeroizing<[u8; SECRET_BYTES]>);

impl fmt::Debug for RoomSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomSecret([redacted])")
    }
}

impl RoomSecret {
    /// A fresh SECRET from the system's random generator (on wasm, the
    /// browser's `crypto.getRandomValues`).
    pub fn generate() -> Result<RoomSecret, AdmissionError> {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        getrandom_02::getrandom(&mut bytes[..])
            .map_err(|e| AdmissionError::Random(e.to_string()))?;
        Ok(RoomSecret(bytes))
    }

    /// A SECRET with the given bytes (randomness chosen by the caller).
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> RoomSecret {
        RoomSecret(Zeroizing::new(bytes))
    }

    /// Reads SECRET from a link fragment, with or without the leading `#`.
    ///
    /// Strict: exactly 22 characters of the URL-safe alphabet, no padding,
    /// and unused trailing bits zero, so one SECRET has one spelling.
    pub fn from_fragment(fragment: &str) -> Result<RoomSecret, AdmissionError> {
        let text = fragment.strip_prefix('#').unwrap_or(fragment);
        if text.len() != SECRET_CHARS {
            return Err(AdmissionError::BadSecret);
        }
        let decoded = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| AdmissionError::BadSecret)?,
        );
        let bytes: [u8; SECRET_BYTES] = decoded[..]
            .try_into()
            .map_err(|_| AdmissionError::BadSecret)?;
        Ok(RoomSecret::from_bytes(bytes))
    }

    /// The fragment for a link (without `#`). Secret: show it only to the user.
    pub fn to_fragment(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(&self.0[..]))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; SECRET_BYTES] {
        &self.0
    }

    /// K_adm for `room` (the room name exactly as in the link).
    pub fn admission_key(&self, room: &str) -> AdmissionKey {
        let hk = Hkdf::<Sha256>::new(Some(KDF_SALT), &self.0[..]);
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
        let expanded = hk.expand(room.as_bytes(), &mut key[..]);
        debug_assert!(expanded.is_ok());
        AdmissionKey(key)
    }
}

/// K_adm: the key that makes and checks admission tags and room bindings.
#[derive(Clone)]
pub struct AdmissionKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for AdmissionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdmissionKey([redacted])")
    }
}

impl AdmissionKey {
    fn mac(&self, label: &[u8], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label);
        mac.update(data);
        mac
    }

    /// The admission tag for a leaf whose signature key is `signature_key`.
    pub fn admission_tag(&self, signature_key: &[u8]) -> [u8; MAC_BYTES] {
        self.mac(TAG_LABEL, signature_key)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `tag` is the admission tag for `signature_key`, in constant time.
    pub fn verify_admission_tag(&self, signature_key: &[u8], tag: &[u8]) -> bool {
        self.mac(TAG_LABEL, signature_key).verify_slice(tag).is_ok()
    }

    /// The room binding for the MLS group `group_id`.
    pub fn room_binding(&self, group_id: &[u8]) -> [u8; MAC_BYTES] {
        self.mac(BINDING_LABEL, group_id)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `binding` is the room binding for `group_id`, in constant time.
    pub fn verify_room_binding(&self, group_id: &[u8], binding: &[u8]) -> bool {
        self.mac(BINDING_LABEL, group_id)
            .verify_slice(binding)
            .is_ok()
    }

    /// The raw key, for test vectors.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_round_trip() {
        let s = RoomSecret::from_bytes(*b"0123456789abcdef");
        let f = s.to_fragment();
        assert_eq!(f.len(), SECRET_CHARS);
        let back = RoomSecret::from_fragment(&format!("#{}", &*f)).expect("parses");
        assert_eq!(back.as_bytes(), s.as_bytes());
    }

    #[test]
    fn bad_fragments_are_refused() {
        let good = RoomSecret::from_bytes([0xff; 16]).to_fragment();
        assert_eq!(&*good, "_____________________w");
        for bad in [
            "",
            "#",
            "_____________________",   // 21 characters
            "______________________w", // 23 characters
            "_____________________w=",
            "_____________________x", // non-zero trailing bits
            "+////////////////////w", // standard alphabet
            "____________________ w",
        ] {
            assert_eq!(
                RoomSecret::from_fragment(bad).err(),
                Some(AdmissionError::BadSecret),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tags_bind_the_key_the_room_and_the_secret() {
        let s = RoomSecret::from_bytes([1; 16]);
        let k = s.admission_key("quiet-otter-lamp-42");
        let tag = k.admission_tag(&[9; 32]);
        assert!(k.verify_admission_tag(&[9; 32], &tag));
        assert!(!k.verify_admission_tag(&[8; 32], &tag));
        assert!(!k.verify_admission_tag(&[9; 32], &tag[..31]));
        let other_room = s.admission_key("quiet-otter-lamp-43");
        assert!(!other_room.verify_admission_tag(&[9; 32], &tag));
        let other_secret = RoomSecret::from_bytes([2; 16]).admission_key("quiet-otter-lamp-42");
        assert!(!other_secret.verify_admission_tag(&[9; 32], &tag));
        // Tag and binding use different labels: one is never the other.
        assert!(!k.verify_room_binding(&[9; 32], &tag));
    }

    #[test]
    fn secrets_are_redacted() {
        let s = RoomSecret::from_bytes([0xab; 16]);
        let text = format!("{s:?} {:?}", s.admission_key("r"));
        assert!(!text.contains("ab"), "{text}");
        assert!(text.contains("redacted"));
    }
}
