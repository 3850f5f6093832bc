//! The `pub` peer connection: our tracks, each frame protected before it
//! is packetised.
//!
//! Frames come from a [`FrameSource`] at their own pace (a file played in
//! real time and looped); each is protected with the current key of its
//! source, split into RTP packets by the codec's payloader (which copies
//! the protected frame unchanged into the payloads) and written to the
//! track. A keyframe request from the SFU makes the source jump to its next
//! keyframe.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp;
use rtc::rtp::codec::opus::OpusPayloader;
use rtc::rtp::codec::vp8::Vp8Payloader;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use sotto_crypto::media::Codec;
use sotto_proto::{PcKind, PublishedTrack, TrackSource};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::rtp_transceiver::RtpTransceiver;

use crate::keys::{FrameCrypto, FrameError};
use crate::media::source::{FrameSource, OPUS_CLOCK_RATE, VP8_CLOCK_RATE};
use crate::peer::{self, Pc, PeerError, PeerEvent, PeerSetup, is_keyframe_request};

/// Largest RTP payload we make (as browsers do, well under a 1500 MTU).
const RTP_PAYLOAD_MTU: usize = 1200;

/// One track we send: what it carries and where its frames come from.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// What it carries (also its SFrame context).
    pub source: TrackSource,
    /// Its frames.
    pub frames: FrameSource,
}

/// A frame as our encoder (the file) made it, copied when it is sent: what
/// receivers must get back after decryption. For tests and diagnostics;
/// it is our own plaintext and never leaves the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentFrame {
    /// Which track.
    pub source: TrackSource,
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// The frame before protection.
    pub data: Vec<u8>,
}

/// Counters of one outgoing track.
#[derive(Debug, Default)]
pub struct SendCounters {
    /// Frames protected and written.
    pub frames: AtomicU64,
    /// Frames not sent for want of a key.
    pub no_key: AtomicU64,
    /// Keyframe requests received.
    pub keyframe_requests: AtomicU64,
}

struct Output {
    source: TrackSource,
    frames: Option<FrameSource>,
    track: Arc<TrackLocalStaticRTP>,
    transceiver: Arc<dyn RtpTransceiver>,
    ssrc: u32,
    counters: Arc<SendCounters>,
}

/// Our publishing connection.
pub struct Publisher {
    pc: Pc,
    outputs: Vec<Output>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("tracks", &self.outputs.len())
            .finish()
    }
}

impl Publisher {
    /// Builds the connection with one sending transceiver per track.
    pub async fn new(
        setup: &PeerSetup,
        events: mpsc::UnboundedSender<PeerEvent>,
        outgoing: Vec<Outgoing>,
    ) -> Result<Publisher, PeerError> {
        let pc = peer::build(PcKind::Pub, setup, events).await?;
        let mut outputs = Vec::new();
        for out in outgoing {
            let (codec, _, kind) = sotto_peer::codec_for(out.source);
            let ssrc: u32 = rand::random();
            let track = Arc::new(TrackLocalStaticRTP::new(sotto_peer::sending_track(
                "sotto",
                out.source.as_str(),
                kind,
                ssrc,
                codec,
            )));
            let transceiver = pc
                .add_transceiver_from_track(
                    Arc::clone(&track) as Arc<dyn TrackLocal>,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendonly,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )
                .await?;
            outputs.push(Output {
                source: out.source,
                frames: Some(out.frames),
                track,
                transceiver,
                ssrc,
                counters: Arc::default(),
            });
        }
        Ok(Publisher {
            pc,
            outputs,
            tasks: Vec::new(),
        })
    }

    /// The connection.
    pub fn pc(&self) -> &Pc {
        &self.pc
    }

    /// Counters per source.
    pub fn counters(&self) -> HashMap<TrackSource, Arc<SendCounters>> {
        self.outputs
            .iter()
            .map(|o| (o.source, Arc::clone(&o.counters)))
            .collect()
    }

    /// Makes the offer (and sets it locally), with the source of each
    /// media section.
    pub async fn offer(&self) -> Result<(String, Vec<PublishedTrack>), PeerError> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer).await?;
        let sdp = self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default();
        let mut tracks = Vec::new();
        for o in &self.outputs {
            if let Some(mid) = o.transceiver.mid().await? {
                tracks.push(PublishedTrack {
                    mid,
                    source: o.source,
                });
            }
        }
        Ok((sdp, tracks))
    }

    /// Applies the server's answer.
    pub async fn apply_answer(&self, sdp: String) -> Result<(), PeerError> {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(sdp)?)
            .await?;
        Ok(())
    }

    /// Adds a remote ICE candidate.
    pub async fn add_candidate(&self, candidate: RTCIceCandidateInit) -> Result<(), PeerError> {
        Ok(self.pc.add_ice_candidate(candidate).await?)
    }

    /// Starts sending: one task per track, pacing frames in real time.
    /// Frames are protected with `crypto`; without a key they are skipped.
    /// Each frame sent is copied to `sent`, if given.
    pub async fn start(
        &mut self,
        crypto: Arc<dyn FrameCrypto>,
        sent: Option<mpsc::UnboundedSender<SentFrame>>,
    ) -> Result<(), PeerError> {
        for o in &mut self.outputs {
            let Some(frames) = o.frames.take() else {
                continue;
            };
            let sender = o.transceiver.sender().await?;
            let payload_type = match &sender {
                Some(s) => s
                    .get_parameters()
                    .await?
                    .rtp_parameters
                    .codecs
                    .first()
                    .map(|c| c.payload_type),
                None => None,
            };
            let Some(payload_type) = payload_type else {
                tracing::warn!(source = ?o.source, "no codec negotiated; not sending");
                continue;
            };
            let keyframe = Arc::new(AtomicBool::new(false));
            self.tasks.push(tokio::spawn(listen_for_keyframe_requests(
                Arc::clone(&o.track),
                Arc::clone(&keyframe),
                Arc::clone(&o.counters),
            )));
            self.tasks.push(tokio::spawn(
                Sending {
                    source: o.source,
                    frames,
                    track: Arc::clone(&o.track),
                    ssrc: o.ssrc,
                    payload_type,
                    crypto: Arc::clone(&crypto),
                    sent: sent.clone(),
                    keyframe,
                    counters: Arc::clone(&o.counters),
                }
                .run(),
            ));
        }
        Ok(())
    }

    /// Stops sending and closes the connection.
    pub async fn close(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let _ = self.pc.close().await;
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        crate::peer::close_when_dropped(&self.pc);
    }
}

async fn listen_for_keyframe_requests(
    track: Arc<TrackLocalStaticRTP>,
    flag: Arc<AtomicBool>,
    counters: Arc<SendCounters>,
) {
    loop {
        match track.poll().await {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                    counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    flag.store(true, Ordering::Relaxed);
                }
            }
            Some(_) => {}
            // Not bound to the transport yet (or unbound): look again soon.
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

struct Sending {
    source: TrackSource,
    frames: FrameSource,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    crypto: Arc<dyn FrameCrypto>,
    sent: Option<mpsc::UnboundedSender<SentFrame>>,
    keyframe: Arc<AtomicBool>,
    counters: Arc<SendCounters>,
}

impl Sending {
    async fn run(mut self) {
        let codec = self.frames.codec();
        let clock = if codec == Codec::Opus {
            OPUS_CLOCK_RATE
        } else {
            VP8_CLOCK_RATE
        };
        let mut payloader: Box<dyn Payloader> = if codec == Codec::Opus {
            Box::new(OpusPayloader)
        } else {
            Box::new(Vp8Payloader::default())
        };
        let mut seq: u16 = rand::random();
        let mut timestamp: u32 = rand::random();
        let mut had_key = false;
        let mut start = Instant::now();
        let mut media_ticks: u64 = 0;
        loop {
            if self.keyframe.swap(false, Ordering::Relaxed) {
                self.frames.jump_to_keyframe();
            }
            let frame = self.frames.next_frame().clone();
            match self.crypto.protect(self.source, codec, &frame.data) {
                Ok(wire) if had_key || frame.keyframe => {
                    had_key = true;
                    let payloads = payloader
                        .payload(RTP_PAYLOAD_MTU, &Bytes::from(wire))
                        .unwrap_or_default();
                    let last = payloads.len().saturating_sub(1);
                    let mut written = true;
                    for (i, payload) in payloads.into_iter().enumerate() {
                        let packet = rtp::Packet {
                            header: rtp::header::Header {
                                version: 2,
                                marker: i == last && codec != Codec::Opus,
                                payload_type: self.payload_type,
                                sequence_number: seq,
                                timestamp,
                                ssrc: self.ssrc,
                                ..Default::default()
                            },
                            payload,
                        };
                        seq = seq.wrapping_add(1);
                        // Before the transport is up the track is unbound and
                        // the write fails: the frame is simply not sent.
                        if self.track.write_rtp(packet).await.is_err() {
                            written = false;
                            break;
                        }
                    }
                    if written {
                        self.counters.frames.fetch_add(1, Ordering::Relaxed);
                        if let Some(sent) = &self.sent {
                            let _ = sent.send(SentFrame {
                                source: self.source,
                                timestamp,
                                data: frame.data.clone(),
                            });
                        }
                    }
                }
                // A key arrived in the middle of a group of pictures: start
                // at the next keyframe, so that receivers can decode at once.
                Ok(_) => self.frames.jump_to_keyframe(),
                Err(FrameError::NoKey) => {
                    had_key = false;
                    self.counters.no_key.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(source = ?self.source, error = %e, "frame not protected");
                }
            }
            timestamp = timestamp.wrapping_add(frame.duration);
            media_ticks += u64::from(frame.duration);
            let due = start + Duration::from_micros(media_ticks * 1_000_000 / u64::from(clock));
            let now = Instant::now();
            if now > due + Duration::from_secs(1) {
                // Far behind (a stalled runtime): do not burst to catch up.
                start = now;
                media_ticks = 0;
            } else {
                tokio::time::sleep_until(due).await;
            }
        }
    }
}
