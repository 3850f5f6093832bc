//! The sotto signalling protocol, as types.
//!
//! `spec/protocol.md` is normative; this crate is its executable form,
//! shared by `sotto-server`, the participant core (native and, through
//! wasm, the browser) and `sotto-crypto`, so that all agree byte for byte.
//! A test parses every example of the spec with these types. It also holds
//! the one vocabulary of the workspace: [`ParticipantId`], [`TrackSource`]
//! (wire name and SFrame context), the [`codec`] payload types, and the
//! delivery service's rules ([`delivery`]), which the server runs and the
//! in-memory tests run too.
//!
//! Messages are JSON text frames on one WebSocket per participant. Every
//! message carries the protocol version `v` and a `type` tag. Binary
//! payloads (MLS messages) are standard base64 with padding. Nothing in
//! here is secret from the server: the room secret never leaves the link's
//! fragment, and MLS messages are opaque.

mod code;
pub mod delivery;
mod message;
mod participant;
mod room;
mod track;

pub use code::ErrorCode;
pub use message::{
    ClientMessage, DecodeError, IceServer, LeaveReason, Limits, PcKind, PublishedTrack, Role,
    SdpKind, ServerMessage, SubscribedTrack, decode_client, decode_server, encode,
};
pub use participant::{BadParticipantId, ParticipantId};
pub use room::{LinkError, RoomLink, RoomName, RoomNameError};
pub use track::{MediaKind, TrackSource, codec};

/// The protocol version this crate speaks (`"v": 1` in every message).
pub const PROTOCOL_VERSION: u32 = 1;

/// Standard base64 with padding (RFC 4648 §4), as used for binary fields.
pub mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Encodes `bytes`.
    pub fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    /// Decodes `text`.
    pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(text)
    }

    /// serde `with` helper: serialise.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    /// serde `with` helper: deserialise.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod spec_examples;
