//! A participant in one room: the whole client behind one handle.
//!
//! [`Room::join`] spawns a task (the [driver](driver)) around the
//! participant core, `sotto_participant::Participant`, which owns every
//! rule a participant follows (join, knock, commits, missed commits,
//! rejoin, fatal errors) and is the same core the browser runs. The task
//! only moves bytes: the signalling WebSocket, the media key ring, and the
//! two peer connections. What happens comes out as [`Event`]s; what the
//! user wants goes in through the handle's methods.
//!
//! ```text
//!  Room::join ──> [connecting] ──joined──> [waiting] ──welcome──> [member: media flows]
//!                      ^                      |  refused                |
//!                      |                      v                        | socket lost,
//!                      `──── backoff 0.5 s … 10 s, jitter <─────────────' out of step
//! ```

mod call;
mod driver;

use std::net::IpAddr;
use std::path::PathBuf;

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::{EpochKeys, KeyRingConfig};
use sotto_crypto::session::SessionConfig;
use sotto_crypto::verify::Fingerprint;
use sotto_participant::Config;
use sotto_proto::{ParticipantId, PcKind, RoomLink};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::media::source::FrameSource;
pub use crate::publish::SentFrame;
pub use crate::subscribe::{MediaEvent, WireFrame};
pub use sotto_participant::{EndReason as Ended, Event as RoomEvent, KnockPolicy};

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
    /// Join again as a new participant when a connection ends.
    pub reconnect: bool,
    /// Local addresses for media; `None` picks the one that routes to
    /// the server.
    pub bind: Option<Vec<IpAddr>>,
    /// Use TURN relays only (from the server's `joined`): nothing but the
    /// TURN server sees our address, and nothing but it needs to be
    /// reachable, as behind a firewall that lets only it through.
    pub relay_only: bool,
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
            relay_only: false,
            session: SessionConfig::default(),
            key_ring: KeyRingConfig::default(),
            wire_tap: None,
            sent_tap: None,
        }
    }

    /// The participant core's configuration for these options.
    fn core_config(&self, seed: u64) -> Config {
        Config {
            session: self.session,
            knocks: self.knocks,
            reconnect: self.reconnect,
            // A command that cannot reach its server says so and exits.
            give_up_if_unreachable: true,
            seed,
            ..Config::default()
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
    /// Membership, knocks, chat, names, rejoins, the end: what the
    /// participant core reports.
    Room(RoomEvent),
    /// Received media: a track started, failed to decrypt, recovered or
    /// ended.
    Media(MediaEvent),
    /// A peer connection changed state (`connected`, `failed`, ...).
    PeerState {
        /// Which.
        pc: PcKind,
        /// Its new state.
        state: String,
    },
}

enum Command {
    Chat(String),
    SetName(String),
    AcceptKnock(ParticipantId, Fingerprint),
    RefuseKnock(ParticipantId),
    Remove(ParticipantId),
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
            Command::AcceptKnock(..) => "AcceptKnock",
            Command::RefuseKnock(_) => "RefuseKnock",
            Command::Remove(_) => "Remove",
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

    /// Lets a knocker in, if its key still has the fingerprint `shown`
    /// (the one the person compared).
    pub fn accept_knock(&self, participant: ParticipantId, shown: Fingerprint) {
        let _ = self.commands.send(Command::AcceptKnock(participant, shown));
    }

    /// Refuses a knocker.
    pub fn refuse_knock(&self, participant: ParticipantId) {
        let _ = self.commands.send(Command::RefuseKnock(participant));
    }

    /// Removes another member from the group.
    pub fn remove(&self, participant: ParticipantId) {
        let _ = self.commands.send(Command::Remove(participant));
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
