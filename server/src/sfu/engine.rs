//! The media engine: every member's peer connections, the forwarding
//! tables, and the glue between them. Sans-IO like the `rtc` peer
//! connections it owns: it takes commands, datagrams and time, and hands
//! back datagrams to send, events for signalling, and its next deadline.
//!
//! ```text
//!   loop {
//!       while let Some(t) = engine.poll_transmit() { socket.send_to(&t.payload, t.destination) }
//!       while let Some(e) = engine.poll_event() { signalling.send(e) }
//!       select! {
//!           command  => engine.handle_command(now, command),
//!           datagram => engine.handle_datagram(now, from, &bytes),
//!           engine.poll_timeout() => engine.handle_timeout(now),
//!       }
//!   }
//! ```
//!
//! One thread owns the engine, so nothing in here locks, and the per-packet
//! path (`handle_datagram` → forward) allocates nothing of its own.

mod media;
mod members;
mod signal;

use members::failure_deadline;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtp_transceiver::RTCRtpReceiverId;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use sotto_proto::{
    ClientMessage, ErrorCode, ParticipantId, PcKind, RoomName, ServerMessage, TrackSource,
};
use tracing::{debug, trace};

use super::demux::{Demux, Unrouted};
use super::keyframe::KeyframeLimiter;
use super::negotiation::SubNegotiation;
use super::rewrite::SeqRewriter;
use crate::media::{MediaEvent, MediaStats};

/// How long a peer connection may stay disconnected or failed before its
/// member is reported (spec/protocol.md §6).
pub(crate) const FAILED_AFTER: Duration = Duration::from_secs(10);
/// How long a peer connection may take to connect at all, from its first
/// remote description, before its member is reported.
pub(crate) const CONNECT_WITHIN: Duration = Duration::from_secs(20);
/// A member's own `media_restart` is acted on at most this often.
pub(crate) const RESTART_EVERY: Duration = Duration::from_secs(5);

/// What signalling asks of the media thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// `MediaPlane::add_member`.
    AddMember(RoomName, ParticipantId),
    /// `MediaPlane::remove_member`.
    RemoveMember(RoomName, ParticipantId),
    /// `MediaPlane::signal`.
    Signal(RoomName, ParticipantId, ClientMessage),
    /// Close every peer connection: the server is stopping.
    Shutdown,
}

/// One datagram to send.
#[derive(Debug)]
pub(crate) struct Transmit {
    /// Where to.
    pub(crate) destination: SocketAddr,
    /// Over the ICE-TCP connection from `destination` (RFC 4571 framing),
    /// else the UDP socket.
    pub(crate) tcp: bool,
    /// What.
    pub(crate) payload: BytesMut,
}

/// A member, inside the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MemberId(u32);

/// A published track, inside the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TrackId(u64);

/// One of a member's two peer connections: what the demultiplexer routes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PcRef {
    member: MemberId,
    pc: PcKind,
}

/// A peer connection and what the engine tracks about it.
struct Peer {
    pc: RTCPeerConnection,
    connected: bool,
    ever_connected: bool,
    /// When it first got a remote description (ICE starts then).
    started: Option<Instant>,
    /// Since when it has been disconnected or failed.
    troubled_since: Option<Instant>,
    /// Its next timer, cached so the engine's deadline is cheap to find.
    deadline: Option<Instant>,
    /// Queued for draining its output.
    queued: bool,
}

/// A track a member publishes on its `pub` connection.
struct PubTrack {
    id: TrackId,
    mid: String,
    source: TrackSource,
    /// `rtc`'s track id, known once media arrives.
    rtc_track: Option<String>,
    receiver: Option<RTCRtpReceiverId>,
    /// SSRC of the latest packet: what PLIs name.
    ssrc: Option<u32>,
    keyframes: KeyframeLimiter,
}

/// A `pub` media section on which media has started.
struct Opened {
    mid: String,
    rtc_track: String,
    receiver: RTCRtpReceiverId,
    ssrc: u32,
}

/// Where a forwarded track is in the `sub` negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubState {
    /// To be added at the next offer.
    Pending,
    /// Added and offered; not answered yet.
    Offered,
    /// Answered: media flows once the connection is up.
    Negotiated,
}

/// Another member's track, forwarded on a member's `sub` connection.
struct SubTrack {
    publisher: ParticipantId,
    source: TrackSource,
    kind: RtpCodecKind,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    payload_type: u8,
    sender: Option<RTCRtpSenderId>,
    state: SubState,
    /// Whether the publisher has been asked for a keyframe for this
    /// subscriber's attachment.
    attached: bool,
    rewriter: SeqRewriter,
}

/// A member of a room, as the media plane sees it.
struct Member {
    room: RoomName,
    participant: ParticipantId,
    publisher: Option<Peer>,
    subscriber: Option<Peer>,
    published: Vec<PubTrack>,
    /// Media sections whose media has started, by mid: a track published
    /// (again) on one of them later is tied to it at once.
    opened: Vec<Opened>,
    subscribed: HashMap<TrackId, SubTrack>,
    negotiation: SubNegotiation,
    /// Media sections of the latest `sub` offer: what bounds the answer.
    sub_sections: usize,
    /// When its media last started over, if it did.
    restarted: Option<Instant>,
}

impl Member {
    fn peer_mut(&mut self, pc: PcKind) -> Option<&mut Peer> {
        match pc {
            PcKind::Pub => self.publisher.as_mut(),
            PcKind::Sub => self.subscriber.as_mut(),
        }
    }
}

/// The media engine. See the module docs.
pub(crate) struct Engine {
    candidates: Vec<SocketAddr>,
    /// ICE-TCP passive candidates (the TCP port on each address), if any.
    tcp_candidates: Vec<SocketAddr>,
    stats: Arc<MediaStats>,
    members: HashMap<MemberId, Member>,
    ids: HashMap<(RoomName, ParticipantId), MemberId>,
    rooms: HashMap<RoomName, Vec<MemberId>>,
    /// Each published track's subscribers.
    fanout: HashMap<TrackId, Vec<MemberId>>,
    /// Each published track's publisher.
    owners: HashMap<TrackId, MemberId>,
    demux: Demux<PcRef>,
    next_member: u32,
    next_track: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MediaEvent>,
    /// Peer connections with output to drain.
    queue: Vec<PcRef>,
    /// A test's cheat on the forwarding path (`super::tamper`).
    #[cfg(feature = "test-tamper")]
    tamper: Option<super::tamper::Tamper>,
}

impl Engine {
    /// An engine whose peer connections announce `candidates` (the shared
    /// port on each public address).
    pub(crate) fn new(candidates: Vec<SocketAddr>, stats: Arc<MediaStats>) -> Self {
        Engine {
            candidates,
            tcp_candidates: Vec::new(),
            stats,
            members: HashMap::new(),
            ids: HashMap::new(),
            rooms: HashMap::new(),
            fanout: HashMap::new(),
            owners: HashMap::new(),
            demux: Demux::default(),
            next_member: 0,
            next_track: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            queue: Vec::new(),
            #[cfg(feature = "test-tamper")]
            tamper: None,
        }
    }

    /// The same engine, announcing ICE-TCP passive candidates too.
    pub(crate) fn with_tcp_candidates(mut self, tcp: Vec<SocketAddr>) -> Self {
        self.tcp_candidates = tcp;
        self
    }

    /// The same engine, forwarding what `tamper` makes of each packet.
    #[cfg(feature = "test-tamper")]
    pub(crate) fn with_tamper(mut self, tamper: super::tamper::Tamper) -> Self {
        self.tamper = Some(tamper);
        self
    }

    /// Next datagram to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for signalling.
    pub(crate) fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// A command from signalling.
    pub(crate) fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::AddMember(room, participant) => self.add_member(now, room, participant),
            Command::RemoveMember(room, participant) => {
                if let Some(id) = self.ids.get(&(room, participant)).copied() {
                    self.remove_member(now, id);
                }
            }
            Command::Shutdown => {
                let all: Vec<MemberId> = self.members.keys().copied().collect();
                for id in all {
                    self.remove_member(now, id);
                }
            }
            Command::Signal(room, participant, message) => {
                match self.ids.get(&(room.clone(), participant.clone())).copied() {
                    Some(id) => self.signal(now, id, message),
                    None => self.events.push_back(MediaEvent::Signal {
                        room,
                        participant,
                        message: error(
                            ErrorCode::NotAMember,
                            "media negotiation is for members",
                            &message,
                        ),
                    }),
                }
            }
        }
        self.flush();
    }

    /// A datagram that arrived on the shared port.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        datagram: &[u8],
    ) {
        self.handle_packet(now, from, local, TransportProtocol::UDP, datagram);
    }

    /// A frame from an ICE-TCP connection (RFC 4571: one STUN, DTLS or
    /// SRTP message), from `from` to our listening address `local`.
    pub(crate) fn handle_tcp_frame(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        frame: &[u8],
    ) {
        self.handle_packet(now, from, local, TransportProtocol::TCP, frame);
    }

    fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        protocol: TransportProtocol,
        datagram: &[u8],
    ) {
        let at = match self.demux.route(from, datagram) {
            Ok(at) => at,
            Err(why) => {
                self.stats.dropped();
                if why == Unrouted::Garbage {
                    trace!(
                        bytes = datagram.len(),
                        "dropped a datagram that is not WebRTC"
                    );
                }
                return;
            }
        };
        let Some(peer) = self
            .members
            .get_mut(&at.member)
            .and_then(|m| m.peer_mut(at.pc))
        else {
            self.stats.dropped();
            return;
        };
        let read = peer.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: local,
                peer_addr: from,
                ecn: None,
                transport_protocol: protocol,
            },
            message: BytesMut::from(datagram),
        });
        if let Err(err) = read {
            debug!(%err, "peer connection refused a datagram");
            self.stats.dropped();
        }
        self.drain(now, at);
        self.flush();
    }

    /// The local address datagrams from `from` count as received on: the
    /// candidate of the same address family.
    pub(crate) fn local_for(&self, from: SocketAddr) -> Option<SocketAddr> {
        self.candidates
            .iter()
            .find(|c| c.is_ipv4() == from.is_ipv4())
            .or_else(|| self.candidates.first())
            .copied()
    }

    /// The listening address ICE-TCP frames from `from` count as received
    /// on: the TCP candidate of the same address family.
    pub(crate) fn local_tcp_for(&self, from: SocketAddr) -> Option<SocketAddr> {
        self.tcp_candidates
            .iter()
            .find(|c| c.is_ipv4() == from.is_ipv4())
            .or_else(|| self.tcp_candidates.first())
            .copied()
    }

    /// Time has come to `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (&member, m) in &self.members {
            for (pc, peer) in [(PcKind::Pub, &m.publisher), (PcKind::Sub, &m.subscriber)] {
                if let Some(peer) = peer
                    && peer.deadline.is_some_and(|d| d <= now)
                {
                    due.push(PcRef { member, pc });
                }
            }
        }
        for at in due {
            if let Some(peer) = self
                .members
                .get_mut(&at.member)
                .and_then(|m| m.peer_mut(at.pc))
                && let Err(err) = peer.pc.handle_timeout(now)
            {
                debug!(%err, "peer connection timer failed");
            }
            self.drain(now, at);
        }
        self.keyframe_timeouts(now);
        self.check_failures(now);
        self.flush();
    }

    /// The engine's next deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for m in self.members.values() {
            for peer in [&m.publisher, &m.subscriber].into_iter().flatten() {
                consider(peer.deadline);
                consider(failure_deadline(peer));
            }
            for track in &m.published {
                consider(track.keyframes.poll_timeout());
            }
        }
        next
    }

    /// Queues `at` for draining its output at the next flush.
    fn queue(&mut self, at: PcRef) {
        if let Some(peer) = self
            .members
            .get_mut(&at.member)
            .and_then(|m| m.peer_mut(at.pc))
            && !peer.queued
        {
            peer.queued = true;
            self.queue.push(at);
        }
    }

    /// Handles what a peer connection has for the application after input:
    /// state changes, new tracks, media and keyframe requests.
    fn drain(&mut self, now: Instant, at: PcRef) {
        loop {
            let Some(peer) = self
                .members
                .get_mut(&at.member)
                .and_then(|m| m.peer_mut(at.pc))
            else {
                return;
            };
            if let Some(event) = peer.pc.poll_event() {
                self.peer_event(now, at, event);
                continue;
            }
            let Some(TaggedRTCMessage { message, .. }) = peer.pc.poll_read() else {
                break;
            };
            match message {
                RTCMessage::RtpPacket(track, packet) if at.pc == PcKind::Pub => {
                    self.forward(now, at.member, &track, packet);
                }
                RTCMessage::RtcpPacket(_, packets) if at.pc == PcKind::Sub => {
                    self.keyframe_requests(now, at.member, &packets);
                }
                _ => {}
            }
        }
        self.queue(at);
    }

    fn peer_event(&mut self, now: Instant, at: PcRef, event: RTCPeerConnectionEvent) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                debug!(member = at.member.0, pc = ?at.pc, %state, "peer connection state");
                let Some(peer) = self
                    .members
                    .get_mut(&at.member)
                    .and_then(|m| m.peer_mut(at.pc))
                else {
                    return;
                };
                match state {
                    RTCPeerConnectionState::Connected => {
                        peer.connected = true;
                        peer.ever_connected = true;
                        peer.troubled_since = None;
                        if at.pc == PcKind::Sub {
                            self.attach(now, at.member);
                        }
                    }
                    RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed => {
                        peer.connected = false;
                        peer.troubled_since.get_or_insert(now);
                    }
                    _ => {}
                }
            }
            RTCPeerConnectionEvent::OnTrack(
                rtc::peer_connection::event::RTCTrackEvent::OnOpen(init),
            ) if at.pc == PcKind::Pub => {
                self.track_opened(at.member, init);
            }
            _ => {}
        }
    }

    /// Drains every queued peer connection's datagrams into the transmit
    /// queue and refreshes its deadline.
    fn flush(&mut self) {
        let queue = std::mem::take(&mut self.queue);
        for at in &queue {
            let Some(peer) = self
                .members
                .get_mut(&at.member)
                .and_then(|m| m.peer_mut(at.pc))
            else {
                continue;
            };
            peer.queued = false;
            while let Some(out) = peer.pc.poll_write() {
                self.transmits.push_back(Transmit {
                    destination: out.transport.peer_addr,
                    tcp: out.transport.transport_protocol == TransportProtocol::TCP,
                    payload: out.message,
                });
            }
            peer.deadline = peer.pc.poll_timeout();
        }
        self.queue = queue;
        self.queue.clear();
    }

    /// Sends `message` to member `id`.
    fn send(&mut self, id: MemberId, message: ServerMessage) {
        if let Some(m) = self.members.get(&id) {
            self.events.push_back(MediaEvent::Signal {
                room: m.room.clone(),
                participant: m.participant.clone(),
                message,
            });
        }
    }

    #[cfg(test)]
    fn routes(&self) -> usize {
        self.demux.bound_addresses()
    }
}

/// An `error` answering `message`.
fn error(code: ErrorCode, text: &str, message: &ClientMessage) -> ServerMessage {
    let in_reply_to = match message {
        ClientMessage::Sdp { .. } => "sdp",
        ClientMessage::Ice { .. } => "ice",
        ClientMessage::MediaRestart {} => "media_restart",
        _ => "unknown",
    };
    ServerMessage::Error {
        code,
        message: text.to_owned(),
        in_reply_to: Some(in_reply_to.to_owned()),
        current_epoch: None,
    }
}

#[cfg(test)]
mod tests;
