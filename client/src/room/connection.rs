//! One connection to the server: one participant id, one MLS session, one
//! key ring, two peer connections. It ends with the room (an [`Ended`]) or
//! with the socket (to be joined again as a new participant).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtc::peer_connection::transport::RTCIceCandidateInit;
use sotto_crypto::ParticipantId as MlsId;
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::keys::{KeyRing, KeyRingConfig};
use sotto_crypto::session::{self, EndReason, Output, Session, SessionError};
use sotto_proto::{ClientMessage, ErrorCode, ParticipantId, PcKind, Role, SdpKind, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::call::Call;
use super::{Command, Ended, Event, JoinOptions, KnockPolicy};
use crate::keys::RingCrypto;
use crate::peer::{PeerEvent, PeerSetup};
use crate::publish::Outgoing;
use crate::signalling::{Signalling, Unreadable};
use crate::subscribe::{MediaEvent, Receiving};
use sotto_proto::TrackSource;

/// How long the server has to answer `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) enum Outcome {
    /// The participation is over.
    Ended(Ended),
    /// The socket broke after `joined`.
    Lost { reason: String, was_member: bool },
    /// The server could not be reached or did not answer `join`.
    Unreachable(String),
}

pub(super) struct Connection<'a> {
    options: &'a JoinOptions,
    secret: Option<&'a RoomSecret>,
    bind: Vec<IpAddr>,
    events: &'a mpsc::UnboundedSender<Event>,
    commands: &'a mut mpsc::UnboundedReceiver<Command>,
}

fn to_mls(p: &ParticipantId) -> Option<MlsId> {
    MlsId::new(p.as_str()).ok()
}

fn to_proto(p: &MlsId) -> ParticipantId {
    ParticipantId(p.as_str().to_owned())
}

impl<'a> Connection<'a> {
    pub(super) fn new(
        options: &'a JoinOptions,
        secret: Option<&'a RoomSecret>,
        bind: Vec<IpAddr>,
        events: &'a mpsc::UnboundedSender<Event>,
        commands: &'a mut mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        Connection {
            options,
            secret,
            bind,
            events,
            commands,
        }
    }

    pub(super) async fn run(self) -> Outcome {
        let t0 = Instant::now();
        let mut ws = match Signalling::connect(&self.options.link.websocket_url()).await {
            Ok(ws) => ws,
            Err(e) => return Outcome::Unreachable(e.to_string()),
        };
        let join = ClientMessage::Join {
            room: self.options.link.room.clone(),
        };
        if let Err(e) = ws.send(&join).await {
            return Outcome::Unreachable(e.to_string());
        }
        let joined = tokio::time::timeout(JOIN_TIMEOUT, async {
            loop {
                match ws.recv().await {
                    Ok(Ok(ServerMessage::Joined {
                        participant,
                        role,
                        ice_servers,
                        ..
                    })) => return Ok((participant, role, ice_servers)),
                    // A server that stops may come back (a restart): try
                    // again, as if it could not be reached (spec §4.5).
                    Ok(Ok(ServerMessage::Error {
                        code: ErrorCode::ShuttingDown,
                        message,
                        ..
                    })) => return Err(Outcome::Unreachable(message)),
                    Ok(Ok(ServerMessage::Error { code, message, .. })) if code.is_fatal() => {
                        return Err(Outcome::Ended(Ended::Server { code, message }));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(Outcome::Unreachable(e.to_string())),
                }
            }
        })
        .await;
        let (participant, role, ice_servers) = match joined {
            Ok(Ok(j)) => j,
            Ok(Err(outcome)) => return outcome,
            Err(_) => return Outcome::Unreachable("the server did not answer `join`".into()),
        };
        let _ = self.events.send(Event::Connected {
            participant: participant.clone(),
            creator: role == Role::Creator,
        });
        let Some(me) = to_mls(&participant) else {
            return Outcome::Lost {
                reason: "the server gave an invalid participant id".into(),
                was_member: false,
            };
        };
        let room = self.options.link.room.as_str();
        let now = sotto_crypto::Instant::ZERO;
        let session = match role {
            Role::Creator => match self.secret {
                Some(secret) => Session::create(
                    self.options.session,
                    &self.options.identity,
                    me,
                    room,
                    secret,
                    now,
                ),
                None => {
                    let _ = ws.send(&ClientMessage::Leave {}).await;
                    ws.close().await;
                    return Outcome::Ended(Ended::NeedsSecret);
                }
            },
            Role::Joiner => {
                let _ = self.events.send(Event::Waiting {
                    knocking: self.secret.is_none(),
                });
                Session::join(
                    self.options.session,
                    &self.options.identity,
                    me,
                    room,
                    self.secret,
                )
            }
        };
        let mut session = match session {
            Ok(s) => s,
            Err(e) => {
                let _ = ws.send(&ClientMessage::Leave {}).await;
                ws.close().await;
                return Outcome::Lost {
                    reason: format!("MLS: {e}"),
                    was_member: false,
                };
            }
        };
        if let Some(name) = &self.options.name
            && let Err(e) = session.set_profile(name)
        {
            let _ = self.events.send(Event::Warning {
                message: format!("display name refused: {e}"),
            });
        }
        let ring = Arc::new(Mutex::new(KeyRing::new(self.options.key_ring)));
        let (peer_tx, peer_rx) = mpsc::unbounded_channel();
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let mut outgoing = Vec::new();
        if let Some(audio) = &self.options.audio {
            outgoing.push(Outgoing {
                source: TrackSource::Mic,
                frames: audio.clone(),
            });
        }
        if let Some(video) = &self.options.video {
            outgoing.push(Outgoing {
                source: TrackSource::Camera,
                frames: video.clone(),
            });
        }
        let crypto = Arc::new(RingCrypto::new(Arc::clone(&ring), t0));
        let call = Call::new(
            PeerSetup {
                ice_servers,
                bind: self.bind.clone(),
            },
            outgoing,
            crypto.clone(),
            Receiving {
                crypto,
                record_dir: self.options.record_dir.clone(),
                events: media_tx,
                tap: self.options.wire_tap.clone(),
            },
            peer_tx,
            self.options.sent_tap.clone(),
        );
        let mut live = Live {
            knocks: self.options.knocks,
            key_ring: self.options.key_ring,
            events: self.events,
            commands: self.commands,
            ws,
            session,
            ring,
            call,
            peer_rx,
            media_rx,
            t0,
            was_member: false,
            behind: None,
            publish_pending: false,
        };
        let outcome = live.run().await;
        live.call.close().await;
        // Closing ended the received tracks: report them (with their
        // recordings, now complete).
        while let Ok(ev) = live.media_rx.try_recv() {
            live.on_media(ev);
        }
        if !matches!(outcome, Outcome::Lost { .. }) {
            live.ws.close().await;
        }
        outcome
    }
}

/// A connection that has joined.
struct Live<'a> {
    knocks: KnockPolicy,
    key_ring: KeyRingConfig,
    events: &'a mpsc::UnboundedSender<Event>,
    commands: &'a mut mpsc::UnboundedReceiver<Command>,
    ws: Signalling,
    session: Session,
    ring: Arc<Mutex<KeyRing>>,
    call: Call,
    peer_rx: mpsc::UnboundedReceiver<PeerEvent>,
    media_rx: mpsc::UnboundedReceiver<MediaEvent>,
    t0: Instant,
    was_member: bool,
    /// A commit for a later epoch came: the epoch it was for, and until
    /// when we wait for the commits before it.
    behind: Option<(u64, Instant)>,
    /// We became a member and have not published yet: done once what the
    /// session had to send (our first `ack`) is out.
    publish_pending: bool,
}

/// How long a member that saw a commit for a later epoch waits for the
/// commits it missed before it gives up on the group and joins again.
/// The server relays commits in order, so a missing one normally comes
/// right behind; only one that was lost for good takes the whole wait.
const CATCH_UP_GRACE: Duration = Duration::from_millis(1500);

type Step = Result<(), Outcome>;

impl Live<'_> {
    fn now(&self) -> sotto_crypto::Instant {
        let ms = u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        sotto_crypto::Instant::from_millis(ms)
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn warn(&self, message: impl Into<String>) {
        self.emit(Event::Warning {
            message: message.into(),
        });
    }

    fn lost(&self, reason: impl std::fmt::Display) -> Outcome {
        Outcome::Lost {
            reason: reason.to_string(),
            was_member: self.was_member,
        }
    }

    /// When the session or the key ring next needs `tick`.
    fn deadline(&self) -> Instant {
        let ring = self.ring.lock().ok().and_then(|r| r.poll_timeout());
        let next = [self.session.poll_timeout(), ring]
            .into_iter()
            .flatten()
            .min();
        let next = next.map(|t| self.t0 + Duration::from_millis(t.as_millis()));
        [next, self.behind.map(|(_, until)| until)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    /// Whether the group has caught up with the later commit we saw;
    /// past the grace, a member still behind joins again.
    async fn check_behind(&mut self) -> Step {
        let Some((seen, until)) = self.behind else {
            return Ok(());
        };
        let at = self.session.epoch();
        if at.is_some_and(|e| e > seen) {
            self.behind = None;
            return Ok(());
        }
        if Instant::now() < until {
            return Ok(());
        }
        self.behind = None;
        // MLS cannot skip an epoch: the commit we missed is not coming,
        // and we can never follow this group again. Join again as
        // someone new (spec §4.5) rather than stay, deaf.
        let at = at.map_or_else(|| "none".to_owned(), |e| e.to_string());
        self.rejoin(format!(
            "missed a commit: still at epoch {at} while the room is past {seen}"
        ))
        .await
    }

    async fn run(&mut self) -> Outcome {
        // The creator is a member already; a joiner's KeyPackage is queued.
        if let Err(o) = self.pump().await {
            return o;
        }
        loop {
            let deadline = self.deadline();
            let step = tokio::select! {
                msg = self.ws.recv() => match msg {
                    Ok(Ok(m)) => self.on_server(m).await,
                    Ok(Err(Unreadable(e))) => {
                        self.warn(format!("unreadable server message: {}", e.message));
                        Ok(())
                    }
                    Err(e) => Err(self.lost(e)),
                },
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.on_command(c).await,
                    None => self.leave().await,
                },
                Some(ev) = self.peer_rx.recv() => self.on_peer(ev).await,
                Some(ev) = self.media_rx.recv() => {
                    self.on_media(ev);
                    Ok(())
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let now = self.now();
                    if let Ok(mut r) = self.ring.lock() {
                        r.handle_timeout(now);
                    }
                    if let Err(e) = self.session.tick(now) {
                        self.warn(format!("MLS: {e}"));
                    }
                    Ok(())
                }
            };
            let step = match step {
                Ok(()) => self.check_behind().await,
                e => e,
            };
            if let Err(o) = step {
                return o;
            }
            if let Err(o) = self.pump().await {
                return o;
            }
        }
    }

    async fn send(&mut self, msg: &ClientMessage) -> Step {
        match self.ws.send(msg).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.lost(e)),
        }
    }

    /// Leaves this connection (the others remove us at once) and ends it
    /// as lost, so that the driver joins again as a new participant.
    async fn rejoin(&mut self, why: String) -> Step {
        self.warn(format!("out of step with the group: {why}"));
        let _ = self.ws.send(&ClientMessage::Leave {}).await;
        Err(self.lost(format!("out of step with the group: {why}")))
    }

    async fn leave(&mut self) -> Step {
        let _ = self.ws.send(&ClientMessage::Leave {}).await;
        Err(Outcome::Ended(Ended::Left))
    }

    /// Sends what the session has to send and handles what it reports,
    /// until both are drained.
    async fn pump(&mut self) -> Step {
        loop {
            let mut idle = true;
            // Events first: a new epoch's keys must be in the ring before
            // our `ack` for it leaves, or a sender that switches on that
            // ack could reach us with frames we cannot open yet.
            while let Some(ev) = self.session.poll_event() {
                idle = false;
                self.on_mls(ev).await?;
            }
            while let Some(out) = self.session.poll_output() {
                idle = false;
                let msg = match out {
                    Output::KeyPackage(key_package) => ClientMessage::KeyPackage { key_package },
                    Output::Commit(c) => ClientMessage::Commit {
                        epoch: c.epoch,
                        commit: c.commit,
                        welcome: c.welcome,
                        welcome_to: c.welcome_to.iter().map(to_proto).collect(),
                    },
                    Output::Application(data) => ClientMessage::Application { data },
                    Output::RefuseKnock(p) => ClientMessage::RefuseKnock {
                        participant: to_proto(&p),
                    },
                    _ => continue,
                };
                self.send(&msg).await?;
            }
            if idle {
                // Publishing builds a peer connection and an offer, which
                // can take a while; every sender waits for our `ack` of
                // the epoch that added us before it sends with it, so that
                // goes out first.
                if std::mem::take(&mut self.publish_pending) {
                    match self.call.publish().await {
                        Ok(Some(offer)) => self.send(&offer).await?,
                        Ok(None) => {}
                        Err(e) => self.warn(format!("cannot publish: {e}")),
                    }
                }
                return Ok(());
            }
        }
    }

    async fn on_mls(&mut self, ev: session::Event) -> Step {
        use session::Event as E;
        let now = self.now();
        match ev {
            E::Joined {
                epoch, room_code, ..
            } => {
                self.was_member = true;
                self.emit(Event::Joined {
                    participant: to_proto(self.session.participant()),
                    epoch,
                    room_code,
                });
                self.publish_pending = true;
            }
            E::EpochChanged { epoch, room_code } => {
                self.emit(Event::EpochChanged { epoch, room_code });
            }
            E::EpochKeys(keys) => {
                if let Ok(mut r) = self.ring.lock()
                    && let Err(e) = r.add_epoch(keys, now)
                {
                    drop(r);
                    self.warn(format!("media keys refused: {e}"));
                }
            }
            E::KeyAck { leaf, epoch, .. } => {
                if let Ok(mut r) = self.ring.lock() {
                    r.acknowledge(epoch, leaf, now);
                }
            }
            E::MemberAdded {
                participant,
                fingerprint,
                admission,
                ..
            } => self.emit(Event::MemberJoined {
                participant: to_proto(&participant),
                fingerprint,
                admission,
            }),
            E::MemberRemoved { participant, .. } => self.emit(Event::MemberRemoved {
                participant: to_proto(&participant),
            }),
            E::Knock {
                participant,
                fingerprint,
            } => {
                self.emit(Event::Knock {
                    participant: to_proto(&participant),
                    fingerprint,
                });
                let decided = match self.knocks {
                    KnockPolicy::Ask => Ok(()),
                    KnockPolicy::Accept => self.session.accept_knock(&participant, now),
                    KnockPolicy::Refuse => self.session.refuse_knock(&participant),
                };
                if let Err(e) = decided {
                    self.warn(format!("knock: {e}"));
                }
            }
            E::KnockClosed { participant } => self.emit(Event::KnockClosed {
                participant: to_proto(&participant),
            }),
            E::Chat { from, text } => self.emit(Event::Chat {
                from: to_proto(&from),
                text,
            }),
            E::Profile { from, name } => self.emit(Event::Name {
                from: to_proto(&from),
                name,
            }),
            E::Ended(EndReason::Removed) => return Err(Outcome::Ended(Ended::Removed)),
            E::Ended(EndReason::GhostRoom) => {
                let _ = self.ws.send(&ClientMessage::Leave {}).await;
                return Err(Outcome::Ended(Ended::GhostRoom));
            }
            _ => {}
        }
        Ok(())
    }

    fn mls_result(&self, what: &str, r: Result<(), SessionError>) {
        if let Err(e) = r {
            self.warn(format!("{what}: {e}"));
        }
    }

    async fn on_server(&mut self, msg: ServerMessage) -> Step {
        let now = self.now();
        match msg {
            ServerMessage::JoinRequest {
                participant,
                key_package,
            } => {
                if let Some(p) = to_mls(&participant) {
                    let r = self.session.handle_join_request(p, &key_package, now);
                    self.mls_result("join request", r);
                }
            }
            ServerMessage::Welcome { from, welcome, .. } => {
                if let Some(from) = to_mls(&from) {
                    let r = self.session.handle_welcome(&from, &welcome, now);
                    // A ghost room ends the session: the event says so.
                    if !matches!(r, Err(SessionError::GhostRoom)) {
                        self.mls_result("welcome", r);
                    }
                }
            }
            ServerMessage::Commit {
                from,
                epoch,
                commit,
            } => {
                if let Some(from) = to_mls(&from) {
                    let r = self.session.handle_commit(&from, epoch, &commit, now);
                    if let Err(SessionError::WrongEpoch { expected, got }) = &r
                        && got > expected
                        && self.was_member
                    {
                        // A commit for a later epoch: the ones before it
                        // may still be on their way (a relay may reorder
                        // them). Wait for them a little; see check_behind.
                        let (seen, until) = self
                            .behind
                            .unwrap_or((*got, Instant::now() + CATCH_UP_GRACE));
                        self.behind = Some((seen.max(*got), until));
                    }
                    self.mls_result("commit", r);
                }
            }
            ServerMessage::CommitAccepted { epoch } => {
                let r = self.session.handle_commit_accepted(epoch, now);
                if matches!(
                    r,
                    Err(SessionError::WrongState { .. } | SessionError::WrongEpoch { .. })
                ) && self.was_member
                {
                    // The room applied a commit of ours that we no longer
                    // hold: we are out of step with it for good.
                    return self
                        .rejoin(format!(
                            "the room applied a commit of ours for epoch {epoch} we cannot merge"
                        ))
                        .await;
                }
                self.mls_result("commit accepted", r);
            }
            ServerMessage::Application { from, data } => {
                if let Some(from) = to_mls(&from) {
                    let r = self.session.handle_application(&from, &data);
                    self.mls_result("application message", r);
                }
            }
            ServerMessage::Left {
                participant,
                reason,
            } => {
                self.emit(Event::Departed {
                    participant: participant.clone(),
                    reason,
                });
                if let Some(p) = to_mls(&participant) {
                    // Senders stop waiting for its acknowledgement.
                    if let Ok(mut r) = self.ring.lock() {
                        r.departed(&p, now);
                    }
                    self.session.handle_departure(p, now);
                }
            }
            ServerMessage::Refused {} => return Err(Outcome::Ended(Ended::Refused)),
            ServerMessage::BecomeCreator {} => match self.session.handle_become_creator(now) {
                Ok(()) => {
                    // A new group starts its epochs at 0 again: it needs a
                    // ring of its own (mls-profile §7). Its keys come out
                    // of the session in the next pump.
                    if let Ok(mut r) = self.ring.lock() {
                        *r = KeyRing::new(self.key_ring);
                    }
                }
                Err(SessionError::NoSecret) => {
                    let _ = self.ws.send(&ClientMessage::Leave {}).await;
                    return Err(Outcome::Ended(Ended::NeedsSecret));
                }
                Err(e) => self.warn(format!("become creator: {e}")),
            },
            ServerMessage::Sdp {
                pc: PcKind::Pub,
                kind: SdpKind::Answer,
                sdp,
                ..
            } => {
                if let Err(e) = self.call.on_answer(sdp).await {
                    self.warn(format!("publishing answer refused: {e}"));
                }
            }
            ServerMessage::Sdp {
                pc: PcKind::Sub,
                kind: SdpKind::Offer,
                sdp,
                tracks,
            } => match self.call.on_offer(&sdp, tracks).await {
                Ok(answer) => self.send(&answer).await?,
                Err(e) => self.warn(format!("subscribing offer refused: {e}")),
            },
            ServerMessage::Sdp { pc, kind, .. } => {
                self.warn(format!("unexpected {kind:?} on {pc:?}"));
            }
            // An empty candidate ends the remote candidates: nothing to do.
            ServerMessage::Ice {
                pc,
                candidate,
                sdp_mid,
                sdp_mline_index,
            } if !candidate.is_empty() => {
                let init = RTCIceCandidateInit {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                    ..Default::default()
                };
                if let Err(e) = self.call.add_candidate(pc, init).await {
                    self.warn(format!("ICE candidate refused: {e}"));
                }
            }
            ServerMessage::Error {
                code: ErrorCode::StaleEpoch,
                current_epoch,
                ..
            } => {
                let r = self
                    .session
                    .handle_commit_rejected(current_epoch.unwrap_or_default());
                self.mls_result("stale commit", r);
            }
            // A restart ends the connection, not the call: join the room
            // again once the server is back (spec §4.5).
            ServerMessage::Error {
                code: ErrorCode::ShuttingDown,
                message,
                ..
            } => return Err(self.lost(format!("the server is shutting down: {message}"))),
            ServerMessage::Error { code, message, .. } if code.is_fatal() => {
                return Err(Outcome::Ended(Ended::Server { code, message }));
            }
            ServerMessage::Error { code, message, .. } => {
                self.warn(format!("server: {}: {message}", code.as_str()));
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_command(&mut self, cmd: Command) -> Step {
        let now = self.now();
        match cmd {
            Command::Chat(text) => {
                let r = self.session.send_chat(&text);
                self.mls_result("chat", r);
            }
            Command::SetName(name) => {
                let r = self.session.set_profile(&name);
                self.mls_result("display name", r);
            }
            Command::AcceptKnock(p) => {
                if let Some(p) = to_mls(&p) {
                    let r = self.session.accept_knock(&p, now);
                    self.mls_result("accept knock", r);
                }
            }
            Command::RefuseKnock(p) => {
                if let Some(p) = to_mls(&p) {
                    let r = self.session.refuse_knock(&p);
                    self.mls_result("refuse knock", r);
                }
            }
            Command::HeldKeys(tx) => {
                let keys = self.ring.lock().map(|r| r.held_keys()).unwrap_or_default();
                let _ = tx.send(keys);
            }
            Command::Leave => return self.leave().await,
        }
        Ok(())
    }

    async fn on_peer(&mut self, ev: PeerEvent) -> Step {
        match ev {
            PeerEvent::Candidate { pc, candidate } => {
                let msg = match candidate {
                    Some(c) => ClientMessage::Ice {
                        pc,
                        candidate: c.candidate,
                        sdp_mid: c.sdp_mid,
                        sdp_mline_index: c.sdp_mline_index,
                    },
                    None => ClientMessage::Ice {
                        pc,
                        candidate: String::new(),
                        sdp_mid: None,
                        sdp_mline_index: None,
                    },
                };
                self.send(&msg).await?;
            }
            PeerEvent::State { pc, state } => self.emit(Event::PeerState {
                pc,
                state: state.to_string(),
            }),
            PeerEvent::Track { track, .. } => self.call.on_track(track).await,
        }
        Ok(())
    }

    fn on_media(&self, ev: MediaEvent) {
        self.emit(match ev {
            MediaEvent::Started {
                participant,
                source,
            } => Event::MediaStarted {
                participant,
                source,
            },
            MediaEvent::DecryptFailures {
                participant,
                source,
                total,
                error,
            } => Event::DecryptFailures {
                participant,
                source,
                total,
                error,
            },
            MediaEvent::Recovered {
                participant,
                source,
                after,
                failing_for,
                failures,
            } => Event::DecryptRecovered {
                participant,
                source,
                after,
                failing_for,
                failures,
            },
            MediaEvent::Ended {
                participant,
                source,
                frames,
                recording,
            } => Event::TrackEnded {
                participant,
                source,
                frames,
                recording,
            },
        });
    }
}
