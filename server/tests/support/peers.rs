//! Test participants for the SFU: each a pair of webrtc-rs (async) peer
//! connections, `pub` and `sub`, and a signalling loop that routes the
//! SFU's `MediaEvent`s to them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use sotto_proto::{
    ClientMessage, ParticipantId, PcKind, PublishedTrack, RoomName, SdpKind, ServerMessage,
    SubscribedTrack, TrackSource,
};
use sotto_server::media::{MediaEvent, MediaPlane, MediaStats};
use sotto_server::sfu::{Sfu, SfuConfig};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionState,
};
use webrtc::runtime::{Runtime, default_runtime};

pub use sotto_proto::TrackSource as Source;

/// What a publisher puts in packet `index` of its `source` track: who, what,
/// which packet, then a pattern, ~160 bytes in all.
pub fn expected_payload(who: &str, source: TrackSource, index: u32) -> Vec<u8> {
    let mut p = format!("{who}/{}/{index:08}/", source.as_str()).into_bytes();
    p.extend((0..128u32).map(|i| (i.wrapping_mul(31) ^ index) as u8));
    p
}

/// A packet a subscriber received.
#[derive(Debug, Clone)]
pub struct Received {
    pub stream: String,
    pub source: TrackSource,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl Received {
    /// The packet index the payload claims.
    pub fn index(&self) -> u32 {
        let text = String::from_utf8_lossy(&self.payload);
        text.split('/')
            .nth(2)
            .and_then(|i| i.parse().ok())
            .unwrap_or(u32::MAX)
    }
}

fn codec(kind: RtpCodecKind) -> (RTCRtpCodec, u8) {
    let source = match kind {
        RtpCodecKind::Video => TrackSource::Camera,
        _ => TrackSource::Mic,
    };
    let (codec, payload_type, _) = sotto_peer::codec_for(source);
    (codec, payload_type)
}

fn kind_of(source: TrackSource) -> RtpCodecKind {
    sotto_peer::rtp_kind(source.kind())
}

async fn build_pc(
    runtime: Arc<dyn Runtime>,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Arc<dyn PeerConnection> {
    let mut engine = sotto_peer::media_engine(false).expect("codecs");
    let registry =
        register_default_interceptors(Registry::new(), &mut engine).expect("interceptors");
    let registry = registry.with(Slot::from(14_000), sotto_peer::KeyframeRequests::default());
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_runtime(runtime)
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .build()
        .await
        .unwrap();
    Arc::new(pc)
}

struct PubHandler {
    connected: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PubHandler {
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.connected
            .store(state == RTCPeerConnectionState::Connected, Ordering::SeqCst);
    }
}

struct SubHandler {
    runtime: Arc<dyn Runtime>,
    received: Arc<Mutex<Vec<Received>>>,
    remote: Arc<Mutex<Vec<Arc<dyn TrackRemote>>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for SubHandler {
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.remote.lock().unwrap().push(track.clone());
        let received = self.received.clone();
        self.runtime.spawn(Box::pin(async move {
            let stream = track.stream_id().await;
            let source = TrackSource::from_name(&track.track_id().await);
            while let Some(event) = track.poll().await {
                if let (TrackRemoteEvent::OnRtpPacket(p), Some(source)) = (event, source) {
                    received.lock().unwrap().push(Received {
                        stream: stream.clone(),
                        source,
                        ssrc: p.header.ssrc,
                        payload: p.payload.to_vec(),
                    });
                }
            }
        }));
    }
}

/// One participant.
pub struct Client {
    pub id: ParticipantId,
    pub_pc: Arc<dyn PeerConnection>,
    sub_pc: Arc<dyn PeerConnection>,
    pub_connected: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<Received>>>,
    remote: Arc<Mutex<Vec<Arc<dyn TrackRemote>>>>,
    plis: Arc<Mutex<HashMap<TrackSource, u32>>>,
    sent_ssrcs: Mutex<Vec<u32>>,
    sub_offers: Mutex<Vec<Vec<SubscribedTrack>>>,
    stop: Arc<AtomicBool>,
}

impl Client {
    pub fn pub_connected(&self) -> bool {
        self.pub_connected.load(Ordering::SeqCst)
    }
    pub fn plis(&self, source: TrackSource) -> u32 {
        self.plis.lock().unwrap().get(&source).copied().unwrap_or(0)
    }
    pub fn sent_ssrcs(&self) -> Vec<u32> {
        self.sent_ssrcs.lock().unwrap().clone()
    }
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
    pub fn received_from(&self, who: &str, source: TrackSource) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.stream == who && r.source == source)
            .count()
    }
    pub fn sub_offers(&self) -> Vec<Vec<SubscribedTrack>> {
        self.sub_offers.lock().unwrap().clone()
    }

    /// Sends a PLI for the track `who`/`source` this client receives.
    pub async fn send_pli(&self, who: &str, source: TrackSource) {
        let tracks: Vec<_> = self.remote.lock().unwrap().clone();
        for t in tracks {
            if t.stream_id().await == who
                && TrackSource::from_name(&t.track_id().await) == Some(source)
            {
                let media_ssrc = t.ssrcs().await.first().copied().unwrap_or(0);
                t.write_rtcp(vec![Box::new(PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc,
                })])
                .await
                .unwrap();
                return;
            }
        }
        panic!("no such remote track");
    }

    /// Adds a track per source to `pub`, offers, and starts sending a
    /// packet per track every 20 ms.
    pub async fn publish(self: &Arc<Self>, h: &mut Harness, sources: &[TrackSource]) {
        self.publish_every(h, sources, Duration::from_millis(20))
            .await;
    }

    /// As [`Client::publish`], one packet per track every `interval`.
    pub async fn publish_every(
        self: &Arc<Self>,
        h: &mut Harness,
        sources: &[TrackSource],
        interval: Duration,
    ) {
        let mut tracks = Vec::new();
        for (i, &source) in sources.iter().enumerate() {
            let kind = kind_of(source);
            let (rtp_codec, payload_type) = codec(kind);
            let ssrc = 0x5070_0000 + i as u32 + (self.id.as_str().as_bytes()[0] as u32) * 16;
            self.sent_ssrcs.lock().unwrap().push(ssrc);
            let track = Arc::new(TrackLocalStaticRTP::new(sotto_peer::sending_track(
                self.id.as_str(),
                source.as_str(),
                kind,
                ssrc,
                rtp_codec,
            )));
            self.pub_pc
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .unwrap();
            tracks.push((source, track, ssrc, payload_type));
        }
        let offer = self.pub_pc.create_offer(None).await.unwrap();
        self.pub_pc.set_local_description(offer).await.unwrap();
        let sdp = self.pub_pc.local_description().await.unwrap().sdp;
        let mut published = Vec::new();
        let transceivers = self.pub_pc.get_transceivers().await;
        for t in &transceivers {
            let Some(sender) = t.sender().await.unwrap() else {
                continue;
            };
            let params = sender.get_parameters().await.unwrap();
            let ssrc = params
                .encodings
                .first()
                .and_then(|e| e.rtp_coding_parameters.ssrc);
            if let Some((source, ..)) = tracks.iter().find(|(_, _, s, _)| Some(*s) == ssrc) {
                published.push(PublishedTrack {
                    mid: t.mid().await.unwrap().unwrap(),
                    source: *source,
                });
            }
        }
        assert_eq!(published.len(), tracks.len());
        let message = serde_json::from_value::<ClientMessage>(serde_json::json!({
            "type": "sdp", "pc": "pub", "kind": "offer", "sdp": sdp, "tracks": published,
        }))
        .unwrap();
        h.sfu.signal(&h.room, &self.id, message);

        for (source, track, ssrc, payload_type) in tracks {
            // Count the keyframe requests that reach this track.
            let plis = self.plis.clone();
            let poll = track.clone();
            h.runtime.spawn(Box::pin(async move {
                while let Some(event) = poll.poll().await {
                    if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                        let n = packets
                            .iter()
                            .filter(|p| p.as_any().is::<PictureLossIndication>())
                            .count();
                        *plis.lock().unwrap().entry(source).or_default() += n as u32;
                    }
                }
            }));
            let who = self.id.as_str().to_owned();
            let stop = self.stop.clone();
            h.runtime.spawn(Box::pin(async move {
                let mut index = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: true,
                            payload_type,
                            sequence_number: index as u16,
                            timestamp: index.wrapping_mul(3000),
                            ssrc,
                            ..Default::default()
                        },
                        payload: expected_payload(&who, source, index).into(),
                    };
                    if track.write_rtp(packet).await.is_ok() {
                        index += 1;
                    }
                    tokio::time::sleep(interval).await;
                }
            }));
        }
    }
}

/// The SFU, the test's signalling, and the participants.
pub struct Harness {
    pub sfu: Arc<Sfu>,
    pub room: RoomName,
    pub runtime: Arc<dyn Runtime>,
    stats: Arc<MediaStats>,
    clients: Arc<Mutex<HashMap<ParticipantId, Arc<Client>>>>,
    errors: Arc<Mutex<Vec<ServerMessage>>>,
}

impl Harness {
    pub async fn start() -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let stats = Arc::new(MediaStats::default());
        let (tx, rx) = unbounded_channel();
        let config = SfuConfig {
            udp_bind: "127.0.0.1:0".parse().unwrap(),
            ..SfuConfig::default()
        };
        let sfu = Arc::new(Sfu::start(config, tx, stats.clone()).unwrap());
        let h = Harness {
            sfu,
            room: RoomName::parse("quiet-otter-lamp-42").unwrap(),
            runtime: default_runtime().unwrap(),
            stats,
            clients: Arc::default(),
            errors: Arc::default(),
        };
        tokio::spawn(route(
            rx,
            h.sfu.clone(),
            h.room.clone(),
            h.clients.clone(),
            h.errors.clone(),
        ));
        h
    }

    pub fn stats(&self) -> Arc<MediaStats> {
        self.stats.clone()
    }

    pub fn sfu_addr(&self) -> std::net::SocketAddr {
        self.sfu.local_addr()
    }

    pub fn errors(&self) -> Vec<ServerMessage> {
        self.errors.lock().unwrap().clone()
    }

    /// A new member of the room.
    pub async fn join(&mut self, name: &str) -> Arc<Client> {
        let connected = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let remote = Arc::new(Mutex::new(Vec::new()));
        let pub_pc = build_pc(
            self.runtime.clone(),
            Arc::new(PubHandler {
                connected: connected.clone(),
            }),
        )
        .await;
        let sub_pc = build_pc(
            self.runtime.clone(),
            Arc::new(SubHandler {
                runtime: self.runtime.clone(),
                received: received.clone(),
                remote: remote.clone(),
            }),
        )
        .await;
        let client = Arc::new(Client {
            id: ParticipantId::new(name).expect("valid id"),
            pub_pc,
            sub_pc,
            pub_connected: connected,
            received,
            remote,
            plis: Arc::default(),
            sent_ssrcs: Mutex::default(),
            sub_offers: Mutex::default(),
            stop: Arc::default(),
        });
        self.clients
            .lock()
            .unwrap()
            .insert(client.id.clone(), client.clone());
        self.sfu.add_member(&self.room, &client.id);
        client
    }

    /// `client` leaves: signalling tells the SFU, the client hangs up.
    pub async fn leave(&mut self, client: &Arc<Client>) {
        client.stop.store(true, Ordering::SeqCst);
        self.clients.lock().unwrap().remove(&client.id);
        self.sfu.remove_member(&self.room, &client.id);
        client.pub_pc.close().await.ok();
        client.sub_pc.close().await.ok();
    }

    pub async fn wait_until(&self, limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        let clients: Vec<_> = self.clients.lock().unwrap().values().cloned().collect();
        for c in clients {
            c.stop.store(true, Ordering::SeqCst);
            c.pub_pc.close().await.ok();
            c.sub_pc.close().await.ok();
        }
        let sfu = self.sfu.clone();
        tokio::task::spawn_blocking(move || sfu.shutdown())
            .await
            .unwrap();
    }
}

/// The test's signalling: SDP from the SFU to the peers and back.
async fn route(
    mut events: UnboundedReceiver<MediaEvent>,
    sfu: Arc<Sfu>,
    room: RoomName,
    clients: Arc<Mutex<HashMap<ParticipantId, Arc<Client>>>>,
    errors: Arc<Mutex<Vec<ServerMessage>>>,
) {
    while let Some(event) = events.recv().await {
        let MediaEvent::Signal {
            participant,
            message,
            ..
        } = event;
        let Some(client) = clients.lock().unwrap().get(&participant).cloned() else {
            continue;
        };
        // Peers closed by a test that is ending refuse descriptions: not an error of the SFU.
        match message {
            ServerMessage::Sdp {
                pc: PcKind::Pub,
                kind: SdpKind::Answer,
                sdp,
                ..
            } => {
                let _ = client
                    .pub_pc
                    .set_remote_description(RTCSessionDescription::answer(sdp).unwrap())
                    .await;
            }
            ServerMessage::Sdp {
                pc: PcKind::Sub,
                kind: SdpKind::Offer,
                sdp,
                tracks,
            } => {
                client.sub_offers.lock().unwrap().push(tracks);
                if client
                    .sub_pc
                    .set_remote_description(RTCSessionDescription::offer(sdp).unwrap())
                    .await
                    .is_err()
                {
                    continue;
                }
                let Ok(answer) = client.sub_pc.create_answer(None).await else {
                    continue;
                };
                if client.sub_pc.set_local_description(answer).await.is_err() {
                    continue;
                }
                let Some(local) = client.sub_pc.local_description().await else {
                    continue;
                };
                let message = serde_json::from_value::<ClientMessage>(serde_json::json!({
                    "type": "sdp", "pc": "sub", "kind": "answer", "sdp": local.sdp,
                }))
                .unwrap();
                sfu.signal(&room, &participant, message);
            }
            other => errors.lock().unwrap().push(other),
        }
    }
}
