//! One connection in the room: a participant id, its MLS session, and the
//! rules that decide whether the connection can go on.

use std::collections::BTreeMap;

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{self, EndReason as SessionEnd, Session, SessionError, State};
use sotto_crypto::{Instant, ParticipantId};
use sotto_proto::{ErrorCode, IceServer, Role, RoomName, ServerMessage};

use crate::Status;
use crate::config::{Config, KnockPolicy};
use crate::event::{EndReason, Event, KeyUpdate, MediaCommand, Output};

/// What a step in the room asks of the participant after its outputs.
#[derive(Debug)]
pub(crate) enum Next {
    /// Nothing more.
    Stay,
    /// We just became a member (the backoff starts small again).
    Member,
    /// Out of step with the group: leave and join again as someone new.
    Rejoin(String),
    /// The connection is gone (the server is stopping): join again later.
    Lost(String),
    /// The participation is over.
    End(EndReason),
}

/// The outputs of one step, and what follows it.
#[derive(Debug)]
pub(crate) struct Step {
    outputs: Vec<Output>,
    next: Next,
    /// A room secret we made, opening an empty room we came to by name.
    opened: Option<RoomSecret>,
}

impl Step {
    fn new() -> Step {
        Step {
            outputs: Vec::new(),
            next: Next::Stay,
            opened: None,
        }
    }

    fn opened(&mut self, secret: RoomSecret) {
        self.event(Event::Opened {
            fragment: secret.to_fragment().to_string(),
        });
        self.opened = Some(secret);
    }

    fn then(&mut self, next: Next) {
        // The first decision to end the connection wins; "member" is only
        // news if nothing ends it.
        if matches!(self.next, Next::Stay | Next::Member) {
            self.next = next;
        }
    }

    fn event(&mut self, e: Event) {
        self.outputs.push(Output::Event(e));
    }

    fn warn(&mut self, message: String) {
        self.event(Event::Warning { message });
    }

    pub(crate) fn into_parts(self) -> (Vec<Output>, Next, Option<RoomSecret>) {
        (self.outputs, self.next, self.opened)
    }
}

/// A member saw a commit for a later epoch: the room is past `seen`, and
/// we wait until `until` for the commits we missed.
#[derive(Debug, Clone, Copy)]
struct Behind {
    seen: u64,
    until: Instant,
}

pub(crate) struct InRoom {
    id: ParticipantId,
    room: RoomName,
    session: Session,
    ice_servers: Vec<IceServer>,
    knocking: bool,
    /// Since when a joiner with the link waits for its Welcome.
    waiting_since: Option<Instant>,
    behind: Option<Behind>,
    media_started: bool,
    /// `media_failed` received in this membership.
    media_failures: u32,
    /// Members the server reported gone, still in the group, and since
    /// when; `true` once reported overdue.
    leaving: BTreeMap<ParticipantId, (Instant, bool)>,
}

impl InRoom {
    /// `joined`: founds the group or waits to be let in. On failure, the
    /// step says how the participation goes on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        config: &Config,
        identity: &Identity,
        id: ParticipantId,
        role: Role,
        ice_servers: Vec<IceServer>,
        room: &RoomName,
        secret: Option<&RoomSecret>,
        name: Option<&str>,
        status: Option<sotto_crypto::app::Status>,
        now: Instant,
    ) -> Result<(InRoom, Step), Step> {
        let mut step = Step::new();
        step.event(Event::Connected {
            participant: id.clone(),
            creator: role == Role::Creator,
        });
        let session = match (role, secret) {
            (Role::Creator, Some(secret)) => Session::create(
                config.session,
                identity,
                id.clone(),
                room.as_str(),
                secret,
                now,
            ),
            (Role::Creator, None) => {
                // We came by the name and nobody is there: we open the
                // room with a secret of our own (mls-profile.md §3), and
                // from now on hold its link.
                match RoomSecret::generate() {
                    Ok(secret) => {
                        let session = Session::create(
                            config.session,
                            identity,
                            id.clone(),
                            room.as_str(),
                            &secret,
                            now,
                        );
                        step.opened(secret);
                        session
                    }
                    Err(e) => Err(SessionError::Internal(e.to_string())),
                }
            }
            (Role::Joiner, secret) => {
                step.event(Event::Waiting {
                    knocking: secret.is_none(),
                });
                Session::join(config.session, identity, id.clone(), room.as_str(), secret)
            }
        };
        let mut session = match session {
            Ok(s) => s,
            Err(e) => {
                step.outputs
                    .push(Output::Send(sotto_proto::ClientMessage::Leave {}));
                step.then(Next::Lost(format!("MLS: {e}")));
                return Err(step);
            }
        };
        if let Some(name) = name
            && let Err(e) = session.set_profile(name)
        {
            step.warn(format!("display name refused: {e}"));
        }
        if let Some(status) = status
            && let Err(e) = session.set_status(status)
        {
            step.warn(format!("status refused: {e}"));
        }
        let mut r = InRoom {
            room: room.clone(),
            id,
            session,
            ice_servers,
            knocking: secret.is_none(),
            waiting_since: (role == Role::Joiner && secret.is_some()).then_some(now),
            behind: None,
            media_started: false,
            media_failures: 0,
            leaving: BTreeMap::new(),
        };
        r.pump(config, now, &mut step);
        Ok((r, step))
    }

    pub(crate) fn id(&self) -> &ParticipantId {
        &self.id
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    pub(crate) fn media_started(&self) -> bool {
        self.media_started
    }

    pub(crate) fn leaving(&self) -> Vec<ParticipantId> {
        self.leaving.keys().cloned().collect()
    }

    pub(crate) fn status(&self) -> Status {
        match self.session.state() {
            State::Member => Status::Member,
            _ => Status::Waiting {
                knocking: self.knocking,
            },
        }
    }

    pub(crate) fn poll_timeout(&self, config: &Config) -> Option<Instant> {
        let overdue = self
            .leaving
            .values()
            .filter(|(_, told)| !told)
            .map(|(since, _)| *since + config.removal_grace)
            .min();
        let welcome = self.waiting_since.map(|t| t + config.welcome_timeout);
        [
            self.session.poll_timeout(),
            self.behind.map(|b| b.until),
            overdue,
            welcome,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs a session call (a user command) and pumps what it made.
    pub(crate) fn with_session(
        &mut self,
        config: &Config,
        now: Instant,
        f: impl FnOnce(&mut Session) -> Result<(), SessionError>,
    ) -> Result<Step, SessionError> {
        f(&mut self.session)?;
        let mut step = Step::new();
        self.pump(config, now, &mut step);
        Ok(step)
    }

    pub(crate) fn handle_timeout(&mut self, config: &Config, now: Instant) -> Step {
        let mut step = Step::new();
        if let Err(e) = self.session.tick(now) {
            step.warn(format!("MLS: {e}"));
        }
        self.pump(config, now, &mut step);
        if let Some(b) = self.behind
            && b.until <= now
        {
            self.behind = None;
            // MLS cannot skip an epoch: the commit we missed is not
            // coming, and we can never follow this group again.
            let at = self
                .session
                .epoch()
                .map_or_else(|| "none".to_owned(), |e| e.to_string());
            step.then(Next::Rejoin(format!(
                "missed a commit: still at epoch {at} while the room is past {}",
                b.seen
            )));
        }
        if let Some(since) = self.waiting_since
            && since + config.welcome_timeout <= now
        {
            self.waiting_since = None;
            step.then(Next::Rejoin("no Welcome came".into()));
        }
        for (p, (since, told)) in &mut self.leaving {
            if !*told && *since + config.removal_grace <= now {
                *told = true;
                step.event(Event::RemovalOverdue {
                    participant: p.clone(),
                });
            }
        }
        step
    }

    /// One server message on this connection.
    pub(crate) fn handle_message(
        &mut self,
        config: &Config,
        msg: ServerMessage,
        now: Instant,
    ) -> Step {
        let mut step = Step::new();
        if let Some(seen) = self.on_message(msg, now, &mut step) {
            self.fell_behind(seen, config.catch_up_grace, now);
        }
        self.pump(config, now, &mut step);
        // Caught up with the later commit we saw?
        if let Some(b) = self.behind
            && self.session.epoch().is_some_and(|e| e > b.seen)
        {
            self.behind = None;
        }
        step
    }

    fn fell_behind(&mut self, seen: u64, config_grace: std::time::Duration, now: Instant) {
        let (seen0, until) = self
            .behind
            .map_or((seen, now + config_grace), |b| (b.seen, b.until));
        self.behind = Some(Behind {
            seen: seen0.max(seen),
            until,
        });
    }

    /// Handles `msg`; returns an epoch the room is known to be past, if
    /// the message showed one we have not reached.
    fn on_message(&mut self, msg: ServerMessage, now: Instant, step: &mut Step) -> Option<u64> {
        let mut behind = None;
        let mut leaving = None;
        let media_started = self.media_started;
        let mut welcome_done = false;
        let room = &self.room;
        let s = &mut self.session;
        let result = match msg {
            ServerMessage::JoinRequest {
                participant,
                key_package,
            } => s
                .handle_join_request(participant, &key_package, now)
                .map_err(|e| ("join request", e)),
            ServerMessage::Welcome { from, welcome, .. } => {
                match s.handle_welcome(&from, &welcome, now) {
                    // The session ended: its event says why.
                    Err(SessionError::GhostRoom) => Ok(()),
                    r => r.map_err(|e| ("welcome", e)),
                }
            }
            ServerMessage::Commit {
                from,
                epoch,
                commit,
            } => {
                let r = s.handle_commit(&from, epoch, &commit, now);
                // A commit the server relays for a later epoch: the ones
                // before it may still be on their way; wait for them a
                // little. Only the server's own epoch counts here: the
                // epoch inside the MLS message is not authenticated yet.
                if let (Err(SessionError::WrongEpoch { .. }), Some(ours)) = (&r, s.epoch())
                    && epoch > ours
                {
                    behind = Some(epoch);
                }
                r.map_err(|e| ("commit", e))
            }
            ServerMessage::CommitAccepted { epoch } => match s.handle_commit_accepted(epoch, now) {
                Err(SessionError::WrongState { .. } | SessionError::WrongEpoch { .. })
                    if s.state() == State::Member =>
                {
                    // The room applied a commit of ours that we no longer
                    // hold: we are out of step with it for good.
                    step.then(Next::Rejoin(format!(
                        "the room applied a commit of ours for epoch {epoch} that we cannot merge"
                    )));
                    Ok(())
                }
                r => r.map_err(|e| ("commit accepted", e)),
            },
            ServerMessage::Application { from, data } => s
                .handle_application(&from, &data)
                .map_err(|e| ("application message", e)),
            ServerMessage::Left {
                participant,
                reason,
            } => {
                step.outputs
                    .push(Output::Keys(KeyUpdate::Departed(participant.clone())));
                let member = s.members().iter().any(|m| m.participant == participant);
                s.handle_departure(participant.clone(), now);
                if member {
                    leaving = Some(participant.clone());
                }
                step.event(Event::Departed {
                    participant,
                    reason,
                    member,
                });
                Ok(())
            }
            ServerMessage::Refused {} => {
                step.then(Next::End(EndReason::Refused));
                Ok(())
            }
            ServerMessage::BecomeCreator {} => match s.handle_become_creator(now) {
                Ok(()) => {
                    // A new group starts its epochs at 0 again: a ring of
                    // its own (mls-profile §7), before its keys come out.
                    step.outputs.push(Output::Keys(KeyUpdate::Reset));
                    welcome_done = true;
                    Ok(())
                }
                Err(SessionError::NoSecret) => {
                    // We knocked and everyone left: the room is empty, we
                    // open it afresh, as if we had come first.
                    let opened = RoomSecret::generate()
                        .map_err(|e| SessionError::Internal(e.to_string()))
                        .and_then(|secret| {
                            s.handle_become_creator_opening(room.as_str(), &secret, now)?;
                            Ok(secret)
                        });
                    match opened {
                        Ok(secret) => {
                            step.outputs.push(Output::Keys(KeyUpdate::Reset));
                            step.opened(secret);
                            welcome_done = true;
                            Ok(())
                        }
                        Err(e) => Err(("open the room", e)),
                    }
                }
                Err(e) => Err(("become creator", e)),
            },
            msg @ (ServerMessage::Sdp { .. } | ServerMessage::Ice { .. }) => {
                if media_started {
                    step.outputs.push(Output::Media(MediaCommand::Signal(msg)));
                }
                Ok(())
            }
            ServerMessage::Error {
                code: ErrorCode::StaleEpoch,
                current_epoch,
                ..
            } => {
                let r = s.handle_commit_rejected(current_epoch.unwrap_or_default());
                // The room is at `current`: the commits that took it there
                // must reach us, or we are out of step.
                if let (Some(current), Some(ours)) = (current_epoch, s.epoch())
                    && current > ours
                {
                    behind = Some(current - 1);
                }
                r.map_err(|e| ("stale commit", e))
            }
            // A restart ends the connection, not the call: join the room
            // again once the server is back (spec §4.5).
            ServerMessage::Error {
                code: ErrorCode::ShuttingDown,
                message,
                ..
            } => {
                step.then(Next::Lost(format!(
                    "the server is shutting down: {message}"
                )));
                Ok(())
            }
            // Our media failed, not our membership: open new peer
            // connections, for the same group (spec §4.6).
            ServerMessage::Error {
                code: ErrorCode::MediaFailed,
                ..
            } if media_started => {
                self.media_failures += 1;
                step.event(Event::MediaFailed {
                    attempt: self.media_failures,
                });
                step.outputs.push(Output::Media(MediaCommand::Stop));
                step.outputs.push(Output::Media(MediaCommand::Start {
                    ice_servers: self.ice_servers.clone(),
                }));
                Ok(())
            }
            ServerMessage::Error { code, message, .. } if code.is_fatal() => {
                step.then(Next::End(EndReason::Server { code, message }));
                Ok(())
            }
            ServerMessage::Error { code, message, .. } => {
                step.warn(format!("server: {}: {message}", code.as_str()));
                Ok(())
            }
            other => {
                step.warn(format!("unexpected {}", other.message_type()));
                Ok(())
            }
        };
        if let Err((what, e)) = result {
            step.warn(format!("{what}: {e}"));
        }
        if let Some(p) = leaving {
            self.leaving.insert(p, (now, false));
        }
        if welcome_done {
            self.waiting_since = None;
        }
        behind
    }

    /// Hands on what the session reports, then what it sends, until both
    /// are drained. Events first: a new epoch's keys must be in the ring
    /// before our `ack` for it leaves, or a sender that switches on that
    /// ack could reach us with frames we cannot open yet. Media starts
    /// once our first ack is out: every sender waits for it.
    fn pump(&mut self, config: &Config, now: Instant, step: &mut Step) {
        let mut joined = false;
        loop {
            let mut idle = true;
            while let Some(ev) = self.session.poll_event() {
                idle = false;
                joined |= self.on_session_event(config, ev, now, step);
            }
            while let Some(out) = self.session.poll_output() {
                idle = false;
                step.outputs.push(Output::Send(out.into_message()));
            }
            if idle {
                break;
            }
        }
        if joined && !self.media_started {
            self.media_started = true;
            step.outputs.push(Output::Media(MediaCommand::Start {
                ice_servers: self.ice_servers.clone(),
            }));
        }
    }

    /// One session event; `true` if it made us a member.
    fn on_session_event(
        &mut self,
        config: &Config,
        ev: session::Event,
        now: Instant,
        step: &mut Step,
    ) -> bool {
        use session::Event as E;
        match ev {
            E::Joined {
                epoch, room_code, ..
            } => {
                self.waiting_since = None;
                step.then(Next::Member);
                step.event(Event::Joined {
                    participant: self.id.clone(),
                    epoch,
                    room_code,
                });
                return true;
            }
            E::EpochChanged { epoch, room_code } => {
                step.event(Event::EpochChanged { epoch, room_code });
            }
            E::EpochKeys(keys) => step.outputs.push(Output::Keys(KeyUpdate::Epoch(keys))),
            E::KeyAck { leaf, epoch, .. } => {
                step.outputs
                    .push(Output::Keys(KeyUpdate::Ack { epoch, leaf }));
            }
            E::MemberAdded {
                participant,
                leaf,
                fingerprint,
                admission,
                added_by,
            } => step.event(Event::MemberAdded {
                participant,
                leaf,
                fingerprint,
                admission,
                added_by,
            }),
            E::MemberRemoved {
                participant,
                removed_by,
                ..
            } => {
                self.leaving.remove(&participant);
                step.event(Event::MemberRemoved {
                    participant,
                    removed_by,
                });
            }
            E::Knock {
                participant,
                fingerprint,
            } => {
                step.event(Event::Knock {
                    participant: participant.clone(),
                    fingerprint: fingerprint.clone(),
                });
                let decided = match config.knocks {
                    KnockPolicy::Ask => Ok(()),
                    KnockPolicy::AcceptAllBotOnly => {
                        self.session.accept_knock(&participant, &fingerprint, now)
                    }
                    KnockPolicy::Refuse => self.session.refuse_knock(&participant),
                };
                if let Err(e) = decided {
                    step.warn(format!("knock: {e}"));
                }
            }
            E::KnockClosed { participant } => step.event(Event::KnockClosed { participant }),
            E::KeyPackageConflict { participant } => {
                step.event(Event::KeyPackageConflict { participant });
            }
            E::Chat { from, text } => step.event(Event::Chat { from, text }),
            E::Profile { from, name } => step.event(Event::Name { from, name }),
            E::Status { from, status } => step.event(Event::Status { from, status }),
            E::Reaction { from, emoji } => step.event(Event::Reaction { from, emoji }),
            E::Ended(SessionEnd::Removed) => step.then(Next::End(EndReason::Removed)),
            E::Ended(SessionEnd::GhostRoom) => {
                step.outputs
                    .push(Output::Send(sotto_proto::ClientMessage::Leave {}));
                step.then(Next::End(EndReason::GhostRoom));
            }
            // Application messages of a kind this version does not know,
            // and whatever a later session version adds.
            _ => {}
        }
        false
    }
}
