//! The delivery service's rules: one room as the MLS delivery service sees
//! it, a sans-IO state machine. `sotto-server` drives it for every live
//! room; the in-memory tests of the participant core drive the very same
//! rules (they live here, in the protocol crate, so that both can use them
//! while the server still links no cryptography).
//!
//! The room knows who is in it, who is an MLS member (the creator and
//! everyone sent a Welcome) and who is waiting, and the room's current
//! epoch. It never parses MLS: KeyPackages, commits, Welcomes and
//! application messages pass through as opaque bytes (spec §4.3).
//!
//! # Drive loop
//!
//! ```text
//! loop {
//!     input  = next event for this room, one at a time (spec §2):
//!              a participant joined, sent a decoded message, departed,
//!              the media plane has a message for it, or shutdown;
//!     outputs = room.handle(input);
//!     for each output, in order:
//!         Send   -> queue the message on that participant's connection
//!         Close  -> queue a WebSocket close after its pending messages
//!         AddMember / RemoveMember / Signal -> the media plane
//!     if room.is_empty(): forget the room
//! }
//! ```
//!
//! The room reads no clock and does no I/O: timeouts, rate limits and
//! message sizes belong to the connection, and reach the room as
//! [`Input::Departed`]. That makes every rule of spec §3–§5 testable with
//! plain function calls (see `delivery/tests.rs`).
//!
//! (Over 600 lines on purpose: one state machine whose message handlers
//! share the room's private state; the tests are in `delivery/tests.rs`.)

use std::sync::Arc;

use crate::{
    ClientMessage, ErrorCode, IceServer, LeaveReason, Limits, ParticipantId, PcKind, Role, SdpKind,
    ServerMessage,
};

/// The largest KeyPackage the delivery service stores and relays, in
/// decoded bytes (spec §2). A KeyPackage of the protocol's ciphersuite is
/// well under 1 KiB; the clients refuse larger ones too (sotto-crypto's
/// `MAX_KEY_PACKAGE_BYTES`, the same number). Without this cap a knocker
/// could make the server store up to a whole message (512 KiB) per
/// waiting participant and copy it to every member, and again to every
/// new member.
pub const MAX_KEY_PACKAGE_BYTES: usize = 4096;

/// Waiting participants (joiners and knockers not yet members) a room
/// holds by default (spec §2); the server makes it configurable.
pub const DEFAULT_MAX_WAITING: usize = 8;

/// What every room of a server shares: what `joined` announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    /// The limits announced in `joined`; `max_participants` is enforced here.
    pub limits: Limits,
    /// STUN/TURN servers announced in `joined`.
    pub ice_servers: Vec<IceServer>,
}

/// Something that happens to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A connection sent `join` for this room. `participant` is the fresh
    /// random id the server gave the connection; it is not in the room yet.
    Join {
        /// The new participant.
        participant: ParticipantId,
    },
    /// A participant of this room sent a (decoded, valid) message.
    Message {
        /// The sender.
        from: ParticipantId,
        /// The message.
        message: ClientMessage,
    },
    /// A participant's connection is gone or must go: socket closed,
    /// timeout, failed peer connection, or a policy violation.
    Departed {
        /// Who.
        participant: ParticipantId,
        /// Why; announced in `left`.
        reason: LeaveReason,
    },
    /// The media plane has a message (`sdp`, `ice`, `error`) for a member.
    Media {
        /// The recipient.
        to: ParticipantId,
        /// The message.
        message: ServerMessage,
    },
    /// A member's connection fell behind and the driver dropped
    /// `join_request`s for it rather than close it (spec §2): it gets one
    /// again for every participant waiting with a KeyPackage. (Members
    /// take the same KeyPackage twice as once.)
    Resync {
        /// The member.
        member: ParticipantId,
    },
    /// The server is stopping: everyone is told and closed.
    Shutdown,
}

/// What the room asks of its driver, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `message` to `to`.
    Send {
        /// Recipient.
        to: ParticipantId,
        /// Message.
        message: ServerMessage,
    },
    /// Close `participant`'s connection after the messages queued for it.
    /// It is no longer in the room.
    Close {
        /// Whose connection.
        participant: ParticipantId,
        /// How.
        close: Close,
    },
    /// `participant` became an MLS member: it may negotiate media.
    AddMember(ParticipantId),
    /// A member left: drop its media.
    RemoveMember(ParticipantId),
    /// An `sdp` or `ice` message from a member, for the media plane.
    Signal {
        /// The member.
        from: ParticipantId,
        /// The message.
        message: ClientMessage,
    },
}

/// Why the server closes a connection, and the WebSocket close code that
/// says so (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// A departure announced with this reason.
    Departure(LeaveReason),
    /// After a fatal error code (spec §5).
    Fatal(ErrorCode),
    /// A message above the hard size cap (4x the limit, spec §2).
    TooLarge,
}

impl Close {
    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            Close::Departure(LeaveReason::Policy) => 1008,
            Close::Departure(_) => 1000,
            Close::Fatal(ErrorCode::ShuttingDown) => 1001,
            Close::Fatal(
                ErrorCode::RoomFull | ErrorCode::TooManyRooms | ErrorCode::TooManyWaiting,
            ) => 1013,
            Close::Fatal(_) => 1008,
            Close::TooLarge => 1009,
        }
    }

    /// The close frame's reason text.
    pub fn reason(self) -> &'static str {
        match self {
            Close::Departure(LeaveReason::Leave) => "leave",
            Close::Departure(LeaveReason::Refused) => "refused",
            Close::Departure(LeaveReason::Timeout) => "timeout",
            Close::Departure(LeaveReason::IceFailed) => "ice_failed",
            Close::Departure(LeaveReason::Policy) => "policy",
            Close::Departure(_) => "closed",
            Close::Fatal(code) => code.as_str(),
            Close::TooLarge => "message too large",
        }
    }
}

/// Where a participant stands in the MLS group.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Standing {
    /// Not (yet) in the group; `key_package` once it sent one.
    Waiting { key_package: Option<Vec<u8>> },
    /// In the group as far as the server knows.
    Member,
}

#[derive(Debug, Clone)]
struct Participant {
    id: ParticipantId,
    standing: Standing,
}

/// A room: its participants in order of arrival, and its epoch.
#[derive(Debug)]
pub struct Room {
    settings: Arc<RoomSettings>,
    /// In order of arrival, so the first waiting one is the longest-waiting.
    participants: Vec<Participant>,
    epoch: u64,
    /// Most waiting participants at once; a `join` beyond is `room_full`.
    max_waiting: usize,
}

impl Room {
    /// An empty room (spec §9: created on first join) that holds at most
    /// [`DEFAULT_MAX_WAITING`] waiting participants.
    pub fn new(settings: Arc<RoomSettings>) -> Room {
        Room {
            settings,
            participants: Vec::new(),
            epoch: 0,
            max_waiting: DEFAULT_MAX_WAITING,
        }
    }

    /// The same room holding at most `max_waiting` waiting participants
    /// (at least one: a room must be able to let someone in). Not part of
    /// [`RoomSettings`] because `joined` does not announce it.
    pub fn with_max_waiting(mut self, max_waiting: usize) -> Room {
        self.max_waiting = max_waiting.max(1);
        self
    }

    /// No participant is left: the room can be forgotten.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Whether `id` is in the room.
    pub fn contains(&self, id: &ParticipantId) -> bool {
        self.find(id).is_some()
    }

    /// The room's current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How many members and how many waiting participants the room has.
    pub fn counts(&self) -> (usize, usize) {
        let members = self.members().count();
        (members, self.participants.len() - members)
    }

    /// The room's members and its waiting participants, in order of arrival.
    pub fn participants(&self) -> (Vec<ParticipantId>, Vec<ParticipantId>) {
        let (members, waiting): (Vec<&Participant>, Vec<&Participant>) = self
            .participants
            .iter()
            .partition(|p| p.standing == Standing::Member);
        let ids = |v: Vec<&Participant>| v.into_iter().map(|p| p.id.clone()).collect();
        (ids(members), ids(waiting))
    }

    /// Processes one input and returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Join { participant } => self.join(participant, &mut out),
            Input::Message { from, message } => {
                if self.contains(&from) {
                    self.message(from, message, &mut out);
                }
                // Otherwise it was sent before the sender's departure was
                // processed: it is no longer in the room, nothing to do.
            }
            Input::Departed {
                participant,
                reason,
            } => self.depart(&participant, reason, &mut out),
            Input::Media { to, message } => {
                if self.is_member(&to) {
                    out.push(Output::Send { to, message });
                }
            }
            Input::Resync { member } => {
                if self.is_member(&member) {
                    self.replay_join_requests(&member, &mut out);
                }
            }
            Input::Shutdown => self.shutdown(&mut out),
        }
        out
    }

    /// Whether `id` is in the room and an MLS member (not waiting).
    pub fn is_member(&self, id: &ParticipantId) -> bool {
        self.find(id)
            .is_some_and(|p| p.standing == Standing::Member)
    }

    fn join(&mut self, id: ParticipantId, out: &mut Vec<Output>) {
        if self.contains(&id) {
            // Ids are 96 random bits chosen by the server; a repeat is a bug
            // in the driver, not something a peer can cause.
            return;
        }
        if self.participants.len() >= self.settings.limits.max_participants {
            let max = self.settings.limits.max_participants;
            out.push(error(
                &id,
                ErrorCode::RoomFull,
                format!("the room has its maximum of {max} participants"),
                Some("join"),
            ));
            out.push(Output::Close {
                participant: id,
                close: Close::Fatal(ErrorCode::RoomFull),
            });
            return;
        }
        let creator = self.members().next().is_none();
        let (_, waiting) = self.counts();
        if !creator && waiting >= self.max_waiting {
            // Each waiting participant costs every member a join_request
            // (and a knock prompt): a bound that does not grow with the
            // room's size limit (spec §2). Not the end: the joiner comes
            // back after a backoff, when members have let others in.
            let max = self.max_waiting;
            out.push(error(
                &id,
                ErrorCode::TooManyWaiting,
                format!("the room has its maximum of {max} participants waiting to be let in"),
                Some("join"),
            ));
            out.push(Output::Close {
                participant: id,
                close: Close::Fatal(ErrorCode::TooManyWaiting),
            });
            return;
        }
        let (role, standing) = if creator {
            // The room restarts its group: a room with no member has no
            // waiting participant either (become_creator sees to that).
            self.epoch = 0;
            (Role::Creator, Standing::Member)
        } else {
            (Role::Joiner, Standing::Waiting { key_package: None })
        };
        self.participants.push(Participant {
            id: id.clone(),
            standing,
        });
        out.push(Output::Send {
            to: id.clone(),
            message: ServerMessage::Joined {
                participant: id.clone(),
                role,
                ice_servers: self.settings.ice_servers.clone(),
                limits: self.settings.limits,
            },
        });
        if creator {
            out.push(Output::AddMember(id));
        }
    }

    fn message(&mut self, from: ParticipantId, message: ClientMessage, out: &mut Vec<Output>) {
        let in_reply_to = message.message_type();
        let member = self.is_member(&from);
        match message {
            ClientMessage::Join { .. } => out.push(error(
                &from,
                ErrorCode::AlreadyJoined,
                "this connection already joined a room".into(),
                Some(in_reply_to),
            )),
            ClientMessage::KeyPackage { key_package } => {
                self.key_package(from, key_package, out);
            }
            ClientMessage::Leave {} => self.depart(&from, LeaveReason::Leave, out),
            _ if !member => out.push(error(
                &from,
                ErrorCode::NotAMember,
                format!("only members of the MLS group may send {in_reply_to}"),
                Some(in_reply_to),
            )),
            ClientMessage::Commit {
                epoch,
                commit,
                welcome,
                welcome_to,
            } => self.commit(from, epoch, commit, welcome, welcome_to, out),
            ClientMessage::Application { data } => {
                for to in self.members().filter(|m| **m != from) {
                    out.push(Output::Send {
                        to: to.clone(),
                        message: ServerMessage::Application {
                            from: from.clone(),
                            data: data.clone(),
                        },
                    });
                }
            }
            ClientMessage::RefuseKnock { participant } => {
                self.refuse_knock(&from, participant, out);
            }
            ClientMessage::Sdp { pc, kind, .. }
                if matches!(
                    (pc, kind),
                    (PcKind::Sub, SdpKind::Offer) | (PcKind::Pub, SdpKind::Answer)
                ) =>
            {
                // The participant offers on `pub` and the server on `sub`
                // (spec §6): anything else is never the participant's turn.
                out.push(error(
                    &from,
                    ErrorCode::OutOfOrder,
                    "participants offer on pub and answer on sub".into(),
                    Some(in_reply_to),
                ));
            }
            message @ (ClientMessage::Sdp { .. }
            | ClientMessage::Ice { .. }
            | ClientMessage::MediaRestart {}) => {
                out.push(Output::Signal { from, message });
            } // No catch-all: this match is in the crate that defines
              // `ClientMessage`, so a message type added to the protocol does
              // not compile until its rule is written here.
        }
    }

    fn key_package(&mut self, from: ParticipantId, key_package: Vec<u8>, out: &mut Vec<Output>) {
        if key_package.len() > MAX_KEY_PACKAGE_BYTES {
            // Refused before it is stored or relayed; the sender may still
            // send a proper one (its slot stays empty).
            out.push(error(
                &from,
                ErrorCode::MessageTooLarge,
                format!(
                    "a key package of {} bytes is over the limit of {MAX_KEY_PACKAGE_BYTES}",
                    key_package.len()
                ),
                Some("key_package"),
            ));
            return;
        }
        let Some(p) = self.participants.iter_mut().find(|p| p.id == from) else {
            return;
        };
        match &mut p.standing {
            Standing::Waiting { key_package: slot } if slot.is_none() => {
                *slot = Some(key_package.clone());
            }
            Standing::Waiting { .. } => {
                out.push(error(
                    &from,
                    ErrorCode::OutOfOrder,
                    "a key package was already sent".into(),
                    Some("key_package"),
                ));
                return;
            }
            Standing::Member => {
                out.push(error(
                    &from,
                    ErrorCode::OutOfOrder,
                    "members do not send key packages".into(),
                    Some("key_package"),
                ));
                return;
            }
        }
        for to in self.members() {
            out.push(Output::Send {
                to: to.clone(),
                message: ServerMessage::JoinRequest {
                    participant: from.clone(),
                    key_package: key_package.clone(),
                },
            });
        }
    }

    /// Spec §3 `commit` and §4.3: the first commit for the current epoch
    /// wins; the server compares one number and never parses MLS.
    fn commit(
        &mut self,
        from: ParticipantId,
        epoch: u64,
        commit: Vec<u8>,
        welcome: Option<Vec<u8>>,
        welcome_to: Vec<ParticipantId>,
        out: &mut Vec<Output>,
    ) {
        if welcome.is_none() && !welcome_to.is_empty() {
            out.push(error(
                &from,
                ErrorCode::BadMessage,
                "welcome_to without welcome".into(),
                Some("commit"),
            ));
            return;
        }
        if epoch != self.epoch {
            out.push(Output::Send {
                to: from,
                message: ServerMessage::Error {
                    code: ErrorCode::StaleEpoch,
                    message: format!(
                        "epoch {epoch} is not current; the room is at epoch {}",
                        self.epoch
                    ),
                    in_reply_to: Some("commit".into()),
                    current_epoch: Some(self.epoch),
                },
            });
            return;
        }
        self.epoch += 1;
        out.push(Output::Send {
            to: from.clone(),
            message: ServerMessage::CommitAccepted { epoch },
        });
        for to in self.members().filter(|m| **m != from) {
            out.push(Output::Send {
                to: to.clone(),
                message: ServerMessage::Commit {
                    from: from.clone(),
                    epoch,
                    commit: commit.clone(),
                },
            });
        }
        let Some(welcome) = welcome else { return };
        let mut welcomed: Vec<ParticipantId> = Vec::new();
        for id in welcome_to {
            // Ids that are not waiting here (gone meanwhile, already
            // members, repeated, or never here) are skipped (spec §3).
            let Some(p) = self.participants.iter_mut().find(|p| p.id == id) else {
                continue;
            };
            if p.standing == Standing::Member {
                continue;
            }
            p.standing = Standing::Member;
            welcomed.push(id);
        }
        for id in welcomed {
            out.push(Output::Send {
                to: id.clone(),
                message: ServerMessage::Welcome {
                    from: from.clone(),
                    epoch: self.epoch,
                    welcome: welcome.clone(),
                },
            });
            self.replay_join_requests(&id, out);
            out.push(Output::AddMember(id));
        }
    }

    /// Spec §3 `join_request`: a new member hears of everyone still waiting
    /// with a KeyPackage, right after its Welcome (or `become_creator`).
    fn replay_join_requests(&self, to: &ParticipantId, out: &mut Vec<Output>) {
        for p in &self.participants {
            if let Standing::Waiting {
                key_package: Some(kp),
            } = &p.standing
            {
                out.push(Output::Send {
                    to: to.clone(),
                    message: ServerMessage::JoinRequest {
                        participant: p.id.clone(),
                        key_package: kp.clone(),
                    },
                });
            }
        }
    }

    fn refuse_knock(
        &mut self,
        from: &ParticipantId,
        knocker: ParticipantId,
        out: &mut Vec<Output>,
    ) {
        let waiting = self
            .find(&knocker)
            .is_some_and(|p| p.standing != Standing::Member);
        if !waiting {
            out.push(error(
                from,
                ErrorCode::UnknownParticipant,
                "no such participant is waiting in this room".into(),
                Some("refuse_knock"),
            ));
            return;
        }
        out.push(Output::Send {
            to: knocker.clone(),
            message: ServerMessage::Refused {},
        });
        self.depart(&knocker, LeaveReason::Refused, out);
    }

    /// Spec §4.4: announce, close, and hand the group on if no member is left.
    fn depart(&mut self, id: &ParticipantId, reason: LeaveReason, out: &mut Vec<Output>) {
        let Some(index) = self.participants.iter().position(|p| p.id == *id) else {
            return;
        };
        let gone = self.participants.remove(index);
        if reason != LeaveReason::Disconnect {
            out.push(Output::Close {
                participant: gone.id.clone(),
                close: Close::Departure(reason),
            });
        }
        if gone.standing == Standing::Member {
            out.push(Output::RemoveMember(gone.id.clone()));
        }
        // Everyone remaining hears of it: members remove the leaf or drop
        // the knock; a waiting participant that is about to be welcomed into
        // a group that still holds the departed leaf learns to remove it.
        for p in &self.participants {
            out.push(Output::Send {
                to: p.id.clone(),
                message: ServerMessage::Left {
                    participant: gone.id.clone(),
                    reason,
                },
            });
        }
        if self.members().next().is_none() {
            self.hand_over(out);
        }
    }

    /// Spec §3 `become_creator`: the longest-waiting participant starts a
    /// new group at epoch 0.
    fn hand_over(&mut self, out: &mut Vec<Output>) {
        let Some(first) = self.participants.first_mut() else {
            return;
        };
        first.standing = Standing::Member;
        let creator = first.id.clone();
        self.epoch = 0;
        out.push(Output::Send {
            to: creator.clone(),
            message: ServerMessage::BecomeCreator {},
        });
        self.replay_join_requests(&creator, out);
        out.push(Output::AddMember(creator));
    }

    fn shutdown(&mut self, out: &mut Vec<Output>) {
        for p in std::mem::take(&mut self.participants) {
            out.push(error(
                &p.id,
                ErrorCode::ShuttingDown,
                "the server is shutting down".into(),
                None,
            ));
            out.push(Output::Close {
                participant: p.id.clone(),
                close: Close::Fatal(ErrorCode::ShuttingDown),
            });
            if p.standing == Standing::Member {
                out.push(Output::RemoveMember(p.id));
            }
        }
    }

    fn find(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == *id)
    }

    fn members(&self) -> impl Iterator<Item = &ParticipantId> {
        self.participants
            .iter()
            .filter(|p| p.standing == Standing::Member)
            .map(|p| &p.id)
    }
}

/// An `error` for `to` (without `current_epoch`, which only `stale_epoch`
/// carries).
fn error(
    to: &ParticipantId,
    code: ErrorCode,
    message: String,
    in_reply_to: Option<&str>,
) -> Output {
    Output::Send {
        to: to.clone(),
        message: ServerMessage::Error {
            code,
            message,
            in_reply_to: in_reply_to.map(str::to_owned),
            current_epoch: None,
        },
    }
}

#[cfg(test)]
mod tests;
