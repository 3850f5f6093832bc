//! The SFU: forwards members' SFrame-protected RTP it cannot read
//! (spec/protocol.md §4.6, §6).
//!
//! # Shape
//!
//! * [`Sfu::start`] binds one UDP socket that every peer connection of the
//!   server shares, and starts one media thread that owns everything: the
//!   socket, every member's two `rtc` peer connections (webrtc-rs's sans-IO
//!   core) and the forwarding tables. Nothing on the media path locks.
//! * Signalling calls the [`MediaPlane`](crate::media::MediaPlane) methods
//!   of the returned [`Sfu`]; they queue a command for the media thread and
//!   return at once. The media thread answers with
//!   [`MediaEvent`](crate::media::MediaEvent)s (SDP, errors, failures) on
//!   the channel signalling passed in, and counts into
//!   [`MediaStats`](crate::media::MediaStats).
//! * Inside the media thread a sans-IO engine does all the work; a thin
//!   driver feeds it datagrams, commands and time:
//!
//! ```text
//!   loop {
//!       send every engine.poll_transmit() on the socket
//!       pass every engine.poll_event() to signalling
//!       wait for the first of:
//!           a command          -> engine.handle_command(now, command)
//!           readable socket    -> engine.handle_datagram(now, from, bytes), for up to a batch
//!           engine.poll_timeout() -> engine.handle_timeout(now)
//!   }
//! ```
//!
//! The engine is built from pure parts tested on their own: routing
//! datagrams by ICE ufrag then address (`demux`), sequence and timestamp
//! rewriting (`rewrite`), keyframe request rate limiting (`keyframe`) and
//! `sub` offer queueing (`negotiation`).
//!
//! The server is ICE-lite: its SDP carries host candidates for
//! [`SfuConfig::candidate_ips`] on the shared port, and it learns each
//! member's address from the member's connectivity checks.

mod demux;
mod driver;
mod engine;
mod keyframe;
mod negotiation;
mod peer;
mod rewrite;
mod sdp_bounds;
#[cfg(feature = "test-tamper")]
pub mod tamper;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sotto_proto::{ClientMessage, ParticipantId, RoomName};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tracing::{info, warn};

use crate::media::{MediaEvent, MediaPlane, MediaStats};
use engine::{Command, Engine};

/// The default shared UDP port (spec/protocol.md §6).
pub const DEFAULT_UDP_PORT: u16 = 10_000;

/// How the SFU listens and what it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfuConfig {
    /// Where the shared UDP socket binds. Port 0 picks a free port (tests).
    pub udp_bind: SocketAddr,
    /// The addresses members reach the server at, announced as ICE host
    /// candidates on the bound port (a public IP behind 1:1 NAT, or the
    /// host's own addresses). Empty: the bind address if it is specific,
    /// else 127.0.0.1 (enough on localhost only).
    pub candidate_ips: Vec<IpAddr>,
    /// ICE-TCP port (RFC 6544 passive candidates, RFC 4571 framing) for
    /// members whose UDP is blocked, on the same addresses. Port 0 picks a
    /// free port (tests).
    pub tcp_port: Option<u16>,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            udp_bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_UDP_PORT)),
            candidate_ips: Vec::new(),
            tcp_port: None,
        }
    }
}

/// Why the SFU could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SfuError {
    /// The UDP socket could not be bound.
    #[error("could not bind the media port {addr}: {source}")]
    Bind {
        /// What was asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The media thread could not be started.
    #[error("could not start the media thread: {0}")]
    Thread(std::io::Error),
    /// The ICE-TCP port could not be bound.
    #[error("could not bind the ICE-TCP port {addr}: {source}")]
    BindTcp {
        /// What was asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running SFU: the [`MediaPlane`] signalling talks to. Dropping it (or
/// [`Sfu::shutdown`]) stops the media thread.
#[derive(Debug)]
pub struct Sfu {
    commands: UnboundedSender<Command>,
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    candidates: Vec<SocketAddr>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sfu {
    /// Binds the shared UDP port and starts the media thread. `events` is
    /// where [`MediaEvent`]s go; `stats` is counted into. Needs no async
    /// runtime from the caller: the media thread brings its own.
    pub fn start(
        config: SfuConfig,
        events: UnboundedSender<MediaEvent>,
        stats: Arc<MediaStats>,
    ) -> Result<Sfu, SfuError> {
        Sfu::launch(config, events, stats, |engine| engine)
    }

    /// [`Sfu::start`], with a cheat on the forwarding path: for tests that
    /// show what receivers make of an SFU that tampers with media.
    #[cfg(feature = "test-tamper")]
    pub fn start_tampering(
        config: SfuConfig,
        events: UnboundedSender<MediaEvent>,
        stats: Arc<MediaStats>,
        tamper: tamper::Tamper,
    ) -> Result<Sfu, SfuError> {
        Sfu::launch(config, events, stats, move |engine| {
            engine.with_tamper(tamper)
        })
    }

    fn launch(
        config: SfuConfig,
        events: UnboundedSender<MediaEvent>,
        stats: Arc<MediaStats>,
        setup: impl FnOnce(Engine) -> Engine,
    ) -> Result<Sfu, SfuError> {
        let tcp = match config.tcp_port {
            Some(port) => {
                let addr = SocketAddr::new(config.udp_bind.ip(), port);
                let bind = |source| SfuError::BindTcp { addr, source };
                let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
                listener.set_nonblocking(true).map_err(bind)?;
                Some(listener)
            }
            None => None,
        };
        let tcp_addr = match &tcp {
            Some(l) => Some(l.local_addr().map_err(|source| SfuError::BindTcp {
                addr: config.udp_bind,
                source,
            })?),
            None => None,
        };
        let tcp_port = tcp_addr.map(|a| a.port());
        let bind = |source| SfuError::Bind {
            addr: config.udp_bind,
            source,
        };
        let socket = UdpSocket::bind(config.udp_bind).map_err(bind)?;
        socket.set_nonblocking(true).map_err(bind)?;
        let local_addr = socket.local_addr().map_err(bind)?;
        let ips = if !config.candidate_ips.is_empty() {
            config.candidate_ips.clone()
        } else if !local_addr.ip().is_unspecified() {
            vec![local_addr.ip()]
        } else {
            warn!(
                "no candidate address configured: announcing 127.0.0.1, reachable from this host only"
            );
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        };
        let candidates: Vec<SocketAddr> = ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, local_addr.port()))
            .collect();
        let tcp_candidates: Vec<SocketAddr> = tcp_port
            .map(|port| {
                candidates
                    .iter()
                    .map(|c| SocketAddr::new(c.ip(), port))
                    .collect()
            })
            .unwrap_or_default();
        let engine = setup(
            Engine::new(candidates.clone(), Arc::clone(&stats)).with_tcp_candidates(tcp_candidates),
        );
        let (commands, inbox) = unbounded_channel();
        let thread =
            driver::spawn(socket, tcp, engine, inbox, events, stats).map_err(SfuError::Thread)?;
        info!(port = local_addr.port(), tcp_port, "SFU listening");
        Ok(Sfu {
            commands,
            local_addr,
            tcp_addr,
            candidates,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The bound UDP address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound ICE-TCP address, if there is a TCP port.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The ICE host candidates the SFU announces.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// Closes every peer connection and stops the media thread; returns
    /// once it has.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
        let thread = self.thread.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            warn!("the media thread panicked");
        }
    }

    fn command(&self, command: Command) {
        if self.commands.send(command).is_err() {
            warn!("the media thread is gone");
        }
    }
}

impl Drop for Sfu {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

impl MediaPlane for Sfu {
    fn add_member(&self, room: &RoomName, participant: &ParticipantId) {
        self.command(Command::AddMember(room.clone(), participant.clone()));
    }

    fn remove_member(&self, room: &RoomName, participant: &ParticipantId) {
        self.command(Command::RemoveMember(room.clone(), participant.clone()));
    }

    fn signal(&self, room: &RoomName, participant: &ParticipantId, message: ClientMessage) {
        self.command(Command::Signal(room.clone(), participant.clone(), message));
    }
}
