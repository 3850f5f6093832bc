//! Peer connections to the SFU, with the `webrtc` crate's async layer.
//!
//! Each member has two (spec §6): `pub`, offered by us, sending our tracks;
//! `sub`, offered by the server, receiving everyone else's. Both are built
//! here the same way: Opus and VP8 only, NACK and RTCP reports, and an
//! interceptor that lets keyframe requests through to the application (by
//! default incoming RTCP stops inside the interceptor chain).

use std::net::IpAddr;
use std::sync::Arc;

use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_nack, configure_rtcp_reports,
};
use rtc::peer_connection::transport::RTCIceCandidateInit;
use sotto_proto::{IceServer, PcKind};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

pub use sotto_peer::is_keyframe_request;

/// A peer connection, shareable between tasks.
pub type Pc = Arc<dyn PeerConnection>;

/// What a peer connection tells the room.
pub enum PeerEvent {
    /// A local ICE candidate to trickle; `None` at the end of gathering.
    Candidate {
        /// Which connection.
        pc: PcKind,
        /// The candidate.
        candidate: Option<RTCIceCandidateInit>,
    },
    /// The connection's state changed.
    State {
        /// Which connection.
        pc: PcKind,
        /// The new state.
        state: RTCPeerConnectionState,
    },
    /// A remote track started (on `sub`).
    Track {
        /// Which connection.
        pc: PcKind,
        /// The track.
        track: Arc<dyn TrackRemote>,
    },
}

impl std::fmt::Debug for PeerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerEvent::Candidate { pc, candidate } => f
                .debug_struct("Candidate")
                .field("pc", pc)
                .field("end", &candidate.is_none())
                .finish(),
            PeerEvent::State { pc, state } => f
                .debug_struct("State")
                .field("pc", pc)
                .field("state", state)
                .finish(),
            PeerEvent::Track { pc, .. } => f.debug_struct("Track").field("pc", pc).finish(),
        }
    }
}

/// Where and how peer connections are made.
#[derive(Debug, Clone, Default)]
pub struct PeerSetup {
    /// STUN/TURN servers (from the server's `joined`).
    pub ice_servers: Vec<IceServer>,
    /// Local addresses to bind UDP sockets to (`ip:0`). Empty: every
    /// non-loopback interface.
    pub bind: Vec<IpAddr>,
    /// Gather and use relayed (TURN) candidates only.
    pub relay_only: bool,
}

/// A failure of the WebRTC stack.
#[derive(Debug, thiserror::Error)]
#[error("WebRTC: {0}")]
pub struct PeerError(#[from] pub webrtc::error::Error);

struct Handler {
    pc: PcKind,
    events: mpsc::UnboundedSender<PeerEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.events.send(PeerEvent::Candidate {
                pc: self.pc,
                candidate: Some(init),
            });
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.events.send(PeerEvent::Candidate {
                pc: self.pc,
                candidate: None,
            });
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State { pc: self.pc, state });
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PeerEvent::Track { pc: self.pc, track });
    }
}

/// Builds one of a member's two peer connections. Its events go to
/// `events`.
pub async fn build(
    pc: PcKind,
    setup: &PeerSetup,
    events: mpsc::UnboundedSender<PeerEvent>,
) -> Result<Pc, PeerError> {
    let mut engine = sotto_peer::media_engine(false)?;
    let registry = configure_nack(Registry::new(), &mut engine);
    let registry = configure_rtcp_reports(registry);
    // Last in the chain, so the interceptors above have seen all RTCP.
    let registry = registry.with(Slot::from(14_000), sotto_peer::KeyframeRequests::default());
    let ice_servers = setup
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let policy = if setup.relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(policy)
        .build();
    let bind: Vec<String> = if setup.bind.is_empty() {
        vec!["0.0.0.0:0".to_owned()]
    } else {
        setup
            .bind
            .iter()
            .map(|ip| format!("{}:0", bracket(*ip)))
            .collect()
    };
    let conn = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler { pc, events }))
        .with_udp_addrs(bind)
        .build()
        .await?;
    Ok(Arc::new(conn))
}

/// Closes `pc` from a `Drop`: webrtc-rs keeps a connection's driver task
/// (its sockets and timers) running on the runtime until the connection
/// is closed, so one that ends without `close` (a participation aborted as
/// if the process died, or dropped on an error path) would leak them.
/// Closing twice does no harm.
pub(crate) fn close_when_dropped(pc: &Pc) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let pc = Arc::clone(pc);
        runtime.spawn(async move {
            let _ = pc.close().await;
        });
    }
}

fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
