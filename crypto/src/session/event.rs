//! What a session hands back: messages to send, events for the UI, errors.

use sotto_proto::ClientMessage;

use crate::ParticipantId;
use crate::app::AppError;
use crate::keys::EpochKeys;
use crate::verify::{Fingerprint, RoomCode};

/// A message for the server (`spec/protocol.md` §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// `key_package`: this joiner's KeyPackage (an MLSMessage).
    KeyPackage(Vec<u8>),
    /// `commit`: a commit made in `epoch`, with the Welcome for the
    /// participants it adds.
    Commit(CommitOut),
    /// `application`: an MLS application message (PrivateMessage).
    Application(Vec<u8>),
    /// `refuse_knock`: the user refused this knocker.
    RefuseKnock(ParticipantId),
}

impl Output {
    /// The signalling message that carries it (spec/protocol.md §3): the
    /// one place where a session's outputs become wire messages.
    pub fn into_message(self) -> ClientMessage {
        match self {
            Output::KeyPackage(key_package) => ClientMessage::KeyPackage { key_package },
            Output::Commit(c) => ClientMessage::Commit {
                epoch: c.epoch,
                commit: c.commit,
                welcome: c.welcome,
                welcome_to: c.welcome_to,
            },
            Output::Application(data) => ClientMessage::Application { data },
            Output::RefuseKnock(participant) => ClientMessage::RefuseKnock { participant },
        }
    }
}

/// A commit to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOut {
    /// The epoch the commit was made in (the one it ends).
    pub epoch: u64,
    /// The commit (an MLSMessage holding a PrivateMessage).
    pub commit: Vec<u8>,
    /// The Welcome (an MLSMessage), if the commit adds anyone.
    pub welcome: Option<Vec<u8>>,
    /// Who the Welcome is for.
    pub welcome_to: Vec<ParticipantId>,
}

/// How a member got into the group, as far as this session can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Its leaf carries a valid admission tag: it has the link.
    Link,
    /// Its leaf carries no valid admission tag: a member let it in after a
    /// knock. UIs show such members.
    Knock,
    /// This session has no SECRET and cannot check tags.
    Unverifiable,
}

impl Admission {
    /// Its name for interfaces and JSON: `link`, `knock`, `unverifiable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Admission::Link => "link",
            Admission::Knock => "knock",
            Admission::Unverifiable => "unverifiable",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// A commit removed this participant.
    Removed,
    /// The Welcome led into a group that does not carry this room's
    /// binding: somebody without SECRET (the server) made it.
    GhostRoom,
}

/// Something the UI (or the key ring) should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// This participant is now a member (it created the group or processed
    /// a Welcome).
    Joined {
        /// The epoch joined.
        epoch: u64,
        /// Its room code.
        room_code: RoomCode,
        /// Our leaf.
        own_leaf: u32,
    },
    /// The group moved to a new epoch.
    EpochChanged {
        /// The new epoch.
        epoch: u64,
        /// Its room code.
        room_code: RoomCode,
    },
    /// Media keys of a new epoch, for [`KeyRing::add_epoch`](crate::keys::KeyRing::add_epoch).
    EpochKeys(EpochKeys),
    /// Someone is in the group: at join time, every other member; later,
    /// every member a commit adds.
    MemberAdded {
        /// Who.
        participant: ParticipantId,
        /// Its leaf.
        leaf: u32,
        /// Its identity's fingerprint.
        fingerprint: Fingerprint,
        /// Whether it came in with the link.
        admission: Admission,
        /// Who committed the Add (`None` for members already there when we
        /// joined).
        added_by: Option<ParticipantId>,
    },
    /// A commit removed someone.
    MemberRemoved {
        /// Who.
        participant: ParticipantId,
        /// The leaf it had.
        leaf: u32,
        /// Who committed the removal.
        removed_by: Option<ParticipantId>,
    },
    /// Someone without a valid admission tag asks to come in.
    Knock {
        /// Who.
        participant: ParticipantId,
        /// Its identity's fingerprint, to compare out of band.
        fingerprint: Fingerprint,
    },
    /// The server relayed two different KeyPackages for one participant
    /// whose join or knock was pending: a server trying to swap the key a
    /// member approves. Both were dropped and the id is refused from now
    /// on. UIs say so loudly.
    KeyPackageConflict {
        /// The participant id the KeyPackages claimed.
        participant: ParticipantId,
    },
    /// A knocker left, was refused by someone, or was admitted by someone.
    KnockClosed {
        /// Who.
        participant: ParticipantId,
    },
    /// A chat line.
    Chat {
        /// Sender.
        from: ParticipantId,
        /// Text.
        text: String,
    },
    /// A display name.
    Profile {
        /// Whose.
        from: ParticipantId,
        /// The name.
        name: String,
    },
    /// A member holds the media key of `epoch`: pass it to
    /// [`KeyRing::acknowledge`](crate::keys::KeyRing::acknowledge).
    KeyAck {
        /// Sender.
        from: ParticipantId,
        /// Its leaf in `epoch`.
        leaf: u32,
        /// The acknowledged epoch.
        epoch: u64,
    },
    /// A member's word on its own state (microphone, camera, hand,
    /// recording), replacing its last one.
    Status {
        /// Whose.
        from: ParticipantId,
        /// What it says.
        status: crate::app::Status,
    },
    /// A passing reaction.
    Reaction {
        /// Whose.
        from: ParticipantId,
        /// One of [`crate::app::REACTIONS`].
        emoji: String,
    },
    /// An application message of a type this code does not know (ignored).
    UnknownApplication {
        /// Sender.
        from: ParticipantId,
        /// Its `type`.
        kind: String,
    },
    /// The session is over.
    Ended(EndReason),
}

/// Which input an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// `handle_welcome`.
    Welcome,
    /// `handle_join_request`.
    KeyPackage,
    /// `handle_commit`.
    Commit,
    /// `handle_application`.
    Application,
}

/// Why a session refused an input or a request. The session is unchanged
/// (except where noted) and can go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The call does not fit the session's state.
    #[error("{call} is not possible while {state}")]
    WrongState {
        /// The call.
        call: &'static str,
        /// The session's state.
        state: &'static str,
    },
    /// Bytes that do not parse as the MLS message expected.
    #[error("malformed {input:?}: {detail}")]
    Malformed {
        /// Which input.
        input: Input,
        /// What the parser said.
        detail: String,
    },
    /// An MLS message larger than the profile allows.
    #[error("{input:?} of {len} bytes is too large")]
    TooLarge {
        /// Which input.
        input: Input,
        /// Its length.
        len: usize,
    },
    /// A commit for an epoch other than the group's.
    #[error("commit for epoch {got}, but the group is at epoch {expected}")]
    WrongEpoch {
        /// The group's epoch.
        expected: u64,
        /// The commit's epoch.
        got: u64,
    },
    /// The MLS sender is not who the server says sent the message.
    #[error("message from {actual:?} relayed as from {claimed:?}")]
    SenderMismatch {
        /// Who the server named.
        claimed: ParticipantId,
        /// Whose leaf signed it (its credential identity, possibly invalid).
        actual: String,
    },
    /// MLS processing refused the input (bad signature, wrong epoch,
    /// replay, a Welcome for someone else...).
    #[error("MLS refused {input:?}: {detail}")]
    Rejected {
        /// Which input.
        input: Input,
        /// openmls's reason.
        detail: String,
    },
    /// A KeyPackage is unusable: bad signature, expired, wrong
    /// ciphersuite, missing sotto capabilities, or its credential is not
    /// the announced participant.
    #[error("unusable KeyPackage from {participant:?}: {reason}")]
    BadKeyPackage {
        /// The announced participant.
        participant: ParticipantId,
        /// Why.
        reason: String,
    },
    /// A commit that adds a member we cannot accept (a non-basic
    /// credential, an invalid participant id, or one already present).
    #[error("commit adds an unacceptable member: {0}")]
    BadAdd(String),
    /// The group carries no valid room binding: a ghost room. The session
    /// has ended ([`EndReason::GhostRoom`]).
    #[error("the group is not bound to this room: refused")]
    GhostRoom,
    /// Creating a group needs SECRET, which this session does not have.
    #[error("this session has no room secret")]
    NoSecret,
    /// No knock from this participant is waiting.
    #[error("no knock from {0:?}")]
    UnknownKnock(ParticipantId),
    /// The knock's KeyPackage is not the one whose fingerprint was shown:
    /// nothing was accepted.
    #[error("the knock of {participant:?} no longer has the fingerprint that was shown")]
    KnockChanged {
        /// The knocker.
        participant: ParticipantId,
    },
    /// A second, different KeyPackage for a participant whose join or
    /// knock was pending: both dropped ([`Event::KeyPackageConflict`]).
    #[error("two different KeyPackages for {0:?}: both dropped")]
    KeyPackageConflict(ParticipantId),
    /// The participant is not another member of the group.
    #[error("{0:?} is not another member of the group")]
    NotAMember(ParticipantId),
    /// An application message this session refuses to send or accept.
    #[error(transparent)]
    App(#[from] AppError),
    /// A local failure inside openmls (storage, randomness).
    #[error("internal MLS failure: {0}")]
    Internal(String),
}
