//! Participant ids.

use std::fmt;

/// Longest participant id accepted, in bytes.
pub const MAX_PARTICIPANT_ID_BYTES: usize = 64;

/// The opaque id the server gives a participant's connection. It is also
/// the identity in the participant's MLS BasicCredential (RFC 9420 §5.3),
/// which is how a departure announced by the server maps to an MLS leaf.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParticipantId(String);

/// Why a string is not a participant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("participant ids are 1 to {MAX_PARTICIPANT_ID_BYTES} bytes of printable ASCII")]
pub struct BadParticipantId;

impl ParticipantId {
    /// Checks and wraps `id`.
    pub fn new(id: impl Into<String>) -> Result<ParticipantId, BadParticipantId> {
        let id = id.into();
        if id.is_empty()
            || id.len() > MAX_PARTICIPANT_ID_BYTES
            || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(BadParticipantId);
        }
        Ok(ParticipantId(id))
    }

    /// Reads a credential identity.
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
