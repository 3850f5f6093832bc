//! sotto's participant core, sans-IO.
//!
//! One [`Participant`] is one person (or program) in one room, across the
//! connections it makes: it owns every rule a participant follows, once.
//! The native client drives it from tokio, the browser through wasm
//! (`sotto-web`), the in-memory tests on a virtual clock; each driver only
//! moves bytes (a WebSocket, peer connections, a key ring, a screen).
//!
//! The rules it owns (spec/protocol.md §4, mls-profile.md):
//! * opening a connection, `join`, founding the group or sending a
//!   KeyPackage (or knocking, without the link secret), `become_creator`;
//! * opening a room we came to by its name alone when nobody is there
//!   (or when everyone left while we knocked): we make a room secret,
//!   found the group with it, tell the interface the full link
//!   ([`Event::Opened`]) and hold that link from then on;
//! * feeding the MLS [`Session`](sotto_crypto::session::Session) every
//!   server message, and sending what it makes, in the order that keeps
//!   keys in the ring before the ack that announces them;
//! * verdicts: a lost commit is re-queued; a commit of ours the room
//!   applied that we cannot merge means we are out of step: join again;
//! * missed commits: a commit for a later epoch waits
//!   [`Config::catch_up_grace`] for the ones before it, then joins again;
//! * a Welcome that does not come within [`Config::welcome_timeout`]:
//!   join again;
//! * fatal server errors end the participation with a reason
//!   ([`EndReason::Server`]); `shutting_down` and a lost socket join again
//!   after a backoff (0.5 s doubling to 10 s, jitter);
//! * the people list: the MLS roster, with members the server reports gone
//!   shown as leaving until a commit removes them
//!   ([`Event::RemovalOverdue`] if it does not come);
//! * knocks, accepted by the fingerprint that was shown.
//!
//! # Drive loop
//!
//! ```text
//! participant = Participant::new(config, identity, room, secret, name, now)
//! loop {
//!     while let Some(o) = participant.poll_output() {
//!         Connect      -> open a WebSocket; then handle_connected(now)
//!                         or handle_disconnected(why, now)
//!         Send(m)      -> send m on the socket
//!         Close        -> close the socket, forget it
//!         Keys(k)      -> the frame transform's key ring
//!         Media(m)     -> the peer connections
//!         Event(e)     -> the interface
//!     }
//!     wait for: a server message -> handle_message(m, now)
//!               the socket closing -> handle_disconnected(why, now)
//!               poll_timeout()     -> handle_timeout(now)
//!               a user command     -> accept_knock / send_chat / leave / ...
//! }
//! ```
//!
//! Time is an input (`now`, milliseconds on any clock that does not go
//! backwards); the core reads no clock and opens no socket. Its only
//! random numbers are key material (the MLS session's, and a room secret
//! when it opens a room); the backoff's jitter comes from
//! [`Config::seed`].

mod config;
mod event;
mod in_room;

use std::collections::VecDeque;

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{MemberInfo, Session, SessionError};
use sotto_crypto::verify::{Fingerprint, RoomCode, SafetyNumber};
use sotto_crypto::{Instant, ParticipantId};
use sotto_proto::{ClientMessage, ErrorCode, RoomName, ServerMessage};

use config::Backoff;
pub use config::{Config, KnockPolicy};
pub use event::{EndReason, Event, KeyUpdate, MediaCommand, Output};
use in_room::{InRoom, Step};
pub use sotto_crypto::app::{REACTIONS, Status as MemberStatus};

/// Where a participant stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Opening a connection or waiting for `joined`.
    Connecting,
    /// Between connections, to join again at the given time.
    Reconnecting,
    /// Connected, waiting to be let in.
    Waiting {
        /// Whether we knock (no link secret).
        knocking: bool,
    },
    /// A member of the group.
    Member,
    /// Over.
    Ended(EndReason),
}

enum State {
    /// No connection; the next one is due at `at`.
    Idle { at: Instant },
    /// The driver is opening a connection.
    Connecting,
    /// `join` went out at `since`; `joined` has not come.
    Joining { since: Instant },
    /// In the room under one participant id.
    InRoom(Box<InRoom>),
    /// Over.
    Ended(EndReason),
}

/// How often a participant asks the server to start its media over.
pub const MEDIA_RESTART_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// One participant in one room, across its connections.
pub struct Participant {
    config: Config,
    identity: Identity,
    room: RoomName,
    secret: Option<RoomSecret>,
    name: Option<String>,
    /// What we last said of our state, said again on every connection.
    own_status: Option<sotto_crypto::app::Status>,
    /// When we last asked for our media to start over.
    media_restart_asked: Option<Instant>,
    state: State,
    backoff: Backoff,
    outputs: VecDeque<Output>,
    /// Whether we ever got `joined` (after which the server is reachable,
    /// so losing it is not "unreachable").
    ever_joined: bool,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("status", &self.status())
            .field("id", &self.id())
            .finish()
    }
}

impl Participant {
    /// A participant that will join `room` (with `secret`, the link's
    /// fragment, or without it to knock). Its first output is
    /// [`Output::Connect`].
    pub fn new(
        config: Config,
        identity: Identity,
        room: RoomName,
        secret: Option<RoomSecret>,
        name: Option<String>,
        now: Instant,
    ) -> Participant {
        let mut p = Participant {
            config,
            identity,
            room,
            secret,
            name,
            own_status: None,
            media_restart_asked: None,
            state: State::Idle { at: now },
            backoff: Backoff::new(&config),
            outputs: VecDeque::new(),
            ever_joined: false,
        };
        p.handle_timeout(now);
        p
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle { at } => Some(*at),
            State::Connecting | State::Ended(_) => None,
            State::Joining { since } => Some(*since + self.config.join_timeout),
            State::InRoom(r) => r.poll_timeout(&self.config),
        }
    }

    /// The connection the driver opened for [`Output::Connect`] is up.
    pub fn handle_connected(&mut self, now: Instant) {
        if !matches!(self.state, State::Connecting) {
            return;
        }
        self.send(ClientMessage::Join {
            room: self.room.clone(),
        });
        self.state = State::Joining { since: now };
    }

    /// The socket closed, or could not be opened. `why` is for people.
    pub fn handle_disconnected(&mut self, why: &str, now: Instant) {
        match &self.state {
            State::Connecting | State::Joining { .. } => self.unreachable(why.to_owned(), now),
            State::InRoom(_) => self.drop_connection(format!("connection lost: {why}"), false, now),
            State::Idle { .. } | State::Ended(_) => {}
        }
    }

    /// A message from the server on the current connection.
    pub fn handle_message(&mut self, msg: ServerMessage, now: Instant) {
        match &mut self.state {
            State::Joining { .. } => self.on_joining(msg, now),
            State::InRoom(room) => {
                let step = room.handle_message(&self.config, msg, now);
                self.after(step, now);
            }
            State::Idle { .. } | State::Connecting | State::Ended(_) => {}
        }
    }

    /// Our peer connections say they failed (a browser's `failed`): ask
    /// the server to start our media over now (`media_restart`, spec
    /// §4.6), rather than wait for it to notice. At most once per
    /// [`MEDIA_RESTART_EVERY`]; only a member with media asks.
    pub fn handle_media_failed(&mut self, now: Instant) {
        let State::InRoom(room) = &self.state else {
            return;
        };
        if !room.media_started()
            || self
                .media_restart_asked
                .is_some_and(|t| now < t + MEDIA_RESTART_EVERY)
        {
            return;
        }
        self.media_restart_asked = Some(now);
        self.send(ClientMessage::MediaRestart {});
    }

    /// A message from the server that did not decode (spec §2: skipped).
    pub fn handle_unreadable(&mut self, detail: &str) {
        if matches!(self.state, State::Joining { .. } | State::InRoom(_)) {
            self.event(Event::Warning {
                message: format!("unreadable server message: {detail}"),
            });
        }
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Idle { at } if *at <= now => {
                self.state = State::Connecting;
                self.outputs.push_back(Output::Connect);
            }
            State::Joining { since } if *since + self.config.join_timeout <= now => {
                self.outputs.push_back(Output::Close);
                self.unreachable("the server did not answer `join`".into(), now);
            }
            State::InRoom(room) => {
                let step = room.handle_timeout(&self.config, now);
                self.after(step, now);
            }
            _ => {}
        }
    }

    fn on_joining(&mut self, msg: ServerMessage, now: Instant) {
        match msg {
            ServerMessage::Joined {
                participant,
                role,
                ice_servers,
                ..
            } => {
                self.ever_joined = true;
                let start = InRoom::start(
                    &self.config,
                    &self.identity,
                    participant,
                    role,
                    ice_servers,
                    &self.room,
                    self.secret.as_ref(),
                    self.name.as_deref(),
                    self.own_status,
                    now,
                );
                match start {
                    Ok((room, step)) => {
                        self.state = State::InRoom(Box::new(room));
                        self.after(step, now);
                    }
                    Err(step) => self.after(step, now),
                }
            }
            // A server that stops may come back (a restart, spec §4.5).
            ServerMessage::Error {
                code: ErrorCode::ShuttingDown,
                message,
                ..
            } => {
                self.outputs.push_back(Output::Close);
                self.unreachable(message, now);
            }
            // Too many are waiting to be let in: come back once members
            // have let some in (spec §4.5), whatever the reconnect
            // setting: we have not joined yet.
            ServerMessage::Error {
                code: ErrorCode::TooManyWaiting,
                message,
                ..
            } => {
                self.outputs.push_back(Output::Close);
                self.retry_later(format!("the room is busy: {message}"), now);
            }
            ServerMessage::Error { code, message, .. } if code.is_fatal() => {
                self.outputs.push_back(Output::Close);
                self.end(EndReason::Server { code, message });
            }
            ServerMessage::Error { code, message, .. } => self.event(Event::Warning {
                message: format!("server: {}: {message}", code.as_str()),
            }),
            other => self.event(Event::Warning {
                message: format!("{} before `joined`", other.message_type()),
            }),
        }
    }

    /// Carries out what a step in the room decided.
    fn after(&mut self, step: Step, now: Instant) {
        let (outputs, next, opened) = step.into_parts();
        if opened.is_some() {
            // We opened the room: from now on we hold its link.
            self.secret = opened;
        }
        self.outputs.extend(outputs);
        match next {
            in_room::Next::Stay => {}
            in_room::Next::Member => self.backoff.reset(),
            in_room::Next::Rejoin(reason) => self.drop_connection(reason, true, now),
            in_room::Next::Lost(reason) => self.drop_connection(reason, false, now),
            in_room::Next::End(reason) => {
                self.leave_room();
                self.outputs.push_back(Output::Close);
                self.end(reason);
            }
        }
    }

    /// Ends the membership of the current connection (if any): the key
    /// ring starts again and the peer connections close.
    fn leave_room(&mut self) {
        if let State::InRoom(room) = &self.state {
            self.outputs.push_back(Output::Keys(KeyUpdate::Reset));
            if room.media_started() {
                self.outputs.push_back(Output::Media(MediaCommand::Stop));
            }
        }
    }

    /// This connection is over (out of step with the group, or the socket
    /// went): join again as a new participant after the backoff, or end if
    /// reconnecting is off. `say_leave`: tell the server first, so that the
    /// members remove us at once.
    fn drop_connection(&mut self, reason: String, say_leave: bool, now: Instant) {
        if say_leave {
            self.send(ClientMessage::Leave {});
        }
        self.leave_room();
        self.outputs.push_back(Output::Close);
        if !self.config.reconnect {
            self.end(EndReason::Lost(reason));
            return;
        }
        self.retry_later(reason, now);
    }

    /// A new connection after the backoff's next delay.
    fn retry_later(&mut self, reason: String, now: Instant) {
        let after = self.backoff.next_delay();
        self.event(Event::Rejoining { after, reason });
        self.state = State::Idle { at: now + after };
    }

    fn unreachable(&mut self, why: String, now: Instant) {
        if !self.ever_joined && self.config.give_up_if_unreachable {
            self.end(EndReason::Unreachable(why));
            return;
        }
        if !self.config.reconnect {
            self.end(EndReason::Lost(why));
            return;
        }
        self.retry_later(why, now);
    }

    fn end(&mut self, reason: EndReason) {
        self.event(Event::Ended(reason.clone()));
        self.state = State::Ended(reason);
    }

    fn send(&mut self, msg: ClientMessage) {
        self.outputs.push_back(Output::Send(msg));
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn in_room(&mut self, call: &'static str) -> Result<&mut InRoom, SessionError> {
        match &mut self.state {
            State::InRoom(r) => Ok(r),
            _ => Err(SessionError::WrongState {
                call,
                state: "not in the room",
            }),
        }
    }

    fn command(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut InRoom, &Config) -> Result<Step, SessionError>,
        now: Instant,
    ) -> Result<(), SessionError> {
        let config = self.config;
        let step = f(self.in_room(call)?, &config)?;
        self.after(step, now);
        Ok(())
    }

    /// Lets a knocker in, if its key still has the fingerprint the person
    /// saw (`shown`).
    pub fn accept_knock(
        &mut self,
        participant: &ParticipantId,
        shown: &Fingerprint,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.command(
            "accept_knock",
            |r, c| r.with_session(c, now, |s| s.accept_knock(participant, shown, now)),
            now,
        )
    }

    /// Refuses a knocker.
    pub fn refuse_knock(
        &mut self,
        participant: &ParticipantId,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.command(
            "refuse_knock",
            |r, c| r.with_session(c, now, |s| s.refuse_knock(participant)),
            now,
        )
    }

    /// Removes another member from the group (any member may).
    pub fn remove_member(
        &mut self,
        participant: &ParticipantId,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.command(
            "remove_member",
            |r, c| r.with_session(c, now, |s| s.remove_member(participant, now)),
            now,
        )
    }

    /// Sends a chat line to the group.
    pub fn send_chat(&mut self, text: &str, now: Instant) -> Result<(), SessionError> {
        self.command(
            "send_chat",
            |r, c| r.with_session(c, now, |s| s.send_chat(text)),
            now,
        )
    }

    /// Sets our display name (sent only inside MLS), now and for every
    /// later connection.
    pub fn set_name(&mut self, name: &str, now: Instant) -> Result<(), SessionError> {
        sotto_crypto::app::AppMessage::Profile { name: name.into() }.validate()?;
        self.name = Some(name.to_owned());
        match &mut self.state {
            State::InRoom(_) => self.command(
                "set_name",
                |r, c| r.with_session(c, now, |s| s.set_profile(name)),
                now,
            ),
            _ => Ok(()),
        }
    }

    /// Says our state (microphone, camera, hand, recording) to the group,
    /// inside MLS: now, to everyone who joins later, and on every later
    /// connection.
    pub fn set_status(
        &mut self,
        status: sotto_crypto::app::Status,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.own_status = Some(status);
        match &mut self.state {
            State::InRoom(_) => self.command(
                "set_status",
                |r, c| r.with_session(c, now, |s| s.set_status(status)),
                now,
            ),
            _ => Ok(()),
        }
    }

    /// Sends a reaction (one of `sotto_crypto::app::REACTIONS`).
    pub fn send_reaction(&mut self, emoji: &str, now: Instant) -> Result<(), SessionError> {
        self.command(
            "send_reaction",
            |r, c| r.with_session(c, now, |s| s.send_reaction(emoji)),
            now,
        )
    }

    /// Leaves the room: the server is told, the participation ends.
    pub fn leave(&mut self) {
        if matches!(self.state, State::Ended(_)) {
            return;
        }
        if matches!(self.state, State::Joining { .. } | State::InRoom(_)) {
            self.send(ClientMessage::Leave {});
        }
        self.leave_room();
        if !matches!(self.state, State::Idle { .. }) {
            self.outputs.push_back(Output::Close);
        }
        self.end(EndReason::Left);
    }

    /// Where the participant stands.
    pub fn status(&self) -> Status {
        match &self.state {
            State::Idle { .. } if self.ever_joined => Status::Reconnecting,
            State::Idle { .. } | State::Connecting | State::Joining { .. } => Status::Connecting,
            State::InRoom(r) => r.status(),
            State::Ended(e) => Status::Ended(e.clone()),
        }
    }

    /// Our participant id on the current connection.
    pub fn id(&self) -> Option<&ParticipantId> {
        match &self.state {
            State::InRoom(r) => Some(r.id()),
            _ => None,
        }
    }

    /// The MLS session of the current connection (for inspection).
    pub fn session(&self) -> Option<&Session> {
        match &self.state {
            State::InRoom(r) => Some(r.session()),
            _ => None,
        }
    }

    /// Our identity's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint()
    }

    /// The room.
    pub fn room(&self) -> &RoomName {
        &self.room
    }

    /// Whether we hold the room's link secret.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// The current room code, if a member.
    pub fn room_code(&self) -> Option<RoomCode> {
        self.session().and_then(Session::room_code)
    }

    /// The current epoch, if a member.
    pub fn epoch(&self) -> Option<u64> {
        self.session().and_then(Session::epoch)
    }

    /// The group's members (the MLS roster), by leaf.
    pub fn members(&self) -> Vec<MemberInfo> {
        self.session().map(Session::members).unwrap_or_default()
    }

    /// Members the server reported gone that are still in the group.
    pub fn leaving(&self) -> Vec<ParticipantId> {
        match &self.state {
            State::InRoom(r) => r.leaving(),
            _ => Vec::new(),
        }
    }

    /// The safety number of us and a member or knocker of this connection.
    pub fn safety_number(&self, participant: &ParticipantId) -> Option<SafetyNumber> {
        let session = self.session()?;
        let theirs = session
            .members()
            .into_iter()
            .find(|m| &m.participant == participant)
            .map(|m| m.fingerprint)
            .or_else(|| {
                session
                    .knocks()
                    .into_iter()
                    .find(|(p, _)| p == participant)
                    .map(|(_, f)| f)
            })?;
        Some(self.fingerprint().safety_number(&theirs))
    }
}
