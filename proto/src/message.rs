//! Signalling messages (spec/protocol.md, "Messages").

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, PROTOCOL_VERSION, ParticipantId, RoomName, TrackSource, b64};

/// Messages a participant sends to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// Enter a room. The first message on a connection.
    Join {
        /// Room to enter; created if it does not exist.
        room: RoomName,
    },
    /// The joiner's MLS KeyPackage, announced to the room's members.
    KeyPackage {
        /// TLS-serialised MLSMessage carrying a KeyPackage.
        #[serde(with = "b64")]
        key_package: Vec<u8>,
    },
    /// An MLS commit for `epoch`, and the Welcome for the members it adds.
    Commit {
        /// The epoch the commit was made in (the room's current epoch).
        epoch: u64,
        /// TLS-serialised MLSMessage carrying the commit.
        #[serde(with = "b64")]
        commit: Vec<u8>,
        /// TLS-serialised MLSMessage carrying the Welcome, if it adds members.
        #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_b64")]
        welcome: Option<Vec<u8>>,
        /// Participants the Welcome is for.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        welcome_to: Vec<ParticipantId>,
    },
    /// An MLS application message (chat, profile, key acknowledgement),
    /// relayed to every other member.
    Application {
        /// TLS-serialised MLSMessage (PrivateMessage).
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// A member refuses a knocking participant.
    RefuseKnock {
        /// The knocker.
        participant: ParticipantId,
    },
    /// SDP offer or answer for one of the participant's peer connections.
    Sdp {
        /// Which peer connection.
        pc: PcKind,
        /// Offer or answer.
        kind: SdpKind,
        /// The session description.
        sdp: String,
        /// For offers on the publishing connection: what each sending
        /// transceiver carries.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tracks: Vec<PublishedTrack>,
    },
    /// A trickled ICE candidate.
    Ice {
        /// Which peer connection.
        pc: PcKind,
        /// The candidate line (`candidate:...`); empty for end of candidates.
        candidate: String,
        /// Media section id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// Media section index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
    /// Our peer connections failed as we see them: start our media over
    /// (the server answers `media_failed`, spec §4.6). At most one per
    /// 5 s is acted on.
    MediaRestart {},
    /// Leave the room; the server closes the connection.
    Leave {},
}

impl ClientMessage {
    /// The message's `type` on the wire, e.g. `"key_package"`.
    pub fn message_type(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::KeyPackage { .. } => "key_package",
            ClientMessage::Commit { .. } => "commit",
            ClientMessage::Application { .. } => "application",
            ClientMessage::RefuseKnock { .. } => "refuse_knock",
            ClientMessage::Sdp { .. } => "sdp",
            ClientMessage::Ice { .. } => "ice",
            ClientMessage::MediaRestart {} => "media_restart",
            ClientMessage::Leave {} => "leave",
        }
    }
}

/// Messages the server sends to a participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// Answer to `join`.
    Joined {
        /// This participant's id for the rest of the connection.
        participant: ParticipantId,
        /// Whether to create the MLS group or to send a KeyPackage.
        role: Role,
        /// STUN/TURN servers for the peer connections.
        #[serde(default)]
        ice_servers: Vec<IceServer>,
        /// The server's limits.
        limits: Limits,
    },
    /// No member is left to admit this waiting participant: it creates the
    /// group itself (as if it had been the first).
    BecomeCreator {},
    /// Someone wants to join: its KeyPackage, for the members to check
    /// and commit (or to show as a knock).
    JoinRequest {
        /// The joiner.
        participant: ParticipantId,
        /// Its KeyPackage, as it sent it.
        #[serde(with = "b64")]
        key_package: Vec<u8>,
    },
    /// The Welcome that makes this participant a member.
    Welcome {
        /// The member whose commit added us.
        from: ParticipantId,
        /// The epoch the Welcome starts in.
        epoch: u64,
        /// TLS-serialised MLSMessage carrying the Welcome.
        #[serde(with = "b64")]
        welcome: Vec<u8>,
    },
    /// The commit that won `epoch`, from another member.
    Commit {
        /// Its author.
        from: ParticipantId,
        /// The epoch it was made in; the room is now at `epoch + 1`.
        epoch: u64,
        /// TLS-serialised MLSMessage carrying the commit.
        #[serde(with = "b64")]
        commit: Vec<u8>,
    },
    /// Our own commit won `epoch`: merge it.
    CommitAccepted {
        /// The epoch it was made in; the room is now at `epoch + 1`.
        epoch: u64,
    },
    /// An MLS application message from another member.
    Application {
        /// Its author.
        from: ParticipantId,
        /// The MLSMessage.
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// A participant (member or waiting) is gone.
    Left {
        /// Who.
        participant: ParticipantId,
        /// Why.
        reason: LeaveReason,
    },
    /// Our knock was refused by a member; the server closes the connection.
    Refused {},
    /// SDP offer or answer for one of our peer connections.
    Sdp {
        /// Which peer connection.
        pc: PcKind,
        /// Offer or answer.
        kind: SdpKind,
        /// The session description.
        sdp: String,
        /// For offers on the subscribing connection: whose track each
        /// receiving transceiver carries.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tracks: Vec<SubscribedTrack>,
    },
    /// A trickled ICE candidate from the server.
    Ice {
        /// Which peer connection.
        pc: PcKind,
        /// The candidate line; empty for end of candidates.
        candidate: String,
        /// Media section id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// Media section index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
    /// A refusal. Fatal codes are followed by the server closing.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// Human-readable detail (English, for logs and developers).
        message: String,
        /// The `type` of the message refused, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_reply_to: Option<String>,
        /// With `stale_epoch`: the room's current epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_epoch: Option<u64>,
    },
}

impl ServerMessage {
    /// The message's `type` on the wire, e.g. `"join_request"`.
    pub fn message_type(&self) -> &'static str {
        match self {
            ServerMessage::Joined { .. } => "joined",
            ServerMessage::BecomeCreator {} => "become_creator",
            ServerMessage::JoinRequest { .. } => "join_request",
            ServerMessage::Welcome { .. } => "welcome",
            ServerMessage::Commit { .. } => "commit",
            ServerMessage::CommitAccepted { .. } => "commit_accepted",
            ServerMessage::Application { .. } => "application",
            ServerMessage::Left { .. } => "left",
            ServerMessage::Refused {} => "refused",
            ServerMessage::Sdp { .. } => "sdp",
            ServerMessage::Ice { .. } => "ice",
            ServerMessage::Error { .. } => "error",
        }
    }
}

/// What the first `joined` tells a participant to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The room was empty: create the MLS group at epoch 0.
    Creator,
    /// The room has members: send a KeyPackage and wait for a Welcome.
    Joiner,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LeaveReason {
    /// It sent `leave`.
    Leave,
    /// Its WebSocket closed.
    Disconnect,
    /// It stopped answering (WebSocket pings, or no media consent).
    Timeout,
    /// Its peer connection failed.
    IceFailed,
    /// Its knock was refused.
    Refused,
    /// The server closed it for breaking the limits.
    Policy,
    /// A reason this version does not know.
    #[serde(other)]
    Unknown,
}

impl LeaveReason {
    /// The wire form, e.g. `"ice_failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Leave => "leave",
            LeaveReason::Disconnect => "disconnect",
            LeaveReason::Timeout => "timeout",
            LeaveReason::IceFailed => "ice_failed",
            LeaveReason::Refused => "refused",
            LeaveReason::Policy => "policy",
            LeaveReason::Unknown => "unknown",
        }
    }
}

/// The two peer connections of a participant: it offers on `pub` (what it
/// sends), the server offers on `sub` (what it receives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcKind {
    /// Publishing: the participant's own tracks.
    Pub,
    /// Subscribing: the other participants' tracks.
    Sub,
}

/// Offer or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SdpKind {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
}

/// A sending transceiver of the publishing connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTrack {
    /// Its media section id in the offer.
    pub mid: String,
    /// What it carries.
    pub source: TrackSource,
}

/// A receiving transceiver of the subscribing connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedTrack {
    /// Its media section id in the offer.
    pub mid: String,
    /// Whose track it is.
    pub participant: ParticipantId,
    /// What it carries.
    pub source: TrackSource,
}

/// A STUN or TURN server, as `RTCIceServer` in the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:` / `turn:` / `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Limits the server enforces, announced in `joined`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest message, in bytes of JSON text.
    pub max_message_bytes: usize,
    /// Most participants in one room (members and waiting).
    pub max_participants: usize,
    /// Sustained messages per second before `rate_limited`.
    pub messages_per_second: u32,
}

/// A message that could not be decoded, and the error code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct DecodeError {
    /// `bad_message`, `version_mismatch`, or `bad_room_name` for a `join`
    /// naming an invalid room.
    pub code: ErrorCode,
    /// Detail.
    pub message: String,
    /// The message's `type`, if it had a readable one.
    pub message_type: Option<String>,
}

/// Just enough of a message to check its version and name its type.
#[derive(Deserialize)]
struct Probe {
    v: Option<serde_json::Value>,
    #[serde(rename = "type")]
    ty: Option<serde_json::Value>,
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, DecodeError> {
    let probe: Probe = serde_json::from_str(text).map_err(|e| DecodeError {
        code: ErrorCode::BadMessage,
        message: format!("not a JSON object: {e}"),
        message_type: None,
    })?;
    let message_type = probe
        .ty
        .as_ref()
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    if probe.v.as_ref().and_then(|v| v.as_u64()) != Some(u64::from(PROTOCOL_VERSION)) {
        return Err(DecodeError {
            code: ErrorCode::VersionMismatch,
            message: format!("this server speaks protocol version {PROTOCOL_VERSION}"),
            message_type,
        });
    }
    serde_json::from_str(text).map_err(|e| DecodeError {
        code: ErrorCode::BadMessage,
        message: e.to_string(),
        message_type,
    })
}

/// Decodes a message from a participant, checking its version.
///
/// A `join` whose `room` is a string that breaks the naming rules is
/// `bad_room_name` (spec §5), not `bad_message`.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    decode(text).map_err(|mut err| {
        if err.code == ErrorCode::BadMessage
            && err.message_type.as_deref() == Some("join")
            && let Some(Err(bad)) = join_room_field(text).map(|r| RoomName::parse(&r))
        {
            err.code = ErrorCode::BadRoomName;
            err.message = bad.to_string();
        }
        err
    })
}

/// The `room` field of a `join`, if it is a string.
fn join_room_field(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct JoinProbe {
        room: Option<serde_json::Value>,
    }
    let probe: JoinProbe = serde_json::from_str(text).ok()?;
    match probe.room? {
        serde_json::Value::String(room) => Some(room),
        _ => None,
    }
}

/// Decodes a message from the server, checking its version.
pub fn decode_server(text: &str) -> Result<ServerMessage, DecodeError> {
    decode(text)
}

#[derive(Serialize)]
struct Versioned<'a, T> {
    v: u32,
    #[serde(flatten)]
    msg: &'a T,
}

/// Encodes a message with the protocol version.
pub fn encode<T: Serialize>(msg: &T) -> String {
    serde_json::to_string(&Versioned {
        v: PROTOCOL_VERSION,
        msg,
    })
    // Our message types contain only strings, integers, vectors and maps
    // with string keys: serialisation cannot fail.
    .unwrap_or_else(|e| unreachable!("signalling message failed to serialise: {e}"))
}

mod opt_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_str(&crate::b64::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.map(|t| crate::b64::decode(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leave_reasons_name_themselves_as_on_the_wire() {
        use LeaveReason::*;
        for r in [Leave, Disconnect, Timeout, IceFailed, Refused, Policy] {
            let json = serde_json::to_string(&r).expect("serialise");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        let later: LeaveReason = serde_json::from_str("\"moved_away\"").expect("parse");
        assert_eq!(later.as_str(), "unknown");
    }

    #[test]
    fn encode_adds_the_version_and_decode_checks_it() {
        let msg = ClientMessage::Commit {
            epoch: 3,
            commit: vec![1, 2, 3],
            welcome: None,
            welcome_to: vec![],
        };
        let text = encode(&msg);
        assert_eq!(text, r#"{"v":1,"type":"commit","epoch":3,"commit":"AQID"}"#);
        assert_eq!(decode_client(&text), Ok(msg));
        let err = decode_client(r#"{"v":2,"type":"leave"}"#).expect_err("v2");
        assert_eq!(err.code, ErrorCode::VersionMismatch);
        assert_eq!(err.message_type.as_deref(), Some("leave"));
        let err = decode_client(r#"{"type":"leave"}"#).expect_err("no v");
        assert_eq!(err.code, ErrorCode::VersionMismatch);
    }

    #[test]
    fn malformed_messages_are_bad_message() {
        for text in [
            "",
            "null",
            "[1,2]",
            "{",
            r#"{"v":1}"#,
            r#"{"v":1,"type":"no_such_type"}"#,
            r#"{"v":1,"type":"join"}"#,
            r#"{"v":1,"type":"join","room":5}"#,
            r#"{"v":1,"type":"commit","epoch":"3","commit":"AQID"}"#,
            r#"{"v":1,"type":"commit","epoch":-1,"commit":"AQID"}"#,
            r#"{"v":1,"type":"key_package","key_package":"***"}"#,
            r#"{"v":1,"type":7}"#,
        ] {
            let err = decode_client(text).expect_err(text);
            assert_eq!(err.code, ErrorCode::BadMessage, "{text}: {err}");
        }
    }

    #[test]
    fn a_join_with_an_invalid_room_name_is_bad_room_name() {
        for text in [
            r#"{"v":1,"type":"join","room":"Not Valid"}"#,
            r#"{"v":1,"type":"join","room":"ab"}"#,
            r#"{"v":1,"type":"join","room":"metrics"}"#,
        ] {
            let err = decode_client(text).expect_err(text);
            assert_eq!(err.code, ErrorCode::BadRoomName, "{text}: {err}");
            assert_eq!(err.message_type.as_deref(), Some("join"));
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let msg = decode_client(r#"{"v":1,"type":"leave","later":true}"#).expect("decodes");
        assert_eq!(msg, ClientMessage::Leave {});
    }
}
