//! Error codes the server sends (spec/protocol.md, "Errors").

use serde::{Deserialize, Serialize};

/// Why the server refused a message or a connection.
///
/// Serialised in `snake_case`; a code a client does not know deserialises
/// as [`ErrorCode::Unknown`] so that newer servers do not break older
/// clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, not an object, unknown `type`, wrong field types.
    BadMessage,
    /// `v` is missing or is not a version the server speaks. Fatal.
    VersionMismatch,
    /// The message is larger than the server's limit.
    MessageTooLarge,
    /// Too many messages too fast; this one was dropped.
    RateLimited,
    /// The room name does not follow the rules. Fatal.
    BadRoomName,
    /// The room has as many participants as the server allows. Fatal.
    RoomFull,
    /// The server hosts as many rooms as it allows. Fatal.
    TooManyRooms,
    /// The room has as many participants waiting to be let in as the
    /// server allows. The server closes the connection; the client tries
    /// again after a backoff (members let the waiting in, making room).
    TooManyWaiting,
    /// The message needs a `join` first.
    NotJoined,
    /// A second `join` on the same connection.
    AlreadyJoined,
    /// Only MLS members may send this (commits, application messages,
    /// media negotiation).
    NotAMember,
    /// A commit for an epoch that is not the room's current one: another
    /// commit won that epoch, or the commit is a replay.
    StaleEpoch,
    /// The message names a participant that is not in the room.
    UnknownParticipant,
    /// A valid message at the wrong moment (a second key package, an
    /// answer without an offer...).
    OutOfOrder,
    /// The server is shutting down. Fatal.
    ShuttingDown,
    /// Our peer connections with the server failed (no media for 10 s, or
    /// not connected 20 s after the first description, spec §6). The
    /// server dropped them and our tracks; the membership stands. The
    /// client starts media again with new peer connections, as after
    /// joining. Not fatal.
    MediaFailed,
    /// A bug or resource failure on the server.
    Internal,
    /// A code this version of the protocol crate does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code the protocol defines (without [`ErrorCode::Unknown`]).
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::BadMessage,
        ErrorCode::VersionMismatch,
        ErrorCode::MessageTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::BadRoomName,
        ErrorCode::RoomFull,
        ErrorCode::TooManyRooms,
        ErrorCode::TooManyWaiting,
        ErrorCode::NotJoined,
        ErrorCode::AlreadyJoined,
        ErrorCode::NotAMember,
        ErrorCode::StaleEpoch,
        ErrorCode::UnknownParticipant,
        ErrorCode::OutOfOrder,
        ErrorCode::ShuttingDown,
        ErrorCode::MediaFailed,
        ErrorCode::Internal,
    ];

    /// The wire form, e.g. `"stale_epoch"`; also a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::BadRoomName => "bad_room_name",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::TooManyWaiting => "too_many_waiting",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::NotAMember => "not_a_member",
            ErrorCode::StaleEpoch => "stale_epoch",
            ErrorCode::UnknownParticipant => "unknown_participant",
            ErrorCode::OutOfOrder => "out_of_order",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::MediaFailed => "media_failed",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// Whether the server closes the connection after sending this code.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorCode::VersionMismatch
                | ErrorCode::BadRoomName
                | ErrorCode::RoomFull
                | ErrorCode::TooManyRooms
                | ErrorCode::TooManyWaiting
                | ErrorCode::ShuttingDown
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serialise");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, code);
        }
        let later: ErrorCode = serde_json::from_str("\"from_the_future\"").expect("parse");
        assert_eq!(later, ErrorCode::Unknown);
    }
}
