//! The live rooms of a server: the driver around [`Room`].
//!
//! Each room sits behind its own mutex, held only for one pure
//! [`Room::handle`] step and for queueing its outputs into the recipients'
//! bounded outboxes (which never wait). That processes a room's inputs one
//! at a time and keeps every participant's messages in room order
//! (spec §2), and no lock is ever held across an await.
//!
//! Lock order: the registry, then a room. Rooms are created on the first
//! join and forgotten once empty (spec §4.4).
//!
//! A recipient whose outbox overflows is closed as a slow consumer, but
//! not for what waiting participants cause: their `join_request`s and
//! `left`s are expendable ([`Outbox::send_expendable`]), so that strangers
//! knocking and leaving in a loop cannot get members closed. A dropped
//! `join_request` is sent again when the member has caught up
//! ([`Input::Resync`]); a `left` is dropped only if its recipient was
//! never told of that participant, so it loses nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use axum::extract::ws::Utf8Bytes;
use sotto_proto::{
    ClientMessage, ErrorCode, LeaveReason, ParticipantId, Role, RoomName, ServerMessage, encode,
};

use crate::log_tag::LogTag;
use crate::media::{MediaEvent, MediaPlane};
use crate::metrics::{Metrics, RoomCounts};
use crate::signal::outbox::Outbox;
use crate::turn::TurnRest;
use sotto_proto::delivery::{Close, Input, Output, Room, RoomSettings};

/// Every live room of the server.
pub struct Rooms {
    registry: Mutex<Registry>,
    settings: Arc<RoomSettings>,
    max_waiting: usize,
    max_rooms: usize,
    media: Arc<dyn MediaPlane>,
    metrics: Arc<Metrics>,
    turn: Option<Arc<TurnRest>>,
}

#[derive(Default)]
struct Registry {
    rooms: HashMap<RoomName, Arc<LiveRoom>>,
    /// Shutdown began: no room opens any more.
    closed: bool,
}

/// One room, its state machine and its participants' outboxes.
pub struct LiveRoom {
    name: RoomName,
    tag: LogTag,
    state: Mutex<RoomState>,
}

struct RoomState {
    room: Room,
    outboxes: HashMap<ParticipantId, Outbox>,
    /// For each recipient, the participants it was sent a `join_request`
    /// for: their `left` is news to it, the `left` of anyone else waiting
    /// is not.
    told: HashMap<ParticipantId, HashSet<ParticipantId>>,
    /// TURN servers whose credentials each `joined` gets minted.
    turn: Option<Arc<TurnRest>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a step leaves the room as the step left it; serving the
    // other participants is better than poisoning the whole room.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Rooms {
    /// No rooms yet. Each room will hold at most `max_waiting` waiting
    /// participants; the server at most `max_rooms` rooms.
    pub fn new(
        settings: Arc<RoomSettings>,
        max_waiting: usize,
        max_rooms: usize,
        media: Arc<dyn MediaPlane>,
        metrics: Arc<Metrics>,
    ) -> Rooms {
        Rooms {
            registry: Mutex::default(),
            settings,
            max_waiting,
            max_rooms,
            media,
            metrics,
            turn: None,
        }
    }

    /// Each `joined` also lists `turn`'s servers, with a username and
    /// credential minted for its recipient, valid for 12 hours from when
    /// it is sent. The delivery service's room knows only the fixed ICE
    /// servers: the clock read stays here, in the driver.
    pub fn with_turn(mut self, turn: Option<TurnRest>) -> Rooms {
        self.turn = turn.map(Arc::new);
        self
    }

    /// Enters `id` (a fresh connection) into `name`, creating the room if
    /// needed. The answer (`joined`, or an error and a close) goes into
    /// `outbox`. Returns the room if `id` is in it.
    pub fn join(
        &self,
        name: RoomName,
        id: &ParticipantId,
        outbox: Outbox,
    ) -> Option<Arc<LiveRoom>> {
        let refuse = |code: ErrorCode, message: &str| {
            let _ = outbox.send(&ServerMessage::Error {
                code,
                message: message.into(),
                in_reply_to: Some("join".into()),
                current_epoch: None,
            });
            outbox.close(Close::Fatal(code));
            None
        };
        let mut registry = lock(&self.registry);
        if registry.closed {
            return refuse(ErrorCode::ShuttingDown, "the server is shutting down");
        }
        let live = match registry.rooms.get(&name) {
            Some(live) => live.clone(),
            None if registry.rooms.len() >= self.max_rooms => {
                return refuse(
                    ErrorCode::TooManyRooms,
                    "this server hosts as many rooms as it allows",
                );
            }
            None => {
                let live = Arc::new(LiveRoom {
                    tag: LogTag::room(&name),
                    name: name.clone(),
                    state: Mutex::new(RoomState {
                        room: Room::new(self.settings.clone()).with_max_waiting(self.max_waiting),
                        outboxes: HashMap::new(),
                        told: HashMap::new(),
                        turn: self.turn.clone(),
                    }),
                });
                tracing::info!(room = %live.tag, "room opened");
                tracing::trace!(room = %live.tag, name = %name, "room name");
                registry.rooms.insert(name, live.clone());
                live
            }
        };
        let mut state = lock(&live.state);
        if state.room.contains(id) {
            // 96 random bits collided: refuse rather than mix two connections.
            return refuse(ErrorCode::Internal, "participant id collision; join again");
        }
        state.outboxes.insert(id.clone(), outbox);
        state.apply(
            &live,
            Input::Join {
                participant: id.clone(),
            },
            &*self.media,
        );
        let admitted = state.room.contains(id);
        if state.room.is_empty() {
            registry.rooms.remove(&live.name);
            tracing::info!(room = %live.tag, "room closed");
        }
        drop(state);
        admitted.then_some(live)
    }

    /// Processes one input of `live` and delivers what it produces.
    pub fn step(&self, live: &Arc<LiveRoom>, input: Input) {
        let empty = {
            let mut state = lock(&live.state);
            state.apply(live, input, &*self.media);
            state.room.is_empty()
        };
        if empty {
            let mut registry = lock(&self.registry);
            let state = lock(&live.state);
            // Checked again under both locks: a join may have come between.
            let current = registry
                .rooms
                .get(&live.name)
                .is_some_and(|r| Arc::ptr_eq(r, live));
            if state.room.is_empty() && current {
                registry.rooms.remove(&live.name);
                tracing::info!(room = %live.tag, "room closed");
            }
        }
    }

    /// Routes an event of the media plane to its room.
    pub fn media_event(&self, event: MediaEvent) {
        let MediaEvent::Signal {
            room,
            participant,
            message,
        } = event;
        let input = Input::Media {
            to: participant,
            message,
        };
        let live = lock(&self.registry).rooms.get(&room).cloned();
        if let Some(live) = live {
            self.step(&live, input);
        }
    }

    /// Shutdown: no new rooms; everyone in a room is told `shutting_down`
    /// and closed (spec §5).
    pub fn shutdown(&self) {
        let rooms: Vec<Arc<LiveRoom>> = {
            let mut registry = lock(&self.registry);
            registry.closed = true;
            registry.rooms.drain().map(|(_, live)| live).collect()
        };
        for live in rooms {
            lock(&live.state).apply(&live, Input::Shutdown, &*self.media);
        }
    }

    /// Gauges for `/metrics`.
    pub fn counts(&self) -> RoomCounts {
        let registry = lock(&self.registry);
        let mut counts = RoomCounts {
            rooms: registry.rooms.len(),
            ..RoomCounts::default()
        };
        for live in registry.rooms.values() {
            let (members, waiting) = lock(&live.state).room.counts();
            counts.members += members;
            counts.waiting += waiting;
        }
        counts
    }

    /// The error counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

impl LiveRoom {
    /// The room's log tag.
    pub fn tag(&self) -> LogTag {
        self.tag
    }
}

impl RoomState {
    /// Runs `input` and everything it sets off: a recipient whose outbox
    /// overflows is a slow consumer and departs with reason `policy`,
    /// which is itself an input.
    fn apply(&mut self, live: &LiveRoom, input: Input, media: &dyn MediaPlane) {
        let mut pending = vec![input];
        while let Some(input) = pending.pop() {
            if let Input::Departed {
                participant,
                reason,
            } = &input
            {
                tracing::debug!(room = %live.tag, participant = %LogTag::participant(participant), ?reason, "departure");
            }
            let gone_waiting = departing_waiting(&self.room, &input);
            let outputs = self.room.handle(input);
            // One encoding per distinct message: a fan-out shares it.
            let mut encoded: Option<(&ServerMessage, Utf8Bytes)> = None;
            for output in &outputs {
                match output {
                    Output::Send { to, message } => {
                        let Some(outbox) = self.outboxes.get(to) else {
                            continue;
                        };
                        let text = match &encoded {
                            Some((last, text)) if *last == message => text.clone(),
                            _ => {
                                let text = Utf8Bytes::from(encode(message));
                                encoded = Some((message, text.clone()));
                                text
                            }
                        };
                        log_send(live, to, message);
                        let minted;
                        let (message, text) = match (&self.turn, message) {
                            (Some(turn), ServerMessage::Joined { .. }) => {
                                minted = with_turn(message, turn, to, SystemTime::now());
                                (&minted, Utf8Bytes::from(encode(&minted)))
                            }
                            _ => (message, text),
                        };
                        match message {
                            ServerMessage::JoinRequest { participant, .. } => {
                                if outbox.send_expendable(message, text).is_ok() {
                                    self.told
                                        .entry(to.clone())
                                        .or_default()
                                        .insert(participant.clone());
                                } else {
                                    tracing::debug!(room = %live.tag, participant = %LogTag::participant(to), "join request held back from a slow member");
                                    outbox.mark_missed();
                                }
                                continue;
                            }
                            ServerMessage::Left { participant, .. }
                                if gone_waiting.as_ref() == Some(participant)
                                    && !self
                                        .told
                                        .get(to)
                                        .is_some_and(|told| told.contains(participant)) =>
                            {
                                // Of someone it never heard of: no news.
                                let _ = outbox.send_expendable(message, text);
                                continue;
                            }
                            _ => {}
                        }
                        if outbox.send_encoded(message, text).is_err() {
                            tracing::info!(room = %live.tag, participant = %LogTag::participant(to), "slow consumer closed");
                            outbox.kill();
                            self.outboxes.remove(to);
                            pending.push(Input::Departed {
                                participant: to.clone(),
                                reason: LeaveReason::Policy,
                            });
                        }
                    }
                    Output::Close { participant, close } => {
                        if let Some(outbox) = self.outboxes.remove(participant) {
                            outbox.close(*close);
                        }
                    }
                    Output::AddMember(id) => media.add_member(&live.name, id),
                    Output::RemoveMember(id) => media.remove_member(&live.name, id),
                    Output::Signal { from, message } => {
                        media.signal(&live.name, from, message.clone());
                    }
                }
            }
            let room = &self.room;
            if gone_waiting.is_some()
                || outputs.iter().any(|o| matches!(o, Output::RemoveMember(_)))
            {
                self.told.retain(|id, told| {
                    told.retain(|w| room.contains(w));
                    room.contains(id)
                });
            }
            self.outboxes.retain(|id, _| {
                let stays = room.contains(id);
                if !stays {
                    tracing::info!(room = %live.tag, participant = %LogTag::participant(id), "left");
                }
                stays
            });
        }
    }
}

/// `joined` with `turn`'s servers added, their credential minted for `to`
/// at `now` (`turn.rs`).
fn with_turn(
    joined: &ServerMessage,
    turn: &TurnRest,
    to: &ParticipantId,
    now: SystemTime,
) -> ServerMessage {
    let mut joined = joined.clone();
    if let ServerMessage::Joined { ice_servers, .. } = &mut joined {
        ice_servers.push(turn.ice_server(to.as_str(), now));
    }
    joined
}

/// The waiting participant `input` makes leave, if any (its `left` is
/// news only to those told of it).
fn departing_waiting(room: &Room, input: &Input) -> Option<ParticipantId> {
    let id = match input {
        Input::Departed { participant, .. } => participant,
        Input::Message {
            from,
            message: ClientMessage::Leave {},
        } => from,
        Input::Message {
            message: ClientMessage::RefuseKnock { participant },
            ..
        } => participant,
        _ => return None,
    };
    (room.contains(id) && !room.is_member(id)).then(|| id.clone())
}

/// What is worth a log line among the messages a room sends. Never the
/// payloads: MLS messages are opaque and SDP is for trace level only.
fn log_send(live: &LiveRoom, to: &ParticipantId, message: &ServerMessage) {
    let participant = LogTag::participant(to);
    match message {
        ServerMessage::Joined { role, .. } => {
            let role = match role {
                Role::Creator => "creator",
                Role::Joiner => "joiner",
            };
            tracing::info!(room = %live.tag, %participant, role, "joined");
        }
        ServerMessage::BecomeCreator {} => {
            tracing::info!(room = %live.tag, %participant, "became creator");
        }
        ServerMessage::CommitAccepted { epoch } => {
            tracing::debug!(room = %live.tag, %participant, epoch, "commit accepted");
        }
        ServerMessage::Welcome { epoch, .. } => {
            tracing::debug!(room = %live.tag, %participant, epoch, "welcomed");
        }
        ServerMessage::Error { code, .. } => {
            tracing::debug!(room = %live.tag, %participant, code = code.as_str(), "refused");
        }
        ServerMessage::Sdp { pc, kind, sdp, .. } => {
            tracing::trace!(room = %live.tag, %participant, ?pc, ?kind, sdp, "sdp to participant");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
