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
    /// When the receiver had it whole (as it handled its last packet).
    pub arrived: Instant,
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
    /// Frames of a track open again after some did not: how long, from
    /// the first that failed to the first that opened.
    Recovered {
        /// Whose track.
        participant: ParticipantId,
        /// Which.
        source: TrackSource,
        /// From the first failure to this frame.
        after: Duration,
        /// From the first failure to the last: how long frames arrived
        /// and could not be opened (`after` also counts any time no
        /// frame arrived at all).
        failing_for: Duration,
        /// Frames that failed in between.
        failures: u64,
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

/// Whose track each media section carries, as the last offer said. The
/// server reuses a section whose track was removed for a later track,
/// maybe another member's (as JSEP does), and the same remote track then
/// carries the newcomer's packets: its receiver must notice.
#[derive(Debug, Default)]
struct Sections {
    /// Bumped by every offer.
    version: u64,
    by_mid: HashMap<String, SubscribedTrack>,
}

/// Our subscribing connection.
pub struct Subscriber {
    pc: Pc,
    sections: Arc<Mutex<Sections>>,
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
            sections: Arc::default(),
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
        // The list is complete: a section it does not name carries nothing.
        if let Ok(mut sections) = self.sections.lock() {
            sections.version += 1;
            sections.by_mid = tracks.into_iter().map(|t| (t.mid.clone(), t)).collect();
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
        let Some(mid) = sdp::mid_from_track_id(&track_id).map(str::to_owned) else {
            tracing::warn!("a track that no offer named; ignored");
            return;
        };
        let (version, owner) = match self.sections.lock() {
            Ok(s) => (s.version, s.by_mid.get(&mid).cloned()),
            Err(_) => return,
        };
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
        let counters = counters_of(&self.counters, &owner);
        let task = Receiver {
            track,
            ssrc,
            from: owner.participant,
            source: owner.source,
            codec,
            receiving: self.receiving.clone(),
            counters,
            mid,
            sections: Arc::clone(&self.sections),
            version,
            all_counters: Arc::clone(&self.counters),
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
        peer::close_when_dropped(&self.pc);
    }
}

/// The counters of `owner`'s track.
fn counters_of(all: &Mutex<CounterMap>, owner: &SubscribedTrack) -> Arc<ReceiveCounters> {
    all.lock()
        .map(|mut c| {
            Arc::clone(
                c.entry((owner.participant.clone(), owner.source))
                    .or_default(),
            )
        })
        .unwrap_or_default()
}

struct Receiver {
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    from: ParticipantId,
    source: TrackSource,
    codec: Codec,
    receiving: Receiving,
    counters: Arc<ReceiveCounters>,
    /// Our media section, and the offers' word on whose track it carries.
    mid: String,
    sections: Arc<Mutex<Sections>>,
    /// The offer `from`/`source` came from.
    version: u64,
    all_counters: Arc<Mutex<CounterMap>>,
}

struct State {
    recorder: Option<TrackRecorder>,
    waiting_for_keyframe: bool,
    started: bool,
    failures: u64,
    last_report: Option<Instant>,
    /// Since the last frame that opened: the first failure, the latest,
    /// and how many failed.
    failing: Option<(Instant, Instant, u64)>,
}

impl Receiver {
    async fn run(mut self) {
        let (format, clock) = match self.codec {
            Codec::Opus => (PayloadFormat::Opus, OPUS_CLOCK_RATE),
            _ => (PayloadFormat::Vp8, VP8_CLOCK_RATE),
        };
        // Wait up to a quarter of a second (of later media) for a packet
        // that is missing: enough for a retransmission on most paths.
        let assembler_for_track = || FrameAssembler::new(format, clock / 4);
        let mut assembler = assembler_for_track();
        let mut state = Some(self.start());
        let mut ask = tokio::time::interval(KEYFRAME_REQUEST_INTERVAL);
        loop {
            tokio::select! {
                event = self.track.poll() => match event {
                    Some(TrackRemoteEvent::OnRtpPacket(p)) => {
                        if self.follow_offers(&mut state) {
                            assembler = assembler_for_track();
                        }
                        // A section that carries nothing now: whatever
                        // still arrives has no owner to be opened for.
                        let Some(st) = state.as_mut() else { continue };
                        let h = &p.header;
                        // Keyframe requests name the SSRC the server
                        // gave this section's current track.
                        self.ssrc = h.ssrc;
                        if assembler
                            .push(h.sequence_number, h.timestamp, h.marker, &p.payload)
                            .is_err()
                        {
                            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                        let mut lost_now = false;
                        while let Some(frame) = assembler.pop() {
                            if frame.after_loss && self.codec == Codec::Vp8 {
                                lost_now |= !st.waiting_for_keyframe;
                                st.waiting_for_keyframe = true;
                            }
                            self.frame(st, frame.timestamp, &frame.data);
                        }
                        if lost_now && st.waiting_for_keyframe {
                            // Ask at once rather than at the next tick: the
                            // picture is frozen until a keyframe comes.
                            self.ask_for_keyframe().await;
                            ask.reset();
                        }
                        self.counters.lost.store(assembler.lost_frames(), Ordering::Relaxed);
                    }
                    Some(TrackRemoteEvent::OnEnded) | None => break,
                    Some(_) => {}
                },
                _ = ask.tick() => {
                    if self.follow_offers(&mut state) {
                        assembler = assembler_for_track();
                    }
                    if state.as_ref().is_some_and(|s| s.waiting_for_keyframe) {
                        self.ask_for_keyframe().await;
                    }
                }
            }
        }
        if let Some(st) = state {
            self.end(st);
        }
    }

    /// Sends a keyframe request (PLI) for this track.
    async fn ask_for_keyframe(&self) {
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: self.ssrc,
        };
        let _ = self.track.write_rtcp(vec![Box::new(pli)]).await;
    }

    /// The state of a track that starts now (for `from` and `source`).
    fn start(&self) -> State {
        State {
            recorder: self
                .receiving
                .record_dir
                .as_deref()
                .map(|d| TrackRecorder::new(d, &self.from, self.source, self.codec)),
            waiting_for_keyframe: self.codec == Codec::Vp8,
            started: false,
            failures: 0,
            last_report: None,
            failing: None,
        }
    }

    /// Ends the track of `from`: finishes its recording and says so.
    fn end(&self, state: State) {
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

    /// Follows the offers: when our section was given to another track
    /// (a member left and the server reused its section for a newcomer)
    /// or to none, ends the track we had and starts the new one. Whether
    /// it changed.
    fn follow_offers(&mut self, state: &mut Option<State>) -> bool {
        let now = match self.sections.lock() {
            Ok(s) if s.version != self.version => {
                self.version = s.version;
                s.by_mid.get(&self.mid).cloned()
            }
            _ => return false,
        };
        let same = now
            .as_ref()
            .is_some_and(|t| t.participant == self.from && t.source == self.source);
        if same && state.is_some() {
            return false;
        }
        if let Some(old) = state.take() {
            self.end(old);
        }
        if let Some(t) = now {
            self.counters = counters_of(&self.all_counters, &t);
            self.from = t.participant;
            self.source = t.source;
            *state = Some(self.start());
        }
        true
    }

    fn frame(&self, state: &mut State, timestamp: u32, wire: &[u8]) {
        if let Some(tap) = &self.receiving.tap {
            let _ = tap.send(WireFrame {
                participant: self.from.clone(),
                source: self.source,
                timestamp,
                data: wire.to_vec(),
                arrived: Instant::now(),
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
                let now = Instant::now();
                let failing = state.failing.get_or_insert((now, now, 0));
                failing.1 = now;
                failing.2 += 1;
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
        if let Some((since, last, failures)) = state.failing.take() {
            let _ = self.receiving.events.send(MediaEvent::Recovered {
                participant: self.from.clone(),
                source: self.source,
                after: since.elapsed(),
                failing_for: last.duration_since(since),
                failures,
            });
        }
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
