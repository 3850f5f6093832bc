//! An in-memory delivery service and participants on a virtual clock.
//!
//! The fake server follows `spec/protocol.md` §3–4 exactly as far as MLS is
//! concerned: it relays KeyPackages as join requests, lets the first commit
//! for the current epoch win, sends the winner to the other members and the
//! Welcome to the joiners, relays application messages, and announces
//! departures. Tests reach into it to cheat.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::{KeyRing, KeyRingConfig, MediaSource};
use sotto_crypto::media::Codec;
use sotto_crypto::session::{Event, Output, Session, SessionConfig, SessionError, State};
use sotto_crypto::{Instant, ParticipantId};

/// A message from the server to one participant.
#[derive(Debug, Clone)]
pub enum ToClient {
    JoinRequest {
        participant: ParticipantId,
        key_package: Vec<u8>,
    },
    Commit {
        from: ParticipantId,
        epoch: u64,
        commit: Vec<u8>,
    },
    CommitAccepted {
        epoch: u64,
    },
    StaleEpoch {
        current: u64,
    },
    Welcome {
        from: ParticipantId,
        welcome: Vec<u8>,
    },
    Application {
        from: ParticipantId,
        data: Vec<u8>,
    },
    Left {
        participant: ParticipantId,
    },
    BecomeCreator,
}

/// A winning commit, as the server saw it.
#[derive(Debug, Clone)]
pub struct Won {
    pub from: ParticipantId,
    pub epoch: u64,
    pub commit: Vec<u8>,
    pub welcome: Option<Vec<u8>>,
}

/// One participant: its session, its key ring and what happened to it.
pub struct Client {
    pub id: ParticipantId,
    pub identity: Identity,
    pub session: Session,
    pub ring: KeyRing,
    pub events: Vec<Event>,
    pub errors: Vec<SessionError>,
}

impl Client {
    pub fn knocks_seen(&self) -> Vec<(ParticipantId, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Knock {
                    participant,
                    fingerprint,
                } => Some((participant.clone(), fingerprint.digits().to_owned())),
                _ => None,
            })
            .collect()
    }
}

/// The fake server's view of the room.
#[derive(Default)]
pub struct Ds {
    pub epoch: u64,
    pub members: BTreeSet<ParticipantId>,
    /// Waiting participants and their KeyPackage once sent.
    pub waiting: BTreeMap<ParticipantId, Option<Vec<u8>>>,
    pub won: Vec<Won>,
    pub stale: u32,
    /// Every application message relayed, for "what the server sees".
    pub relayed: Vec<Vec<u8>>,
    /// Knockers refused (their clients stay, to be looked at).
    pub refused: Vec<ParticipantId>,
}

pub struct Room {
    pub name: String,
    pub secret: RoomSecret,
    pub config: SessionConfig,
    pub now: Instant,
    pub ds: Ds,
    pub clients: BTreeMap<ParticipantId, Client>,
    /// Messages on their way to clients, in server order.
    inbox: VecDeque<(ParticipantId, ToClient)>,
    /// Clients whose messages the (cheating) server holds back.
    pub hold: BTreeSet<ParticipantId>,
    /// What it held, in order.
    pub held: Vec<(ParticipantId, ToClient)>,
    next_id: u32,
}

pub fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).expect("valid id")
}

impl Room {
    pub fn new() -> Room {
        Room::with_config(SessionConfig::default())
    }

    pub fn with_config(config: SessionConfig) -> Room {
        Room {
            name: "quiet-otter-lamp-42".into(),
            secret: RoomSecret::from_bytes([42; 16]),
            config,
            now: Instant::ZERO,
            ds: Ds::default(),
            clients: BTreeMap::new(),
            inbox: VecDeque::new(),
            hold: BTreeSet::new(),
            held: Vec::new(),
            next_id: 0,
        }
    }

    fn fresh_id(&mut self) -> ParticipantId {
        self.next_id += 1;
        pid(&format!("p{:04}", self.next_id))
    }

    fn client(&self, id: ParticipantId, identity: Identity, session: Session) -> Client {
        Client {
            id,
            identity,
            session,
            ring: KeyRing::new(KeyRingConfig::default()),
            events: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The first participant: creates the group.
    pub fn create(&mut self) -> ParticipantId {
        let id = self.fresh_id();
        let identity = Identity::generate().expect("identity");
        let session = Session::create(
            self.config,
            &identity,
            id.clone(),
            &self.name,
            &self.secret,
            self.now,
        )
        .expect("create");
        let c = self.client(id.clone(), identity, session);
        self.clients.insert(id.clone(), c);
        self.ds.members.insert(id.clone());
        self.ds.epoch = 0;
        self.drain(&id);
        id
    }

    /// A new participant connects, with the link or (knocking) without.
    pub fn connect(&mut self, with_secret: bool) -> ParticipantId {
        let identity = Identity::generate().expect("identity");
        self.connect_as(identity, with_secret)
    }

    pub fn connect_as(&mut self, identity: Identity, with_secret: bool) -> ParticipantId {
        let secret = with_secret.then(|| self.secret.clone());
        let id = self.connect_silently(identity, secret.as_ref());
        self.drain(&id);
        id
    }

    /// Connects a participant but leaves its KeyPackage in its session's
    /// outputs, for tests that tamper with it.
    pub fn connect_silently(
        &mut self,
        identity: Identity,
        secret: Option<&RoomSecret>,
    ) -> ParticipantId {
        let id = self.fresh_id();
        let session =
            Session::join(self.config, &identity, id.clone(), &self.name, secret).expect("join");
        let c = self.client(id.clone(), identity, session);
        self.clients.insert(id.clone(), c);
        self.ds.waiting.insert(id.clone(), None);
        id
    }

    /// A participant's connection closes.
    pub fn disconnect(&mut self, id: &ParticipantId) {
        self.clients.remove(id);
        self.gone(id);
    }

    fn gone(&mut self, id: &ParticipantId) {
        let was = self.ds.members.remove(id) | self.ds.waiting.remove(id).is_some();
        if was {
            for m in self.ds.members.clone() {
                self.inbox.push_back((
                    m,
                    ToClient::Left {
                        participant: id.clone(),
                    },
                ));
            }
        }
        // The last member left while others wait: the longest-waiting one
        // founds the group again (`become_creator`), epoch 0.
        if self.ds.members.is_empty()
            && let Some(first) = self.ds.waiting.keys().next().cloned()
        {
            self.ds.waiting.remove(&first);
            self.ds.members.insert(first.clone());
            self.ds.epoch = 0;
            self.inbox
                .push_back((first.clone(), ToClient::BecomeCreator));
            for (w, kp) in self.ds.waiting.clone() {
                if let Some(kp) = kp {
                    self.inbox.push_back((
                        first.clone(),
                        ToClient::JoinRequest {
                            participant: w,
                            key_package: kp,
                        },
                    ));
                }
            }
        }
    }

    /// Takes a client's outputs to the server, which handles each at once.
    fn drain(&mut self, id: &ParticipantId) {
        while let Some(out) = self
            .clients
            .get_mut(id)
            .and_then(|c| c.session.poll_output())
        {
            self.server_receive(id, out);
        }
        self.collect_events(id);
    }

    fn collect_events(&mut self, id: &ParticipantId) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(id) else {
            return;
        };
        while let Some(e) = c.session.poll_event() {
            match &e {
                Event::EpochKeys(k) => {
                    c.ring
                        .add_epoch(k.clone(), now)
                        .expect("epoch keys in order");
                }
                Event::KeyAck { leaf, epoch, .. } => c.ring.acknowledge(*epoch, *leaf, now),
                _ => {}
            }
            c.events.push(e);
        }
    }

    /// The server's handling of one message (`spec/protocol.md` §3).
    pub fn server_receive(&mut self, from: &ParticipantId, out: Output) {
        match out {
            Output::KeyPackage(kp) => {
                if let Some(slot) = self.ds.waiting.get_mut(from) {
                    *slot = Some(kp.clone());
                    for m in self.ds.members.clone() {
                        self.inbox.push_back((
                            m,
                            ToClient::JoinRequest {
                                participant: from.clone(),
                                key_package: kp.clone(),
                            },
                        ));
                    }
                }
            }
            Output::Commit(c) => {
                if !self.ds.members.contains(from) {
                    return;
                }
                if c.epoch != self.ds.epoch {
                    self.ds.stale += 1;
                    let current = self.ds.epoch;
                    self.inbox
                        .push_back((from.clone(), ToClient::StaleEpoch { current }));
                    return;
                }
                self.ds.epoch += 1;
                self.ds.won.push(Won {
                    from: from.clone(),
                    epoch: c.epoch,
                    commit: c.commit.clone(),
                    welcome: c.welcome.clone(),
                });
                self.inbox
                    .push_back((from.clone(), ToClient::CommitAccepted { epoch: c.epoch }));
                for m in self.ds.members.clone() {
                    if &m != from {
                        self.inbox.push_back((
                            m,
                            ToClient::Commit {
                                from: from.clone(),
                                epoch: c.epoch,
                                commit: c.commit.clone(),
                            },
                        ));
                    }
                }
                let Some(welcome) = c.welcome else { return };
                let joined: Vec<ParticipantId> = c
                    .welcome_to
                    .into_iter()
                    .filter(|j| self.ds.waiting.remove(j).is_some())
                    .collect();
                for j in joined {
                    self.ds.members.insert(j.clone());
                    self.inbox.push_back((
                        j.clone(),
                        ToClient::Welcome {
                            from: from.clone(),
                            welcome: welcome.clone(),
                        },
                    ));
                    for (w, kp) in self.ds.waiting.clone() {
                        if let Some(kp) = kp {
                            self.inbox.push_back((
                                j.clone(),
                                ToClient::JoinRequest {
                                    participant: w,
                                    key_package: kp,
                                },
                            ));
                        }
                    }
                }
            }
            Output::Application(data) => {
                if !self.ds.members.contains(from) {
                    return;
                }
                self.ds.relayed.push(data.clone());
                for m in self.ds.members.clone() {
                    if &m != from {
                        self.inbox.push_back((
                            m,
                            ToClient::Application {
                                from: from.clone(),
                                data: data.clone(),
                            },
                        ));
                    }
                }
            }
            Output::RefuseKnock(p) => {
                if self.ds.waiting.contains_key(&p) {
                    self.ds.refused.push(p.clone());
                    self.gone(&p);
                }
            }
            other => panic!("unexpected output {other:?}"),
        }
    }

    /// Hands one message to a client, as the server would.
    pub fn deliver(&mut self, to: &ParticipantId, msg: ToClient) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(to) else {
            return;
        };
        let s = &mut c.session;
        let r = match msg {
            ToClient::JoinRequest {
                participant,
                key_package,
            } => s.handle_join_request(participant, &key_package, now),
            ToClient::Commit {
                from,
                epoch,
                commit,
            } => s.handle_commit(&from, epoch, &commit, now),
            ToClient::CommitAccepted { epoch } => s.handle_commit_accepted(epoch, now),
            ToClient::StaleEpoch { current } => s.handle_commit_rejected(current),
            ToClient::Welcome { from, welcome } => s.handle_welcome(&from, &welcome, now),
            ToClient::Application { from, data } => s.handle_application(&from, &data),
            ToClient::Left { participant } => {
                s.handle_departure(participant, now);
                Ok(())
            }
            ToClient::BecomeCreator => s.handle_become_creator(now),
        };
        if let Err(e) = r {
            c.errors.push(e);
        }
        self.drain(to);
    }

    /// Delivers everything queued, in server order (holding back what is
    /// for held clients).
    fn deliver_all(&mut self) {
        while let Some((to, msg)) = self.inbox.pop_front() {
            if self.hold.contains(&to) {
                self.held.push((to, msg));
            } else {
                self.deliver(&to, msg);
            }
        }
    }

    /// Releases what was held for `id` and delivers it in order.
    pub fn release(&mut self, id: &ParticipantId) {
        self.hold.remove(id);
        let (mine, rest): (Vec<_>, Vec<_>) = self.held.drain(..).partition(|(to, _)| to == id);
        self.held = rest;
        for (to, msg) in mine {
            self.deliver(&to, msg);
        }
    }

    /// Moves the clock to `t` and runs every client's timers once, without
    /// delivering anything: commits made now race at the server.
    pub fn tick_without_delivery(&mut self, t: Instant) {
        self.now = self.now.max(t);
        self.tick_all();
    }

    fn next_timer(&self) -> Option<Instant> {
        self.clients
            .values()
            .filter_map(|c| c.session.poll_timeout())
            .min()
    }

    /// Hands the server whatever clients produced outside a delivery
    /// (calls a test made on a session directly).
    pub fn flush(&mut self) {
        let ids: Vec<ParticipantId> = self.clients.keys().cloned().collect();
        for id in ids {
            self.drain(&id);
        }
    }

    /// Moves the clock to `t`, running every timer on the way.
    pub fn advance_to(&mut self, t: Instant) {
        self.flush();
        loop {
            self.deliver_all();
            match self.next_timer() {
                Some(due) if due <= t => {
                    self.now = self.now.max(due);
                    self.tick_all();
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
        self.tick_all();
        self.deliver_all();
    }

    pub fn advance(&mut self, d: Duration) {
        let t = self.now + d;
        self.advance_to(t);
    }

    fn tick_all(&mut self) {
        let now = self.now;
        let ids: Vec<ParticipantId> = self.clients.keys().cloned().collect();
        for id in ids {
            if let Some(c) = self.clients.get_mut(&id) {
                if let Err(e) = c.session.tick(now) {
                    c.errors.push(e);
                }
                c.ring.handle_timeout(now);
            }
            self.drain(&id);
        }
    }

    /// Runs until no message is in flight and no commit is due within the
    /// next 5 s (self-updates are minutes away).
    pub fn settle(&mut self) {
        self.flush();
        loop {
            self.deliver_all();
            match self.next_timer() {
                Some(t) if t <= self.now + Duration::from_secs(5) => self.advance_to(t),
                _ => break,
            }
        }
    }

    pub fn get(&self, id: &ParticipantId) -> &Client {
        self.clients.get(id).expect("client")
    }

    pub fn get_mut(&mut self, id: &ParticipantId) -> &mut Client {
        self.clients.get_mut(id).expect("client")
    }

    pub fn members(&self) -> Vec<ParticipantId> {
        self.clients
            .values()
            .filter(|c| c.session.state() == State::Member)
            .map(|c| c.id.clone())
            .collect()
    }

    /// Every member is in the server's epoch with the same room code, and
    /// sees exactly the server's member set.
    pub fn assert_consistent(&self) {
        let expected: BTreeSet<ParticipantId> = self.ds.members.clone();
        let mut code = None;
        for c in self.clients.values() {
            if c.session.state() != State::Member {
                continue;
            }
            assert_eq!(c.session.epoch(), Some(self.ds.epoch), "{:?} epoch", c.id);
            let seen: BTreeSet<ParticipantId> = c
                .session
                .members()
                .into_iter()
                .map(|m| m.participant)
                .collect();
            assert_eq!(seen, expected, "{:?} roster", c.id);
            let rc = c.session.room_code().expect("room code");
            match &code {
                None => code = Some(rc),
                Some(first) => assert_eq!(&rc, first, "{:?} room code", c.id),
            }
        }
    }

    /// Every member sends a frame on every source and every other member
    /// opens it and sees who sent it.
    pub fn assert_media_flows(&mut self) {
        let members = self.members();
        for (i, sender) in members.iter().enumerate() {
            let source = MediaSource::ALL[i % 4];
            let frame = [0x78, i as u8, 1, 2, 3, 4, 5, 6];
            let wire = self
                .get_mut(sender)
                .ring
                .protect(Codec::Opus, source, &frame)
                .expect("protect");
            for receiver in &members {
                if receiver == sender {
                    continue;
                }
                let got = self
                    .get_mut(receiver)
                    .ring
                    .unprotect(Codec::Opus, &wire)
                    .unwrap_or_else(|e| panic!("{receiver:?} cannot open {sender:?}: {e}"));
                assert_eq!(got.frame, frame);
                assert_eq!(&got.origin.participant, sender);
                assert_eq!(got.origin.source, source);
            }
        }
    }

    pub fn assert_no_errors(&self) {
        for c in self.clients.values() {
            assert!(c.errors.is_empty(), "{:?}: {:?}", c.id, c.errors);
        }
    }

    /// A room of `n` members who joined one by one.
    pub fn of_size(n: usize) -> (Room, Vec<ParticipantId>) {
        let mut room = Room::new();
        let mut ids = vec![room.create()];
        for _ in 1..n {
            ids.push(room.connect(true));
            room.settle();
        }
        (room, ids)
    }
}
