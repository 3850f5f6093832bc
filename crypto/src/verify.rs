//! What people compare to know they talk to whom they think.
//!
//! * [`Fingerprint`]: 30 digits per identity, in six groups of five,
//!   derived from the Ed25519 public key alone, so it is the same in every
//!   call for a persistent identity.
//! * [`SafetyNumber`]: 60 digits for a pair of identities, identical on
//!   both sides (the smaller fingerprint first).
//! * [`RoomCode`]: 12 digits from the MLS epoch authenticator (RFC 9420
//!   §8.7). Every member of the same epoch sees the same code; a server
//!   that splits the room into two groups cannot make their codes match.
//!
//! Derivations (`spec/mls-profile.md`, "Verification"):
//!
//! ```text
//! fingerprint = SHA-512("sotto fingerprint v1" || public_key)[0..30]
//!               as 6 chunks of 5 bytes, each big-endian mod 100000, 5 digits
//! room code   = SHA-256("sotto room code v1" || epoch_authenticator)[0..15]
//!               as 3 chunks of 5 bytes, each big-endian mod 10000, 4 digits
//! ```

use std::fmt;

use sha2::{Digest, Sha256, Sha512};

const FINGERPRINT_LABEL: &[u8] = b"sotto fingerprint v1";
const ROOM_CODE_LABEL: &[u8] = b"sotto room code v1";

/// Digits of a fingerprint.
pub const FINGERPRINT_DIGITS: usize = 30;
/// Digits of a room code.
pub const ROOM_CODE_DIGITS: usize = 12;

/// `chunks` groups of `width` decimal digits, each from 5 bytes of `hash`
/// read big-endian and reduced mod `10^width`.
fn digits(hash: &[u8], chunks: usize, width: u32) -> String {
    let modulus = 10u64.pow(width);
    let mut out = String::with_capacity(chunks * width as usize);
    for chunk in hash.chunks_exact(5).take(chunks) {
        let v = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        out.push_str(&format!("{:0w$}", v % modulus, w = width as usize));
    }
    out
}

/// `digits` in groups of `group`, separated by single spaces.
fn grouped(digits: &str, group: usize) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / group);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % group == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The fingerprint of an identity: 30 decimal digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of the Ed25519 public key `public_key`.
    pub fn of(public_key: &[u8]) -> Fingerprint {
        let mut h = Sha512::new();
        h.update(FINGERPRINT_LABEL);
        h.update(public_key);
        Fingerprint(digits(&h.finalize(), 6, 5))
    }

    /// The 30 digits without spaces.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// A fingerprint as shown to a person: 30 digits, spaces anywhere.
    /// What a user approved (a knock's fingerprint, from the UI or typed
    /// on the command line) comes back in this way.
    pub fn parse(shown: &str) -> Option<Fingerprint> {
        let digits: String = shown.chars().filter(|c| *c != ' ').collect();
        (digits.len() == FINGERPRINT_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some(Fingerprint(digits))
    }

    /// The safety number of this identity and `other`.
    pub fn safety_number(&self, other: &Fingerprint) -> SafetyNumber {
        SafetyNumber::new(self, other)
    }
}

/// Six groups of five digits: `01234 56789 ...`.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&grouped(&self.0, 5))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The safety number of two identities: 60 digits, the same on both sides.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// The safety number of `a` and `b` (in either order).
    pub fn new(a: &Fingerprint, b: &Fingerprint) -> SafetyNumber {
        // Equal-length digit strings compare numerically as text.
        let (first, second) = if a.0 <= b.0 { (a, b) } else { (b, a) };
        SafetyNumber(format!("{}{}", first.0, second.0))
    }

    /// The 60 digits without spaces.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// Twelve groups of five digits.
impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&grouped(&self.0, 5))
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}

/// The room code of one MLS epoch: 12 decimal digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RoomCode(String);

impl RoomCode {
    /// The room code for an epoch whose authenticator (RFC 9420 §8.7) is
    /// `epoch_authenticator`.
    pub fn from_epoch_authenticator(epoch_authenticator: &[u8]) -> RoomCode {
        let mut h = Sha256::new();
        h.update(ROOM_CODE_LABEL);
        h.update(epoch_authenticator);
        RoomCode(digits(&h.finalize(), 3, 4))
    }

    /// The 12 digits without spaces.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// Three groups of four digits: `1234 5678 9012`.
impl fmt::Display for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&grouped(&self.0, 4))
    }
}

impl fmt::Debug for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomCode({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_fingerprint_parses_back() {
        let f = Fingerprint::of(&[7; 32]);
        assert_eq!(Fingerprint::parse(&f.to_string()), Some(f.clone()));
        assert_eq!(Fingerprint::parse(f.digits()), Some(f.clone()));
        assert_eq!(Fingerprint::parse(&f.digits()[1..]), None);
        assert_eq!(Fingerprint::parse(&format!("{}x", &f.digits()[1..])), None);
    }

    #[test]
    fn fingerprints_have_thirty_digits_in_six_groups() {
        let f = Fingerprint::of(&[1; 32]);
        assert_eq!(f.digits().len(), FINGERPRINT_DIGITS);
        assert!(f.digits().bytes().all(|b| b.is_ascii_digit()));
        let shown = f.to_string();
        assert_eq!(shown.split(' ').count(), 6);
        assert!(shown.split(' ').all(|g| g.len() == 5));
        assert_eq!(f, Fingerprint::of(&[1; 32]), "stable");
        assert_ne!(f, Fingerprint::of(&[2; 32]));
    }

    #[test]
    fn chunks_are_reduced_and_zero_padded() {
        // 5 bytes of zeros give 00000; 0xffffffffff = 1099511627775 gives 27775.
        let mut hash = [0u8; 30];
        hash[5..10].copy_from_slice(&[0xff; 5]);
        assert_eq!(digits(&hash, 6, 5), "000002777500000000000000000000");
        assert_eq!(digits(&hash, 3, 4), "000077750000");
    }

    #[test]
    fn safety_numbers_agree_on_both_sides() {
        let a = Fingerprint::of(&[1; 32]);
        let b = Fingerprint::of(&[2; 32]);
        let ab = a.safety_number(&b);
        assert_eq!(ab, b.safety_number(&a));
        assert_eq!(ab.digits().len(), 60);
        assert_eq!(ab.to_string().split(' ').count(), 12);
        let smaller = a.digits().min(b.digits());
        assert!(ab.digits().starts_with(smaller));
    }

    #[test]
    fn room_codes_are_three_groups_of_four() {
        let c = RoomCode::from_epoch_authenticator(&[3; 32]);
        assert_eq!(c.digits().len(), ROOM_CODE_DIGITS);
        let shown = c.to_string();
        assert_eq!(shown.len(), 14);
        assert_eq!(shown.split(' ').count(), 3);
        assert_ne!(c, RoomCode::from_epoch_authenticator(&[4; 32]));
    }
}
