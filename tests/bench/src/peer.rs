//! WebRTC participants (webrtc-rs async layer): publishers that send
//! pre-packetized synthetic Opus and VP8, subscribers that decrypt SRTP and
//! record what arrives. NACK, receiver reports and RTX come from webrtc-rs's
//! default interceptors, as in a browser; publishers answer PLI/FIR with a
//! keyframe.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};
use webrtc::runtime::Runtime;

use crate::media::{self, Kind, Recorder, Stamp, TrackCounters};

/// The RTP codec and payload type of `kind` (spec/protocol.md §6, as
/// every sotto peer has them: `sotto_peer`).
pub fn codec(kind: Kind) -> (RTCRtpCodec, u8, RtpCodecKind) {
    sotto_peer::codec_for(match kind {
        Kind::Audio => sotto_proto::TrackSource::Mic,
        Kind::Video => sotto_proto::TrackSource::Camera,
    })
}

/// Events of one peer connection the harness cares about.
pub struct Handler {
    /// The subscriber index packets are recorded under.
    pub subscriber: u32,
    /// Where packets are recorded.
    pub recorder: Arc<Recorder>,
    /// Runs the track readers.
    pub runtime: Arc<dyn Runtime>,
    /// True once connected.
    pub connected: Arc<AtomicBool>,
    /// Gathered local candidates (for peers that need trickle: Janus).
    pub candidates: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.connected
            .store(state == RTCPeerConnectionState::Connected, Ordering::SeqCst);
    }

    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let (Some(tx), Ok(init)) = (&self.candidates, event.candidate.to_json()) {
            let _ = tx.send(init.candidate);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let recorder = self.recorder.clone();
        let subscriber = self.subscriber;
        self.runtime.spawn(Box::pin(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(p) = event {
                    recorder.received(subscriber, &p.payload);
                }
            }
        }));
    }
}

/// A peer connection with Opus/VP8, default interceptors (NACK, reports,
/// TWCC), RTCP delivered to the application, bound to `ip`.
pub async fn build_pc(
    runtime: Arc<dyn Runtime>,
    handler: Arc<dyn PeerConnectionEventHandler>,
    ip: std::net::IpAddr,
) -> Result<Arc<dyn PeerConnection>> {
    let mut engine = sotto_peer::media_engine(false)?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)?;
    let registry = registry.with(Slot::from(14_000), sotto_peer::KeyframeRequests::default());
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_runtime(runtime)
        .with_udp_addrs(vec![format!("{ip}:0")])
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// A publisher's local track.
pub struct LocalTrack {
    /// Which.
    pub kind: Kind,
    /// The webrtc-rs track.
    pub track: Arc<TrackLocalStaticRTP>,
    /// Its SSRC.
    pub ssrc: u32,
    /// Counters shared with the harness.
    pub counters: Arc<TrackCounters>,
}

/// Adds a track per kind to `pc`, offers, and returns the offer's SDP with
/// the mid of each track.
pub async fn add_tracks(
    pc: &Arc<dyn PeerConnection>,
    publisher: u16,
    kinds: &[Kind],
) -> Result<(String, Vec<(LocalTrack, String)>)> {
    let mut tracks = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        let (rtp_codec, _, k) = codec(kind);
        let ssrc = 0x5000_0000 | (u32::from(publisher) << 4) | i as u32;
        let name = match kind {
            Kind::Audio => "mic",
            Kind::Video => "camera",
        };
        let track = Arc::new(TrackLocalStaticRTP::new(sotto_peer::sending_track(
            &format!("p{publisher}"),
            name,
            k,
            ssrc,
            rtp_codec,
        )));
        pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        tracks.push(LocalTrack {
            kind,
            track,
            ssrc,
            counters: Arc::default(),
        });
    }
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer).await?;
    let sdp = pc
        .local_description()
        .await
        .context("no local description")?
        .sdp;
    let mut with_mids = Vec::new();
    let transceivers = pc.get_transceivers().await;
    let mut by_ssrc = Vec::new();
    for t in &transceivers {
        let Some(sender) = t.sender().await? else {
            continue;
        };
        let params = sender.get_parameters().await?;
        let ssrc = params
            .encodings
            .first()
            .and_then(|e| e.rtp_coding_parameters.ssrc);
        if let (Some(ssrc), Some(mid)) = (ssrc, t.mid().await?) {
            by_ssrc.push((ssrc, mid));
        }
    }
    for t in tracks {
        let mid = by_ssrc
            .iter()
            .find(|(s, _)| *s == t.ssrc)
            .map(|(_, m)| m.clone())
            .context("a track without a mid")?;
        with_mids.push((t, mid));
    }
    Ok((sdp, with_mids))
}

/// Counts the keyframe requests reaching `track` and marks a keyframe due.
pub fn watch_keyframe_requests(runtime: &Arc<dyn Runtime>, track: &LocalTrack) {
    let poll = track.track.clone();
    let counters = track.counters.clone();
    runtime.spawn(Box::pin(async move {
        while let Some(event) = poll.poll().await {
            if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                let n = packets
                    .iter()
                    .filter(|p| sotto_peer::is_keyframe_request(p.as_ref()))
                    .count();
                if n > 0 {
                    counters.plis.fetch_add(n as u32, Ordering::Relaxed);
                    counters.keyframe_due.store(true, Ordering::Relaxed);
                }
            }
        }
    }));
}

/// Sends `track`'s schedule until `stop`: Opus one packet per 20 ms; VP8 30
/// frames/s of 6-7 packets, a 40-packet keyframe every 3 s and on request.
/// `send` gets each payload and whether it ends a frame (the RTP marker).
pub async fn run_schedule<F, Fut>(
    kind: Kind,
    publisher: u16,
    counters: Arc<TrackCounters>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    mut send: F,
) where
    F: FnMut(Vec<u8>, bool, u32) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let period = match kind {
        Kind::Audio => Duration::from_millis(20),
        Kind::Video => Duration::from_nanos(1_000_000_000 / u64::from(media::VIDEO_FPS)),
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut frame: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let (packets, keyframe, len) = match kind {
            Kind::Audio => (1, false, media::AUDIO_BYTES),
            Kind::Video => {
                let key = frame.is_multiple_of(media::KEYFRAME_EVERY)
                    || counters.keyframe_due.swap(false, Ordering::Relaxed);
                if key {
                    (media::KEYFRAME_PACKETS, true, media::VIDEO_BYTES)
                } else {
                    (media::delta_packets(frame), false, media::VIDEO_BYTES)
                }
            }
        };
        for i in 0..packets {
            let seq = counters.sent.load(Ordering::Relaxed);
            let stamp = Stamp {
                publisher,
                kind,
                seq,
                sent_ns: recorder.now_ns(),
            };
            let p = media::payload(stamp, len, i == 0, keyframe && i == 0);
            if send(p, i + 1 == packets, frame).await {
                counters.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        frame = frame.wrapping_add(1);
    }
}

/// Sends `track` over RTP until `stop`.
pub fn start_sending(
    runtime: &Arc<dyn Runtime>,
    track: &LocalTrack,
    publisher: u16,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    let (_, payload_type, _) = codec(track.kind);
    let (rtp_track, ssrc, kind) = (track.track.clone(), track.ssrc, track.kind);
    let counters = track.counters.clone();
    let ts_step: u32 = match kind {
        Kind::Audio => 960,
        Kind::Video => 3000,
    };
    runtime.spawn(Box::pin(async move {
        let mut seq: u16 = 0;
        run_schedule(
            kind,
            publisher,
            counters,
            recorder,
            stop,
            move |payload, marker, frame| {
                let t = rtp_track.clone();
                seq = seq.wrapping_add(1);
                let packet = rtc::rtp::Packet {
                    header: rtc::rtp::header::Header {
                        version: 2,
                        marker,
                        payload_type,
                        sequence_number: seq,
                        timestamp: frame.wrapping_mul(ts_step),
                        ssrc,
                        ..Default::default()
                    },
                    payload: payload.into(),
                };
                async move { t.write_rtp(packet).await.is_ok() }
            },
        )
        .await;
    }));
}
