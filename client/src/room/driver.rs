//! The task behind a [`Room`](super::Room): the participant core
//! (`sotto_participant::Participant`) and what it asks for, carried out
//! with tokio: the signalling WebSocket, the media key ring, and the peer
//! connections ([`Call`]). Every rule lives in the core; this file only
//! moves bytes and keeps the order of the core's outputs.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngExt;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::keys::KeyRing;
use sotto_participant::{KeyUpdate, MediaCommand, Output, Participant};
use sotto_proto::{ClientMessage, IceServer, PcKind, SdpKind, ServerMessage, TrackSource};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::call::Call;
use super::{Command, Ended, Event, JoinOptions, RoomEvent};
use crate::keys::RingCrypto;
use crate::peer::{PeerEvent, PeerSetup};
use crate::publish::Outgoing;
use crate::signalling::{Signalling, Unreadable};
use crate::subscribe::{MediaEvent, Receiving};

/// How long opening the WebSocket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Driver {
    options: JoinOptions,
    core: Participant,
    events: mpsc::UnboundedSender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    ws: Option<Signalling>,
    ring: Arc<Mutex<KeyRing>>,
    crypto: Arc<RingCrypto>,
    call: Option<Call>,
    peer_tx: mpsc::UnboundedSender<PeerEvent>,
    peer_rx: mpsc::UnboundedReceiver<PeerEvent>,
    media_tx: mpsc::UnboundedSender<MediaEvent>,
    media_rx: mpsc::UnboundedReceiver<MediaEvent>,
    /// Local addresses for the media of the current connection.
    bind: Vec<IpAddr>,
    t0: Instant,
    ended: Option<Ended>,
}

impl Driver {
    pub(super) fn new(
        options: JoinOptions,
        secret: Option<RoomSecret>,
        events: mpsc::UnboundedSender<Event>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        let t0 = Instant::now();
        let seed = rand::rng().random::<u64>();
        let mut core = Participant::new(
            options.core_config(seed),
            options.identity.clone(),
            options.link.room.clone(),
            secret,
            options.name.clone(),
            sotto_crypto::Instant::ZERO,
        );
        // What we send, and whether we record what we receive: every member
        // is told, inside MLS (a recorder is never silent about it).
        let status = sotto_participant::MemberStatus {
            mic: options.audio.is_some(),
            camera: options.video.is_some(),
            hand: false,
            recording: options.record_dir.is_some(),
        };
        if let Err(e) = core.set_status(status, sotto_crypto::Instant::ZERO) {
            tracing::warn!(error = %e, "status refused");
        }
        let ring = Arc::new(Mutex::new(KeyRing::new(options.key_ring)));
        let crypto = Arc::new(RingCrypto::new(Arc::clone(&ring), t0));
        let (peer_tx, peer_rx) = mpsc::unbounded_channel();
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        Driver {
            options,
            core,
            events,
            commands,
            ws: None,
            ring,
            crypto,
            call: None,
            peer_tx,
            peer_rx,
            media_tx,
            media_rx,
            bind: Vec::new(),
            t0,
            ended: None,
        }
    }

    fn now(&self) -> sotto_crypto::Instant {
        let ms = u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        sotto_crypto::Instant::from_millis(ms)
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn warn(&self, message: String) {
        self.emit(Event::Room(RoomEvent::Warning { message }));
    }

    /// When the core or the key ring next needs time.
    fn deadline(&self) -> Instant {
        let ring = self.ring.lock().ok().and_then(|r| r.poll_timeout());
        [self.core.poll_timeout(), ring]
            .into_iter()
            .flatten()
            .min()
            .map(|t| self.t0 + Duration::from_millis(t.as_millis()))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    pub(super) async fn run(mut self) -> Ended {
        loop {
            self.carry_out().await;
            if let Some(ended) = self.ended.take() {
                self.stop_media().await;
                if let Some(ws) = self.ws.take() {
                    ws.close().await;
                }
                return ended;
            }
            let deadline = self.deadline();
            tokio::select! {
                msg = recv(&mut self.ws) => {
                    let now = self.now();
                    match msg {
                        Ok(Ok(m)) => self.core.handle_message(m, now),
                        Ok(Err(Unreadable(e))) => self.core.handle_unreadable(&e.message),
                        Err(e) => {
                            self.ws = None;
                            self.core.handle_disconnected(&e.to_string(), now);
                        }
                    }
                }
                cmd = self.commands.recv() => self.on_command(cmd),
                Some(ev) = self.peer_rx.recv() => self.on_peer(ev).await,
                Some(ev) = self.media_rx.recv() => self.emit(Event::Media(ev)),
                _ = tokio::time::sleep_until(deadline) => {
                    let now = self.now();
                    if let Ok(mut r) = self.ring.lock() {
                        r.handle_timeout(now);
                    }
                    self.core.handle_timeout(now);
                }
            }
        }
    }

    /// Carries out the core's outputs, in order.
    async fn carry_out(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Connect => self.connect().await,
                Output::Send(msg) => self.send(&msg).await,
                Output::Close => {
                    if let Some(ws) = self.ws.take() {
                        // What was sent before is on its way; close in the
                        // background so that a slow peer cannot hold us.
                        tokio::spawn(ws.close());
                    }
                }
                Output::Keys(k) => self.keys(k),
                Output::Media(m) => self.media(m).await,
                Output::Event(e) => {
                    if let RoomEvent::Ended(reason) = &e {
                        self.ended = Some(reason.clone());
                    }
                    self.emit(Event::Room(e));
                }
                _ => {}
            }
        }
    }

    async fn connect(&mut self) {
        let url = self.options.link.websocket_url();
        self.bind = match &self.options.bind {
            Some(b) => b.clone(),
            None => route_to(&url).await,
        };
        let ws = tokio::time::timeout(CONNECT_TIMEOUT, Signalling::connect(&url)).await;
        let now = self.now();
        match ws {
            Ok(Ok(ws)) => {
                self.ws = Some(ws);
                self.core.handle_connected(now);
            }
            Ok(Err(e)) => self.core.handle_disconnected(&e.to_string(), now),
            Err(_) => self
                .core
                .handle_disconnected("the WebSocket did not open", now),
        }
    }

    async fn send(&mut self, msg: &ClientMessage) {
        let Some(ws) = &mut self.ws else { return };
        if let Err(e) = ws.send(msg).await {
            self.ws = None;
            let now = self.now();
            self.core.handle_disconnected(&e.to_string(), now);
        }
    }

    fn keys(&self, update: KeyUpdate) {
        let now = self.now();
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        match update {
            KeyUpdate::Epoch(keys) => {
                if let Err(e) = ring.add_epoch(keys, now) {
                    drop(ring);
                    self.warn(format!("media keys refused: {e}"));
                }
            }
            KeyUpdate::Ack { epoch, leaf } => ring.acknowledge(epoch, leaf, now),
            KeyUpdate::Departed(p) => ring.departed(&p, now),
            KeyUpdate::Reset => *ring = KeyRing::new(self.options.key_ring),
            _ => {}
        }
    }

    async fn media(&mut self, command: MediaCommand) {
        match command {
            MediaCommand::Start { ice_servers } => self.start_media(ice_servers).await,
            MediaCommand::Signal(msg) => self.signal(msg).await,
            MediaCommand::Stop => self.stop_media().await,
            _ => {}
        }
    }

    async fn start_media(&mut self, ice_servers: Vec<IceServer>) {
        self.stop_media().await;
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
        let crypto = self.crypto.clone();
        let mut call = Call::new(
            PeerSetup {
                ice_servers,
                bind: self.bind.clone(),
                relay_only: self.options.relay_only,
            },
            outgoing,
            crypto.clone(),
            Receiving {
                crypto,
                record_dir: self.options.record_dir.clone(),
                events: self.media_tx.clone(),
                tap: self.options.wire_tap.clone(),
            },
            self.peer_tx.clone(),
            self.options.sent_tap.clone(),
        );
        match call.publish().await {
            Ok(Some(offer)) => self.send(&offer).await,
            Ok(None) => {}
            Err(e) => self.warn(format!("cannot publish: {e}")),
        }
        self.call = Some(call);
    }

    async fn stop_media(&mut self) {
        if let Some(mut call) = self.call.take() {
            call.close().await;
            // Closing ended the received tracks: report them (with their
            // recordings, now complete).
            while let Ok(ev) = self.media_rx.try_recv() {
                self.emit(Event::Media(ev));
            }
        }
    }

    /// An `sdp` or `ice` message from the server.
    async fn signal(&mut self, msg: ServerMessage) {
        let Some(call) = &mut self.call else { return };
        match msg {
            ServerMessage::Sdp {
                pc: PcKind::Pub,
                kind: SdpKind::Answer,
                sdp,
                ..
            } => {
                if let Err(e) = call.on_answer(sdp).await {
                    self.warn(format!("publishing answer refused: {e}"));
                }
            }
            ServerMessage::Sdp {
                pc: PcKind::Sub,
                kind: SdpKind::Offer,
                sdp,
                tracks,
            } => match call.on_offer(&sdp, tracks).await {
                Ok(answer) => self.send(&answer).await,
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
                if let Err(e) = call.add_candidate(pc, init).await {
                    self.warn(format!("ICE candidate refused: {e}"));
                }
            }
            _ => {}
        }
    }

    fn on_command(&mut self, cmd: Option<Command>) {
        let now = self.now();
        let result = match cmd {
            Some(Command::Chat(text)) => self.core.send_chat(&text, now),
            Some(Command::SetName(name)) => self.core.set_name(&name, now),
            Some(Command::AcceptKnock(p, shown)) => self.core.accept_knock(&p, &shown, now),
            Some(Command::RefuseKnock(p)) => self.core.refuse_knock(&p, now),
            Some(Command::Remove(p)) => self.core.remove_member(&p, now),
            Some(Command::HeldKeys(tx)) => {
                let keys = self.ring.lock().map(|r| r.held_keys()).unwrap_or_default();
                let _ = tx.send(keys);
                Ok(())
            }
            Some(Command::Leave) | None => {
                self.core.leave();
                Ok(())
            }
        };
        if let Err(e) = result {
            self.warn(e.to_string());
        }
    }

    async fn on_peer(&mut self, ev: PeerEvent) {
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
                self.send(&msg).await;
            }
            PeerEvent::State { pc, state } => {
                // Our own connection failed: ask for new ones now rather
                // than wait for the server to notice (the core limits how
                // often).
                if state == webrtc::peer_connection::RTCPeerConnectionState::Failed {
                    let now = self.now();
                    self.core.handle_media_failed(now);
                }
                self.emit(Event::PeerState {
                    pc,
                    state: state.to_string(),
                });
            }
            PeerEvent::Track { track, .. } => {
                if let Some(call) = &mut self.call {
                    call.on_track(track).await;
                }
            }
        }
    }
}

/// The next message on the socket; pending for ever without one.
async fn recv(
    ws: &mut Option<Signalling>,
) -> Result<Result<ServerMessage, Unreadable>, crate::signalling::SignallingError> {
    match ws {
        Some(ws) => ws.recv().await,
        None => std::future::pending().await,
    }
}

/// The local address that routes to the host of `url`: media sockets are
/// bound to it alone (a wildcard would skip loopback, see FACTS.md).
async fn route_to(url: &str) -> Vec<IpAddr> {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or_default();
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else if url.starts_with("wss://") {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    let Ok(mut addrs) = tokio::net::lookup_host(with_port).await else {
        return Vec::new();
    };
    let Some(remote) = addrs.next() else {
        return Vec::new();
    };
    let local = if remote.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    };
    let Ok(socket) = std::net::UdpSocket::bind((local, 0)) else {
        return Vec::new();
    };
    // A UDP "connect" sends nothing; it only asks the kernel for a route.
    if socket.connect(remote).is_err() {
        return Vec::new();
    }
    socket
        .local_addr()
        .map(|a| vec![a.ip()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_servers_are_reached_from_loopback() {
        assert_eq!(
            route_to("ws://127.0.0.1:8080/ws").await,
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
        assert_eq!(
            route_to("ws://localhost:9/ws")
                .await
                .first()
                .map(|ip| ip.is_loopback()),
            Some(true)
        );
    }
}
