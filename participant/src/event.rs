//! What the core hands its driver: one ordered queue of [`Output`]s.

use std::time::Duration;

use sotto_crypto::ParticipantId;
use sotto_crypto::keys::EpochKeys;
use sotto_crypto::session::Admission;
use sotto_crypto::verify::{Fingerprint, RoomCode};
use sotto_proto::{ClientMessage, ErrorCode, IceServer, LeaveReason, ServerMessage};

/// Something for the driver to do, in order. The order matters: a new
/// epoch's keys ([`KeyUpdate::Epoch`]) come before the acknowledgement
/// that tells the other members we hold them ([`Output::Send`]), so the
/// driver must carry outputs out one after the other.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Open a new signalling WebSocket to the server; then call
    /// [`handle_connected`](crate::Participant::handle_connected), or
    /// [`handle_disconnected`](crate::Participant::handle_disconnected) if
    /// it cannot be opened.
    Connect,
    /// Send this message on the open socket.
    Send(ClientMessage),
    /// Close the socket once what was sent before has gone out, and forget
    /// it: report nothing more about it.
    Close,
    /// For the frame transform's key ring.
    Keys(KeyUpdate),
    /// For the peer connections.
    Media(MediaCommand),
    /// For the person (or the program) using the participant.
    Event(Event),
}

/// What the media key ring must learn (`sotto_crypto::keys::KeyRing`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyUpdate {
    /// A new epoch's keys: `KeyRing::add_epoch`.
    Epoch(EpochKeys),
    /// A member holds an epoch's key: `KeyRing::acknowledge`.
    Ack {
        /// The epoch.
        epoch: u64,
        /// The member's leaf in it.
        leaf: u32,
    },
    /// The server reports this member gone: `KeyRing::departed`.
    Departed(ParticipantId),
    /// A new group begins (a rejoin, or `become_creator`): start a new,
    /// empty key ring. Epoch numbers start again at 0 (mls-profile §7).
    Reset,
}

/// What the peer connections must do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaCommand {
    /// We are a member: open the peer connections and publish (spec §4.6).
    Start {
        /// STUN/TURN servers from `joined`.
        ice_servers: Vec<IceServer>,
    },
    /// A media message from the server (`sdp`, `ice`) for the peer
    /// connections.
    Signal(ServerMessage),
    /// The membership they served is over: close them.
    Stop,
}

/// Something that happened, for the interface.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The server gave us an id for this connection.
    Connected {
        /// Our id until the connection ends.
        participant: ParticipantId,
        /// Whether we found the group (the room had no member).
        creator: bool,
    },
    /// We came by the room's name alone and nobody was there: we opened
    /// the room with a room secret we just made. The full link is the
    /// room's URL with `#` and this fragment: whoever gets it enters at
    /// once; whoever comes by the name knocks. The interface shows it (the
    /// browser puts it in the address bar); it never goes to the server.
    Opened {
        /// The new secret, as the link's fragment (22 characters of
        /// base64url).
        fragment: String,
    },
    /// Waiting to be let in: with the link, for a member to commit us;
    /// without it, for a member to accept our knock.
    Waiting {
        /// Whether we knock (no link secret).
        knocking: bool,
    },
    /// We are a member.
    Joined {
        /// Our participant id.
        participant: ParticipantId,
        /// The epoch.
        epoch: u64,
        /// Its room code.
        room_code: RoomCode,
    },
    /// The group moved to a new epoch: the room code changed.
    EpochChanged {
        /// The epoch.
        epoch: u64,
        /// Its room code.
        room_code: RoomCode,
    },
    /// Someone is in the group (at our join: every other member). The
    /// people list is made of these and [`Event::MemberRemoved`]: the MLS
    /// roster, never the server's word.
    MemberAdded {
        /// Who.
        participant: ParticipantId,
        /// Its leaf.
        leaf: u32,
        /// Its identity's fingerprint.
        fingerprint: Fingerprint,
        /// How it came in (with the link, or let in after a knock).
        admission: Admission,
        /// Who committed the Add (`None` for members already there when we
        /// joined).
        added_by: Option<ParticipantId>,
    },
    /// A commit removed someone from the group.
    MemberRemoved {
        /// Who.
        participant: ParticipantId,
        /// Who committed the removal.
        removed_by: Option<ParticipantId>,
    },
    /// The server says a participant (member or waiting) is gone. A member
    /// stays in the group, shown as leaving, until a commit removes it.
    Departed {
        /// Who.
        participant: ParticipantId,
        /// Why, as the server says.
        reason: LeaveReason,
        /// Whether it is a member of our group (else a waiting one).
        member: bool,
    },
    /// A member the server reported gone is still in the group after the
    /// grace the commit policy needs: the commit that removes it did not
    /// come. A server may be hiding someone; the people list says so.
    RemovalOverdue {
        /// Who.
        participant: ParticipantId,
    },
    /// Someone without the link asks to come in.
    Knock {
        /// Who.
        participant: ParticipantId,
        /// Its fingerprint: compare it out of band, then accept with it.
        fingerprint: Fingerprint,
    },
    /// A knock was settled (by anyone), or the knocker left.
    KnockClosed {
        /// Who.
        participant: ParticipantId,
    },
    /// The server relayed two different KeyPackages for one participant id
    /// whose join or knock was pending: a server trying to swap the key a
    /// member approves. Both were dropped. Say so loudly.
    KeyPackageConflict {
        /// The id they claimed.
        participant: ParticipantId,
    },
    /// A chat line.
    Chat {
        /// Sender.
        from: ParticipantId,
        /// Text.
        text: String,
    },
    /// A member's display name.
    Name {
        /// Whose.
        from: ParticipantId,
        /// The name.
        name: String,
    },
    /// A member's word on its own state (muted, camera off, hand raised,
    /// recording): replaces its last one.
    Status {
        /// Whose.
        from: ParticipantId,
        /// What it says.
        status: sotto_crypto::app::Status,
    },
    /// A member's passing reaction.
    Reaction {
        /// Whose.
        from: ParticipantId,
        /// One of `sotto_crypto::app::REACTIONS`.
        emoji: String,
    },
    /// This connection is over; we join again, as a new participant, after
    /// `after` (spec §4.5).
    Rejoining {
        /// Delay before the attempt.
        after: Duration,
        /// Why.
        reason: String,
    },
    /// The server could not reach us with media (or we it): our peer
    /// connections failed and the server dropped them (`media_failed`,
    /// spec §4.6). They are opened again at once (a `Media::Stop`, then a
    /// `Media::Start`); we stay in the room and the group. The interface
    /// says the media server cannot be reached until the new connections
    /// connect; keys are not what is missing.
    MediaFailed {
        /// How many times in this membership (the first is 1).
        attempt: u32,
    },
    /// Something was refused but the call goes on.
    Warning {
        /// What.
        message: String,
    },
    /// The participation is over.
    Ended(EndReason),
}

/// How a participation ended. Nothing happens after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndReason {
    /// We left.
    #[error("left the room")]
    Left,
    /// The server could not be reached (before we were ever in the room,
    /// when the configuration says to give up then).
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The connection was lost and reconnecting is off.
    #[error("connection lost: {0}")]
    Lost(String),
    /// A member refused our knock.
    #[error("a member refused our knock")]
    Refused,
    /// A commit removed us from the group.
    #[error("removed from the group")]
    Removed,
    /// The Welcome led to a group not bound to this room (made by someone
    /// without the link: the server?).
    #[error("refused a group that is not bound to this room")]
    GhostRoom,
    /// The server refused us for good (`room_full`, `too_many_rooms`,
    /// `version_mismatch`, `bad_room_name`).
    #[error("the server refused: {}: {message}", code.as_str())]
    Server {
        /// Its error code.
        code: ErrorCode,
        /// Its message (English, for logs).
        message: String,
    },
}
