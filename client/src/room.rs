//! A participant in one room: the whole client behind one handle.
//!
//! [`Room::join`] spawns a task that drives everything: the signalling
//! WebSocket, the MLS [`Session`](sotto_crypto::session::Session) and its
//! media [`KeyRing`](sotto_crypto::keys::KeyRing), and the two peer
//! connections. What happens comes out as [`Event`]s; what the user wants
//! goes in through the handle's methods. When the connection to the server
//! is lost the task joins again as a new participant (spec §4.5), with the
//! same identity and so the same fingerprint.
//!
//! ```text
//!  Room::join ──> [connecting] ──joined──> [waiting] ──welcome──> [member: media flows]
//!                      ^                      |  refused                |
//!                      |                      v                        | socket lost
//!                      `──── backoff 0.5 s … 10 s, jitter <─────────────'
//! ```

mod call;
mod connection;
mod driver;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::{EpochKeys, KeyRingConfig};
use sotto_crypto::session::{Admission, SessionConfig};
use sotto_crypto::verify::{Fingerprint, RoomCode};
use sotto_proto::{ErrorCode, LeaveReason, ParticipantId, PcKind, RoomLink, TrackSource};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::keys::FrameError;
use crate::media::source::FrameSource;
pub use crate::publish::SentFrame;
pub use crate::subscribe::WireFrame;

/// What to do when someone without the link knocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnockPolicy {
    /// Report it ([`Event::Knock`]) and wait for [`Room::accept_knock`] or
    /// [`Room::refuse_knock`].
    Ask,
    /// Let every knocker in.
    Accept,
    /// Refuse every knocker.
    Refuse,
}

/// How to join.
#[derive(Debug)]
pub struct JoinOptions {
    /// The room's link; without its `#SECRET` we knock.
    pub link: RoomLink,
    /// Our long-term (or throwaway) identity.
    pub identity: Identity,
    /// Display name, sent to the other members inside MLS only.
    pub name: Option<String>,
    /// Video to send (VP8), if any.
    pub video: Option<FrameSource>,
    /// Audio to send (Opus), if any.
    pub audio: Option<FrameSource>,
    /// Record what we receive here (IVF/Ogg per participant and source).
    pub record_dir: Option<PathBuf>,
    /// What to do with knocks.
    pub knocks: KnockPolicy,
    /// Join again as a new participant when the connection is lost.
    pub reconnect: bool,
    /// Local addresses for media; `None` picks the one that routes to
    /// the server.
    pub bind: Option<Vec<IpAddr>>,
    /// MLS timing.
    pub session: SessionConfig,
    /// Media key timing.
    pub key_ring: KeyRingConfig,
    /// Where to copy every received frame before it is opened.
    pub wire_tap: Option<mpsc::UnboundedSender<WireFrame>>,
    /// Where to copy every frame we send, before it is protected.
    pub sent_tap: Option<mpsc::UnboundedSender<SentFrame>>,
}

impl JoinOptions {
    /// Options with defaults: send nothing, record nothing, ask about
    /// knocks, reconnect.
    pub fn new(link: RoomLink, identity: Identity) -> Self {
        JoinOptions {
            link,
            identity,
            name: None,
            video: None,
            audio: None,
            record_dir: None,
            knocks: KnockPolicy::Ask,
            reconnect: true,
            bind: None,
            session: SessionConfig::default(),
            key_ring: KeyRingConfig::default(),
            wire_tap: None,
            sent_tap: None,
        }
    }
}

/// Why a link cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The fragment is not a room secret (22 characters of base64url).
    #[error("the link's #secret is malformed")]
    BadSecret,
}

/// Something that happened in the room.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Connected to the server, which gave us this participant id.
    Connected {
        /// Our id for this connection.
        participant: ParticipantId,
        /// Whether we create the group or wait to be let in.
        creator: bool,
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
        /// Its room code: the same for every member of this epoch.
        room_code: RoomCode,
    },
    /// The group moved to a new epoch.
    EpochChanged {
        /// The epoch.
        epoch: u64,
        /// Its room code.
        room_code: RoomCode,
    },
    /// A member is in the group (at our join: every other member).
    MemberJoined {
        /// Who.
        participant: ParticipantId,
        /// Its identity's fingerprint.
        fingerprint: Fingerprint,
        /// How it came in.
        admission: Admission,
    },
    /// A member was removed from the group.
    MemberRemoved {
        /// Who.
        participant: ParticipantId,
    },
    /// The server says a participant left (member or waiting).
    Departed {
        /// Who.
        participant: ParticipantId,
        /// Why.
        reason: LeaveReason,
    },
    /// Someone without the link asks to come in.
    Knock {
        /// Who.
        participant: ParticipantId,
        /// Its fingerprint, to compare out of band before accepting.
        fingerprint: Fingerprint,
    },
    /// A knock was settled (by anyone) or the knocker left.
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
    /// A member's display name.
    Name {
        /// Whose.
        from: ParticipantId,
        /// The name.
        name: String,
    },
    /// The first frame of a member's track opened.
    MediaStarted {
        /// Whose.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
    },
    /// Frames of a member's track do not open (at most one a second per
    /// track).
    DecryptFailures {
        /// Whose.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
        /// Failures on this track so far.
        total: u64,
        /// The last failure.
        error: FrameError,
    },
    /// Frames of a member's track open again after some did not.
    DecryptRecovered {
        /// Whose.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
        /// From the first frame that failed to the first that opened.
        after: Duration,
        /// From the first frame that failed to the last: how long frames
        /// arrived and could not be opened (`after` also counts any time
        /// no frame arrived at all).
        failing_for: Duration,
        /// Frames that failed in between.
        failures: u64,
    },
    /// A received track ended.
    TrackEnded {
        /// Whose.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
        /// Frames opened.
        frames: u64,
        /// Its recording, if there is one.
        recording: Option<PathBuf>,
    },
    /// A peer connection changed state (`connected`, `failed`, ...).
    PeerState {
        /// Which.
        pc: PcKind,
        /// Its new state.
        state: String,
    },
    /// The connection was lost; we join again after `after`.
    Reconnecting {
        /// Delay before the attempt.
        after: Duration,
        /// What broke.
        reason: String,
    },
    /// Something was refused but the call goes on.
    Warning {
        /// What.
        message: String,
    },
}

/// How a participation ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ended {
    /// We left.
    #[error("left the room")]
    Left,
    /// The server could not be reached (first connection).
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
    /// We would have to create the group, and we have no link secret.
    #[error("the room is empty and we have no link secret to create it")]
    NeedsSecret,
    /// The server refused us for good.
    #[error("the server refused: {code:?}: {message}")]
    Server {
        /// Its error code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
}

enum Command {
    Chat(String),
    SetName(String),
    AcceptKnock(ParticipantId),
    RefuseKnock(ParticipantId),
    HeldKeys(oneshot::Sender<Vec<EpochKeys>>),
    Leave,
}

/// A handle on a participation. Dropping it leaves the task running until
/// the room ends; call [`Room::leave`] to leave.
#[derive(Debug)]
pub struct Room {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<Ended>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Chat(_) => "Chat",
            Command::SetName(_) => "SetName",
            Command::AcceptKnock(_) => "AcceptKnock",
            Command::RefuseKnock(_) => "RefuseKnock",
            Command::HeldKeys(_) => "HeldKeys",
            Command::Leave => "Leave",
        })
    }
}

impl Room {
    /// Starts joining the room of `options.link`. Must be called within a
    /// tokio runtime.
    pub fn join(options: JoinOptions) -> Result<(Room, mpsc::UnboundedReceiver<Event>), JoinError> {
        let secret = match &options.link.secret {
            Some(fragment) => {
                Some(RoomSecret::from_fragment(fragment).map_err(|_| JoinError::BadSecret)?)
            }
            None => None,
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let driver = driver::Driver::new(options, secret, events_tx, commands_rx);
        let task = tokio::spawn(driver.run());
        Ok((
            Room {
                commands: commands_tx,
                task,
            },
            events_rx,
        ))
    }

    /// Sends a chat line (once we are a member).
    pub fn chat(&self, text: impl Into<String>) {
        let _ = self.commands.send(Command::Chat(text.into()));
    }

    /// Sets our display name.
    pub fn set_name(&self, name: impl Into<String>) {
        let _ = self.commands.send(Command::SetName(name.into()));
    }

    /// Lets a knocker in.
    pub fn accept_knock(&self, participant: ParticipantId) {
        let _ = self.commands.send(Command::AcceptKnock(participant));
    }

    /// Refuses a knocker.
    pub fn refuse_knock(&self, participant: ParticipantId) {
        let _ = self.commands.send(Command::RefuseKnock(participant));
    }

    /// The media keys we hold now (every epoch still in our key ring).
    /// What a member takes with it when it leaves.
    pub async fn held_keys(&self) -> Vec<EpochKeys> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::HeldKeys(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Whether the participation is over.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Leaves the room and waits for the end.
    pub async fn leave(self) -> Ended {
        let _ = self.commands.send(Command::Leave);
        self.finished().await
    }

    /// Waits for the participation to end by itself.
    pub async fn finished(self) -> Ended {
        self.task
            .await
            .unwrap_or_else(|e| Ended::Lost(format!("client task failed: {e}")))
    }

    /// Stops at once, without telling anyone: as if the process died.
    pub fn abort(self) {
        self.task.abort();
    }
}
