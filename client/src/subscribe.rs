//! The `sub` peer connection: everyone else's tracks, opened and recorded.
//!
//! The server offers one media section per track of another member, and
//! its `tracks` list says whose each section is (spec §3, `sdp`). For each
//! track a task reassembles frames from RTP, opens them (checking that the
//! key belongs to the track's owner and source), counts what fails, and
//! writes what opened to the recording. A frame that did not open is never
//! written. Video waits for a keyframe, asking for one (PLI) every half
//! second until it comes, and again after a lost frame.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use sotto_crypto::media::Codec;
use sotto_proto::{ParticipantId, PcKind, SubscribedTrack, TrackSource};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::keys::{FrameCrypto, FrameError};
use crate::media::assembler::{FrameAssembler, PayloadFormat};
use crate::media::record::TrackRecorder;
use crate::media::source::{OPUS_CLOCK_RATE, VP8_CLOCK_RATE, is_vp8_keyframe};
use crate::peer::{self, Pc, PeerError, PeerEvent, PeerSetup};
use crate::sdp;

/// How often a video receiver that waits for a keyframe asks for one.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);
/// Shortest time between two reports of decrypt failures on one track.
const FAILURE_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Counters of one received track.
#[derive(Debug, Default)]
pub struct ReceiveCounters {
    /// Frames opened (and recorded, once the first keyframe came).
    pub frames: AtomicU64,
    /// Frames that did not open, for any reason.
    pub failures: AtomicU64,
    /// Frames given up on for missing packets.
    pub lost: AtomicU64,
    /// Packets whose payload was malformed.
    pub malformed: AtomicU64,
}

/// A protected frame as it arrived, before it was opened: for diagnostics
/// and for tests that check what a key can or cannot open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    /// Whose track carried it.
    pub participant: ParticipantId,
    /// Which track.
    pub source: TrackSource,
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// `clear_prefix || sframe_header || ciphertext || tag`.
    pub data: Vec<u8>,
}

/// What the receiving tasks report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// The first frame of a track opened.
    Started {
        /// Whose track.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
    },
    /// Frames of a track did not open (reported at most once a second).
    DecryptFailures {
        /// Whose track.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
        /// Failures so far on this track.
        total: u64,
        /// The last failure.
        error: FrameError,
    },
    /// A track ended.
    Ended {
        /// Whose track.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
        /// Frames opened in all.
        frames: u64,
        /// Where it was recorded, if it was.
        recording: Option<PathBuf>,
    },
}

/// What receiving tasks need.
#[derive(Clone)]
pub struct Receiving {
    /// Opens frames.
    pub crypto: Arc<dyn FrameCrypto>,
    /// Where to record, if anywhere.
    pub record_dir: Option<PathBuf>,
    /// Where to report.
    pub events: mpsc::UnboundedSender<MediaEvent>,
    /// Where to copy every reassembled frame before it is opened.
    pub tap: Option<mpsc::UnboundedSender<WireFrame>>,
}

type CounterMap = HashMap<(ParticipantId, TrackSource), Arc<ReceiveCounters>>;

/// Our subscribing connection.
pub struct Subscriber {
    pc: Pc,
    sections: Mutex<HashMap<String, SubscribedTrack>>,
    receiving: Receiving,
    counters: Arc<Mutex<CounterMap>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl Subscriber {
    /// Builds the connection; the server's offer comes later.
    pub async fn new(
        setup: &PeerSetup,
        events: mpsc::UnboundedSender<PeerEvent>,
        receiving: Receiving,
    ) -> Result<Subscriber, PeerError> {
        Ok(Subscriber {
            pc: peer::build(PcKind::Sub, setup, events).await?,
            sections: Mutex::new(HashMap::new()),
            receiving,
            counters: Arc::default(),
            tasks: Vec::new(),
        })
    }

    /// The connection.
    pub fn pc(&self) -> &Pc {
        &self.pc
    }

    /// Counters per received track (a participant's track that was
    /// renegotiated keeps adding to the same counters).
    pub fn counters(&self) -> Arc<Mutex<CounterMap>> {
        Arc::clone(&self.counters)
    }

    /// Answers an offer of the server.
    pub async fn handle_offer(
        &self,
        sdp_text: &str,
        tracks: Vec<SubscribedTrack>,
    ) -> Result<String, PeerError> {
        if let Ok(mut sections) = self.sections.lock() {
            for t in tracks {
                sections.insert(t.mid.clone(), t);
            }
        }
        let offer = RTCSessionDescription::offer(sdp::tag_tracks_with_mids(sdp_text))?;
        self.pc.set_remote_description(offer).await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        Ok(self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default())
    }

    /// Adds a remote ICE candidate.
    pub async fn add_candidate(&self, candidate: RTCIceCandidateInit) -> Result<(), PeerError> {
        Ok(self.pc.add_ice_candidate(candidate).await?)
    }

    /// Starts receiving a track the connection reported.
    pub async fn receive(&mut self, track: Arc<dyn TrackRemote>) {
        let track_id = track.track_id().await;
        let owner = sdp::mid_from_track_id(&track_id)
            .and_then(|mid| self.sections.lock().ok().and_then(|s| s.get(mid).cloned()));
        let Some(owner) = owner else {
            tracing::warn!("a track that no offer named; ignored");
            return;
        };
        let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
        let mime = track.codec(ssrc).await.map(|c| c.mime_type);
        let codec =
            mime.as_deref()
                .and_then(Codec::from_mime)
                .unwrap_or(match track.kind().await {
                    RtpCodecKind::Audio => Codec::Opus,
                    _ => Codec::Vp8,
                });
        if !matches!(codec, Codec::Opus | Codec::Vp8) {
            tracing::warn!(?codec, "a track of a codec sotto does not send; ignored");
            return;
        }
        let counters = self
            .counters
            .lock()
            .map(|mut c| {
                Arc::clone(
                    c.entry((owner.participant.clone(), owner.source))
                        .or_default(),
                )
            })
            .unwrap_or_default();
        let task = Receiver {
            track,
            ssrc,
            from: owner.participant,
            source: owner.source,
            codec,
            receiving: self.receiving.clone(),
            counters,
        };
        self.tasks.push(tokio::spawn(task.run()));
    }

    /// Stops receiving and closes the connection.
    pub async fn close(mut self) {
        let _ = self.pc.close().await;
        // Let the tasks see their tracks end and finish their recordings.
        for t in self.tasks.drain(..) {
            if tokio::time::timeout(Duration::from_secs(2), t)
                .await
                .is_err()
            {
                tracing::debug!("a receiver did not end in time");
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Receiver {
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    from: ParticipantId,
    source: TrackSource,
    codec: Codec,
    receiving: Receiving,
    counters: Arc<ReceiveCounters>,
}

struct State {
    recorder: Option<TrackRecorder>,
    waiting_for_keyframe: bool,
    started: bool,
    failures: u64,
    last_report: Option<Instant>,
}

impl Receiver {
    async fn run(self) {
        let (format, clock) = match self.codec {
            Codec::Opus => (PayloadFormat::Opus, OPUS_CLOCK_RATE),
            _ => (PayloadFormat::Vp8, VP8_CLOCK_RATE),
        };
        // Wait up to a quarter of a second (of later media) for a packet
        // that is missing: enough for a retransmission on most paths.
        let mut assembler = FrameAssembler::new(format, clock / 4);
        let mut state = State {
            recorder: self
                .receiving
                .record_dir
                .as_deref()
                .map(|d| TrackRecorder::new(d, &self.from, self.source, self.codec)),
            waiting_for_keyframe: self.codec == Codec::Vp8,
            started: false,
            failures: 0,
            last_report: None,
        };
        let mut ask = tokio::time::interval(KEYFRAME_REQUEST_INTERVAL);
        loop {
            tokio::select! {
                event = self.track.poll() => match event {
                    Some(TrackRemoteEvent::OnRtpPacket(p)) => {
                        let h = &p.header;
                        if assembler
                            .push(h.sequence_number, h.timestamp, h.marker, &p.payload)
                            .is_err()
                        {
                            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                        while let Some(frame) = assembler.pop() {
                            if frame.after_loss && self.codec == Codec::Vp8 {
                                state.waiting_for_keyframe = true;
                            }
                            self.frame(&mut state, frame.timestamp, &frame.data);
                        }
                        self.counters.lost.store(assembler.lost_frames(), Ordering::Relaxed);
                    }
                    Some(TrackRemoteEvent::OnEnded) | None => break,
                    Some(_) => {}
                },
                _ = ask.tick(), if state.waiting_for_keyframe => {
                    let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: self.ssrc };
                    let _ = self.track.write_rtcp(vec![Box::new(pli)]).await;
                }
            }
        }
        let recording = state.recorder.map(|r| {
            let path = r.path().to_owned();
            let started = r.started();
            if let Err(e) = r.finish() {
                tracing::warn!(error = %e, "recording not completed");
            }
            started.then_some(path)
        });
        let _ = self.receiving.events.send(MediaEvent::Ended {
            participant: self.from.clone(),
            source: self.source,
            frames: self.counters.frames.load(Ordering::Relaxed),
            recording: recording.flatten(),
        });
    }

    fn frame(&self, state: &mut State, timestamp: u32, wire: &[u8]) {
        if let Some(tap) = &self.receiving.tap {
            let _ = tap.send(WireFrame {
                participant: self.from.clone(),
                source: self.source,
                timestamp,
                data: wire.to_vec(),
            });
        }
        let frame = match self
            .receiving
            .crypto
            .unprotect(&self.from, self.source, self.codec, wire)
        {
            Ok(frame) => frame,
            Err(error) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                state.failures += 1;
                // After a failure the next frame may depend on the lost one.
                if self.codec == Codec::Vp8 {
                    state.waiting_for_keyframe = true;
                }
                let now = Instant::now();
                if state
                    .last_report
                    .is_none_or(|t| now.duration_since(t) >= FAILURE_REPORT_INTERVAL)
                {
                    state.last_report = Some(now);
                    let _ = self.receiving.events.send(MediaEvent::DecryptFailures {
                        participant: self.from.clone(),
                        source: self.source,
                        total: state.failures,
                        error,
                    });
                }
                return;
            }
        };
        if state.waiting_for_keyframe {
            if !is_vp8_keyframe(&frame) {
                return;
            }
            state.waiting_for_keyframe = false;
        }
        self.counters.frames.fetch_add(1, Ordering::Relaxed);
        if !state.started {
            state.started = true;
            let _ = self.receiving.events.send(MediaEvent::Started {
                participant: self.from.clone(),
                source: self.source,
            });
        }
        if let Some(r) = &mut state.recorder
            && let Err(e) = r.write(timestamp, &frame)
        {
            tracing::warn!(error = %e, "recording failed; stopped");
            state.recorder = None;
        }
    }
}
