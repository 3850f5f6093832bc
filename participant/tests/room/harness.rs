//! Participants and the real delivery service in memory, on a virtual
//! clock.
//!
//! Each client is a [`Participant`] (the very core the native client and
//! the browser drive) with a media key ring fed from its outputs. The
//! server is `sotto_proto::delivery::Room`, the rules `sotto-server` runs.
//! Between them the harness moves messages in server order, and lets tests
//! cheat: hold a client's messages back, inject messages, keep what a
//! client sends from the server, record what the server decided.
//!
//! (Over 600 lines on purpose: the message loop, the clock and every
//! cheating hook share one `Room` state; split, its fields would have to
//! be public across modules.)

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::{EpochKeys, KeyRing, KeyRingConfig, TrackSource};
use sotto_crypto::media::Codec;
use sotto_crypto::session::SessionConfig;
use sotto_crypto::verify::Fingerprint;
use sotto_crypto::{Instant, ParticipantId};
use sotto_participant::{
    Config, EndReason, Event, KeyUpdate, MediaCommand, Output, Participant, Status,
};
use sotto_proto::delivery::{self, Input, RoomSettings};
use sotto_proto::{
    ClientMessage, ErrorCode, IceServer, LeaveReason, Limits, RoomName, ServerMessage,
};

/// A winning commit, as the server decided.
#[derive(Debug, Clone)]
pub struct Won {
    pub from: ParticipantId,
    pub epoch: u64,
    pub commit: Vec<u8>,
    pub welcome: Option<Vec<u8>>,
}

/// What the server did, for tests to look at (the server itself is
/// `Room::server`).
#[derive(Debug, Default)]
pub struct Record {
    /// The room's epoch after the last step.
    pub epoch: u64,
    /// Its members (as the server knows them) after the last step.
    pub members: BTreeSet<ParticipantId>,
    /// Its waiting participants after the last step.
    pub waiting: BTreeSet<ParticipantId>,
    pub won: Vec<Won>,
    /// `stale_epoch` answers.
    pub stale: u32,
    /// Every application message relayed, for "what the server sees".
    pub relayed: Vec<Vec<u8>>,
    /// Knockers refused.
    pub refused: Vec<ParticipantId>,
    /// Every KeyPackage the server received, by sender.
    pub key_packages: BTreeMap<ParticipantId, Vec<u8>>,
}

/// One participant, its key ring and what happened to it.
pub struct Client {
    /// Its identity (the participant keeps its own copy), to come back as.
    pub identity: Identity,
    pub identity_fingerprint: Fingerprint,
    pub participant: Participant,
    pub ring: KeyRing,
    pub events: Vec<Event>,
    /// Its current connection's id, once the server gave one.
    pub id: Option<ParticipantId>,
    /// Every id it had, oldest first.
    pub ids: Vec<ParticipantId>,
    /// Whether its signalling socket is open.
    pub open: bool,
    /// Media commands it gave (peer connections are not simulated).
    pub media: Vec<MediaCommand>,
    /// Every epoch's keys it handed its ring, across rings: all it ever held.
    pub given_keys: Vec<EpochKeys>,
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

    /// The warnings it reported (refused input).
    pub fn warnings(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Warning { message } => Some(message.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The last warning; panics if there is none.
    pub fn last_warning(&self) -> &str {
        self.warnings().last().copied().expect("a warning")
    }

    pub fn clear_warnings(&mut self) {
        self.events.retain(|e| !matches!(e, Event::Warning { .. }));
    }

    pub fn ended(&self) -> Option<&EndReason> {
        self.events.iter().find_map(|e| match e {
            Event::Ended(r) => Some(r),
            _ => None,
        })
    }

    pub fn is_member(&self) -> bool {
        self.participant.status() == Status::Member
    }

    /// The group's members as this client sees them.
    pub fn roster(&self) -> BTreeSet<ParticipantId> {
        self.participant
            .members()
            .into_iter()
            .map(|m| m.participant)
            .collect()
    }
}

/// A stable handle on a client: the id of its first connection.
pub type Handle = ParticipantId;

pub struct Room {
    pub name: RoomName,
    pub secret: RoomSecret,
    pub config: Config,
    pub now: Instant,
    /// The delivery service: the server's own rules.
    pub server: delivery::Room,
    pub ds: Record,
    pub clients: BTreeMap<Handle, Client>,
    /// Current connection id -> client.
    by_id: BTreeMap<ParticipantId, Handle>,
    /// Messages (and closes) on their way to clients, in server order.
    inbox: VecDeque<(ParticipantId, Delivery)>,
    /// Clients whose incoming messages the (cheating) server holds back.
    pub hold: BTreeSet<ParticipantId>,
    /// What it held, in order.
    pub held: Vec<(ParticipantId, ServerMessage)>,
    /// Clients whose outgoing messages never reach the server.
    pub gag: BTreeSet<ParticipantId>,
    /// What gagged clients sent.
    pub gagged: Vec<(ParticipantId, ClientMessage)>,
    next_id: u32,
}

/// What the server sends a connection: a message, or the closing of the
/// socket after what came before.
enum Delivery {
    Message(ServerMessage),
    Close,
}

pub fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).expect("valid id")
}

fn settings() -> Arc<RoomSettings> {
    Arc::new(RoomSettings {
        limits: Limits {
            max_message_bytes: 512 * 1024,
            max_participants: 100,
            messages_per_second: 20,
        },
        ice_servers: Vec::<IceServer>::new(),
    })
}

impl Room {
    pub fn new() -> Room {
        Room::with_session(SessionConfig::default())
    }

    pub fn with_session(session: SessionConfig) -> Room {
        Room::with_config(Config {
            session,
            ..Config::default()
        })
    }

    pub fn with_config(config: Config) -> Room {
        Room {
            name: RoomName::parse("quiet-otter-lamp-42").expect("name"),
            secret: RoomSecret::from_bytes([42; 16]),
            config,
            now: Instant::ZERO,
            server: delivery::Room::new(settings()),
            ds: Record::default(),
            clients: BTreeMap::new(),
            by_id: BTreeMap::new(),
            inbox: VecDeque::new(),
            hold: BTreeSet::new(),
            held: Vec::new(),
            gag: BTreeSet::new(),
            gagged: Vec::new(),
            next_id: 0,
        }
    }

    fn fresh_id(&mut self) -> ParticipantId {
        self.next_id += 1;
        pid(&format!("p{:04}", self.next_id))
    }

    /// The first participant: it finds the room empty and founds the group.
    pub fn create(&mut self) -> Handle {
        self.connect(true)
    }

    /// A new participant connects, with the link or (knocking) without.
    pub fn connect(&mut self, with_secret: bool) -> Handle {
        let identity = Identity::generate().expect("identity");
        self.connect_as(identity, with_secret)
    }

    pub fn connect_as(&mut self, identity: Identity, with_secret: bool) -> Handle {
        let secret = with_secret.then(|| self.secret.clone());
        self.connect_with(identity, secret, self.config)
    }

    /// A participant with its own secret (right, wrong or none) and
    /// configuration. Returns once its first connection joined.
    pub fn connect_with(
        &mut self,
        identity: Identity,
        secret: Option<RoomSecret>,
        config: Config,
    ) -> Handle {
        let handle = self.fresh_id();
        let fingerprint = identity.fingerprint();
        let participant = Participant::new(
            config,
            identity.clone(),
            self.name.clone(),
            secret,
            None,
            self.now,
        );
        self.clients.insert(
            handle.clone(),
            Client {
                identity,
                identity_fingerprint: fingerprint,
                participant,
                ring: KeyRing::new(KeyRingConfig::default()),
                events: Vec::new(),
                id: None,
                ids: Vec::new(),
                open: false,
                media: Vec::new(),
                given_keys: Vec::new(),
            },
        );
        self.drain(&handle);
        self.deliver_all();
        handle
    }

    /// The handle the next client will get (to gag it before it connects).
    pub fn next_handle(&self) -> Handle {
        pid(&format!("p{:04}", self.next_id + 1))
    }

    /// Stops gagging `id` and returns what it sent meanwhile.
    pub fn ungag(&mut self, id: &ParticipantId) -> Vec<ClientMessage> {
        self.gag.remove(id);
        let handle = self.handle_of(id);
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.gagged)
            .into_iter()
            .partition(|(from, _)| from == id || self.handle_of(from) == handle);
        self.gagged = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// A joiner whose KeyPackage the server never gets (the old harness's
    /// `connect_silently`): gagged while it connects, it is handed back for
    /// the test to tamper with and relay (`server_receive`).
    pub fn connect_silently(
        &mut self,
        identity: Identity,
        secret: Option<RoomSecret>,
    ) -> (Handle, Vec<u8>) {
        let handle = self.next_handle();
        self.gag.insert(handle.clone());
        self.connect_with(identity, secret, self.config);
        let kp = self.ungag(&handle).into_iter().find_map(|m| match m {
            ClientMessage::KeyPackage { key_package } => Some(key_package),
            _ => None,
        });
        (handle, kp.expect("a KeyPackage"))
    }

    /// The client a connection id belongs to (or a handle itself).
    fn handle_of(&self, id: &ParticipantId) -> Option<Handle> {
        if self.clients.contains_key(id) {
            return Some(id.clone());
        }
        self.by_id.get(id).cloned()
    }

    pub fn get(&self, id: &ParticipantId) -> &Client {
        let h = self.handle_of(id).expect("client");
        self.clients.get(&h).expect("client")
    }

    pub fn get_mut(&mut self, id: &ParticipantId) -> &mut Client {
        let h = self.handle_of(id).expect("client");
        self.clients.get_mut(&h).expect("client")
    }

    /// A client's current connection id.
    pub fn id_of(&self, handle: &Handle) -> ParticipantId {
        self.get(handle).id.clone().expect("connected")
    }

    /// Carries out a client's outputs.
    fn drain(&mut self, handle: &Handle) {
        loop {
            let now = self.now;
            let Some(c) = self.clients.get_mut(handle) else {
                return;
            };
            let Some(out) = c.participant.poll_output() else {
                return;
            };
            match out {
                Output::Connect => {
                    c.open = true;
                    c.id = None;
                    c.participant.handle_connected(now);
                }
                Output::Send(msg) => self.client_sent(handle, msg),
                Output::Close => {
                    c.open = false;
                    if let Some(id) = c.id.take() {
                        self.step(Input::Departed {
                            participant: id,
                            reason: LeaveReason::Disconnect,
                        });
                    }
                }
                Output::Keys(k) => match k {
                    KeyUpdate::Epoch(keys) => {
                        c.given_keys.push(keys.clone());
                        c.ring.add_epoch(keys, now).expect("epoch keys in order");
                    }
                    KeyUpdate::Ack { epoch, leaf } => c.ring.acknowledge(epoch, leaf, now),
                    KeyUpdate::Departed(p) => c.ring.departed(&p, now),
                    KeyUpdate::Reset => c.ring = KeyRing::new(KeyRingConfig::default()),
                    _ => {}
                },
                Output::Media(m) => c.media.push(m),
                Output::Event(e) => c.events.push(e),
                _ => {}
            }
        }
    }

    fn client_sent(&mut self, handle: &Handle, msg: ClientMessage) {
        let Some(c) = self.clients.get_mut(handle) else {
            return;
        };
        if !c.open {
            return;
        }
        if let ClientMessage::Join { .. } = msg {
            let id = if c.ids.is_empty() {
                handle.clone()
            } else {
                self.fresh_id()
            };
            let c = self.clients.get_mut(handle).expect("client");
            c.id = Some(id.clone());
            c.ids.push(id.clone());
            self.by_id.insert(id.clone(), handle.clone());
            self.step(Input::Join { participant: id });
            return;
        }
        let Some(id) = c.id.clone() else { return };
        if self.gag.contains(&id) || self.gag.contains(handle) {
            self.gagged.push((id, msg));
            return;
        }
        self.server_receive(&id, msg);
    }

    /// The server handles one message from `from`.
    pub fn server_receive(&mut self, from: &ParticipantId, msg: ClientMessage) {
        let sent = msg.clone();
        let outs = self.step(Input::Message {
            from: from.clone(),
            message: msg,
        });
        let mut relayed = false;
        for o in &outs {
            let delivery::Output::Send { to, message } = o else {
                continue;
            };
            match (message, &sent) {
                (
                    ServerMessage::CommitAccepted { epoch },
                    ClientMessage::Commit {
                        commit, welcome, ..
                    },
                ) if to == from => self.ds.won.push(Won {
                    from: from.clone(),
                    epoch: *epoch,
                    commit: commit.clone(),
                    welcome: welcome.clone(),
                }),
                (ServerMessage::Error { code, .. }, _) if *code == ErrorCode::StaleEpoch => {
                    self.ds.stale += 1;
                }
                (ServerMessage::Refused {}, _) => self.ds.refused.push(to.clone()),
                (ServerMessage::Application { .. }, _) => relayed = true,
                _ => {}
            }
        }
        match sent {
            ClientMessage::Application { data } if relayed => self.ds.relayed.push(data),
            ClientMessage::KeyPackage { key_package } => {
                self.ds.key_packages.insert(from.clone(), key_package);
            }
            _ => {}
        }
    }

    /// One step of the delivery service; its outputs are queued.
    fn step(&mut self, input: Input) -> Vec<delivery::Output> {
        let outs = self.server.handle(input);
        for o in &outs {
            match o {
                delivery::Output::Send { to, message } => {
                    self.inbox
                        .push_back((to.clone(), Delivery::Message(message.clone())));
                }
                delivery::Output::Close { participant, .. } => {
                    self.inbox.push_back((participant.clone(), Delivery::Close));
                }
                _ => {}
            }
        }
        self.ds.epoch = self.server.epoch();
        let (members, waiting) = self.server.participants();
        self.ds.members = members.into_iter().collect();
        self.ds.waiting = waiting.into_iter().collect();
        outs
    }

    /// Hands one message to a client, as the server would.
    pub fn deliver(&mut self, to: &ParticipantId, msg: ServerMessage) {
        let now = self.now;
        let Some(handle) = self.handle_of(to) else {
            return;
        };
        let Some(c) = self.clients.get_mut(&handle) else {
            return;
        };
        if c.id.as_ref() != Some(to) && &handle != to {
            return; // for a connection that is gone
        }
        c.participant.handle_message(msg, now);
        self.drain(&handle);
    }

    /// Delivers everything queued, in server order, and carries out the
    /// server's closes (holding back what is for held clients).
    fn deliver_all(&mut self) {
        while let Some((to, d)) = self.inbox.pop_front() {
            match d {
                Delivery::Close => self.close_by_server(&to),
                Delivery::Message(msg) => {
                    let held = self.hold.contains(&to)
                        || self.handle_of(&to).is_some_and(|h| self.hold.contains(&h));
                    if held {
                        self.held.push((to, msg));
                    } else {
                        self.deliver(&to, msg);
                    }
                }
            }
        }
    }

    /// The server closed `id`'s socket.
    fn close_by_server(&mut self, id: &ParticipantId) {
        let now = self.now;
        let Some(handle) = self.handle_of(id) else {
            return;
        };
        let Some(c) = self.clients.get_mut(&handle) else {
            return;
        };
        if c.id.as_ref() != Some(id) {
            return;
        }
        c.open = false;
        c.id = None;
        c.participant
            .handle_disconnected("closed by the server", now);
        self.drain(&handle);
    }

    /// `id`'s socket breaks (a network blip): the client hears it closed
    /// and the server announces it gone; the client comes back by itself.
    pub fn blip(&mut self, id: &ParticipantId) {
        let Some(handle) = self.handle_of(id) else {
            return;
        };
        if let Some(conn) = self.clients.get(&handle).and_then(|c| c.id.clone()) {
            self.close_by_server(&conn);
            self.server_departed(&conn);
        }
    }

    /// A client's connection drops (the process died, or the network).
    pub fn disconnect(&mut self, id: &ParticipantId) {
        if let Some(id) = self.vanish(id) {
            self.server_departed(&id);
        }
    }

    /// A client's process stops, and the server has not noticed yet (see
    /// [`server_departed`](Self::server_departed)). Returns the connection
    /// id it had.
    pub fn vanish(&mut self, id: &ParticipantId) -> Option<ParticipantId> {
        let handle = self.handle_of(id)?;
        self.clients.remove(&handle)?.id
    }

    /// The server notices that connection `id` is gone (or, cheating, says
    /// so of a client that is still there: it stays, and hears nothing).
    pub fn server_departed(&mut self, id: &ParticipantId) {
        self.step(Input::Departed {
            participant: id.clone(),
            reason: LeaveReason::Disconnect,
        });
        self.deliver_all();
    }

    /// Releases what was held for `id` and delivers it in order.
    pub fn release(&mut self, id: &ParticipantId) {
        self.hold.remove(id);
        let (mine, rest): (Vec<_>, Vec<_>) = self
            .held
            .drain(..)
            .partition(|(to, _)| to == id || self.by_id.get(to).is_some_and(|h| h == id));
        self.held = rest;
        for (to, msg) in mine {
            self.deliver(&to, msg);
        }
        self.deliver_all();
    }

    fn handles(&self) -> Vec<Handle> {
        self.clients.keys().cloned().collect()
    }

    fn next_timer(&self) -> Option<Instant> {
        self.clients
            .values()
            .flat_map(|c| [c.participant.poll_timeout(), c.ring.poll_timeout()])
            .flatten()
            .min()
    }

    fn tick_all(&mut self) {
        let now = self.now;
        for h in self.handles() {
            if let Some(c) = self.clients.get_mut(&h) {
                c.participant.handle_timeout(now);
                c.ring.handle_timeout(now);
            }
            self.drain(&h);
        }
    }

    /// Moves the clock to `t` and runs every client's timers once, without
    /// delivering anything: commits made now race at the server.
    pub fn tick_without_delivery(&mut self, t: Instant) {
        self.now = self.now.max(t);
        self.tick_all();
    }

    /// Carries out what clients produced outside a delivery (commands a
    /// test gave a participant directly) and delivers it.
    pub fn flush(&mut self) {
        for h in self.handles() {
            self.drain(&h);
        }
        self.deliver_all();
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

    /// Runs until no message is in flight and no timer is due within the
    /// next 5 s (self-updates are minutes away; a Welcome timeout is 30 s).
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

    /// Members (clients whose participant is in the group), by handle.
    pub fn members(&self) -> Vec<Handle> {
        self.clients
            .iter()
            .filter(|(_, c)| c.is_member())
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// Every member is in the server's epoch with the same room code, and
    /// sees exactly the server's member set.
    pub fn assert_consistent(&self) {
        let expected = self.ds.members.clone();
        let mut code = None;
        for (h, c) in &self.clients {
            if !c.is_member() {
                continue;
            }
            assert_eq!(c.participant.epoch(), Some(self.ds.epoch), "{h:?} epoch");
            assert_eq!(c.roster(), expected, "{h:?} roster");
            let rc = c.participant.room_code().expect("room code");
            match &code {
                None => code = Some(rc),
                Some(first) => assert_eq!(&rc, first, "{h:?} room code"),
            }
        }
    }

    /// Every member sends a frame on a source and every other member opens
    /// it and sees who sent it.
    pub fn assert_media_flows(&mut self) {
        let members = self.members();
        for (i, sender) in members.iter().enumerate() {
            let source = TrackSource::ALL[i % 4];
            let frame = [0x78, i as u8, 1, 2, 3, 4, 5, 6];
            let sender_id = self.id_of(sender);
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
                assert_eq!(got.origin.participant, sender_id);
                assert_eq!(got.origin.source, source);
            }
        }
    }

    /// No client reported a refused input.
    pub fn assert_no_errors(&self) {
        for (h, c) in &self.clients {
            assert!(c.warnings().is_empty(), "{h:?}: {:?}", c.warnings());
        }
    }

    /// A room of `n` members who joined one by one.
    pub fn of_size(n: usize) -> (Room, Vec<Handle>) {
        Room::of_size_with(Config::default(), n)
    }

    pub fn of_size_with(config: Config, n: usize) -> (Room, Vec<Handle>) {
        let mut room = Room::with_config(config);
        let mut ids = vec![room.create()];
        room.settle();
        for _ in 1..n {
            ids.push(room.connect(true));
            room.settle();
        }
        (room, ids)
    }
}
