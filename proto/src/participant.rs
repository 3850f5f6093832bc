//! Participant ids (spec/protocol.md §1).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An opaque participant id, chosen at random by the server for each
/// connection (12 random bytes as base64url: 16 characters). Clients
/// compare ids and never interpret them.
///
/// It is also the identity in the participant's MLS BasicCredential
/// (RFC 9420 §5.3), which is how a departure announced by the server maps
/// to an MLS leaf. Every id in the workspace is this type, checked once
/// where it enters: on the wire (a message naming an invalid id does not
/// decode), in a credential, or typed by a person.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ParticipantId(String);

/// Why a string is not a participant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "participant ids are 1 to {} bytes of printable ASCII",
    ParticipantId::MAX_BYTES
)]
pub struct BadParticipantId;

impl ParticipantId {
    /// Longest id accepted, in bytes.
    pub const MAX_BYTES: usize = 64;

    /// Checks and wraps `id`: 1 to [`MAX_BYTES`](Self::MAX_BYTES) bytes of
    /// printable ASCII (no spaces, no control characters), so that an id
    /// printed to a terminal or a log is exactly what it looks like.
    pub fn new(id: impl Into<String>) -> Result<ParticipantId, BadParticipantId> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_BYTES || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(BadParticipantId);
        }
        Ok(ParticipantId(id))
    }

    /// Reads an id from bytes (an MLS credential's identity).
    pub fn from_bytes(id: &[u8]) -> Result<ParticipantId, BadParticipantId> {
        let id = std::str::from_utf8(id).map_err(|_| BadParticipantId)?;
        ParticipantId::new(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl TryFrom<&str> for ParticipantId {
    type Error = BadParticipantId;
    fn try_from(id: &str) -> Result<Self, Self::Error> {
        ParticipantId::new(id)
    }
}

impl std::str::FromStr for ParticipantId {
    type Err = BadParticipantId;
    fn from_str(id: &str) -> Result<Self, Self::Err> {
        ParticipantId::new(id)
    }
}

impl<'de> Deserialize<'de> for ParticipantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ParticipantId::new(s.into_owned()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_printable_ascii_of_bounded_length() {
        for ok in ["q2LcdS0Hd1n4Xb8e", "p0001", "a", &"x".repeat(64)] {
            assert!(ParticipantId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "tab\there",
            "line\nbreak",
            "é",
            "\u{1b}[2J",
            &"x".repeat(65),
        ] {
            assert_eq!(ParticipantId::new(bad), Err(BadParticipantId), "{bad:?}");
        }
        assert_eq!(ParticipantId::from_bytes(&[0xff]), Err(BadParticipantId));
    }

    #[test]
    fn an_invalid_id_does_not_deserialise() {
        let ok: ParticipantId = serde_json::from_str("\"abc\"").expect("valid");
        assert_eq!(ok.as_str(), "abc");
        assert!(serde_json::from_str::<ParticipantId>("\"a\\u001bb\"").is_err());
        assert!(serde_json::from_str::<ParticipantId>("\"\"").is_err());
    }
}
