//! An SFU that cheats with media, through the real server (its forwarding
//! path, with a test hook) and real native participants: it flips bits in
//! the ciphertext, the tag and the clear prefix, replays frames at once
//! and later, strips and rewrites SFrame headers, sends a plaintext frame
//! and forgeries, and (through signalling) presents a member's tracks as
//! another member's or another source's. Receivers drop exactly the frames
//! it touched, record every other frame as it was sent, recover at once,
//! and say what they refused; and what the SFU handles holds no plaintext.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sotto_client::keys::FrameError;
use sotto_client::media::fixtures;
use sotto_client::media::source::FrameSource;
use sotto_client::room::{Ended, Event, MediaEvent};
use sotto_proto::{ParticipantId, TrackSource};
use sotto_server::sfu::tamper::{RtpPacket, Tamper as MediaTamper};
use sotto_tests::PATIENCE;
use sotto_tests::cheat::{CheatingSignalling, Dir, Tamper};
use sotto_tests::frames::{contains, explain_break, plaintext_needles, recorded, unbroken_run_in};
use sotto_tests::member::{Member, Spec, joined};
use sotto_tests::server::{TestServer, new_room};

/// What the SFU does to one Opus frame (one RTP packet: no descriptor).
const AUDIO_CHEATS: [&str; 11] = [
    "ciphertext bit flipped",
    "tag bit flipped",
    "clear prefix (TOC) changed",
    "the previous frame replayed",
    "a frame from 20 packets ago replayed",
    "SFrame header stripped",
    "SFrame counter rewritten",
    "SFrame key id rewritten",
    "a plaintext frame",
    "truncated",
    "forged: the header and noise",
];

/// What it does to VP8 frames, in this order.
const VIDEO_CHEATS: [&str; 3] = [
    "keyframe bit flipped",
    "last byte (tag) flipped",
    "keyframe width changed",
];

/// Length of the SFrame header at the start of `b` (RFC 9605 §4.3).
fn sframe_header_len(b: &[u8]) -> usize {
    let c = b[0];
    let kid = if c & 0x80 != 0 {
        usize::from((c >> 4) & 0x07) + 1
    } else {
        0
    };
    let ctr = if c & 0x08 != 0 {
        usize::from(c & 0x07) + 1
    } else {
        0
    };
    1 + kid + ctr
}

/// `payload` as the SFU forwards it under cheat `kind`; `recent` holds
/// the genuine payloads before it, oldest first.
fn cheat_audio(kind: &str, payload: &[u8], recent: &VecDeque<Vec<u8>>) -> Vec<u8> {
    let mut p = payload.to_vec();
    let n = p.len();
    let h = 1 + sframe_header_len(&p[1..]);
    match kind {
        "ciphertext bit flipped" => p[h] ^= 0x01,
        "tag bit flipped" => p[n - 1] ^= 0x80,
        "clear prefix (TOC) changed" => p[0] ^= 0x08,
        "the previous frame replayed" => p = recent.back().expect("a frame before").clone(),
        "a frame from 20 packets ago replayed" => {
            p = recent.front().expect("frames before").clone()
        }
        "SFrame header stripped" => {
            p.drain(1..h);
        }
        // The counter: its last byte, or inline in the config byte.
        "SFrame counter rewritten" => {
            if p[1] & 0x08 != 0 {
                p[h - 1] ^= 0x01;
            } else {
                p[1] ^= 0x01;
            }
        }
        // The key id: inline in the config byte, or its own bytes.
        "SFrame key id rewritten" => {
            if p[1] & 0x80 == 0 {
                p[1] ^= 0x10;
            } else {
                p[2] ^= 0x01;
            }
        }
        "a plaintext frame" => {
            let tone = FrameSource::opus_ogg(fixtures::TONE_OGG).expect("the audio fixture");
            p = tone.frames()[5].data.clone();
        }
        "truncated" => p.truncate(2),
        "forged: the header and noise" => {
            for (i, b) in p[h..].iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(37) ^ 0xa5;
            }
        }
        other => panic!("unknown cheat {other}"),
    }
    p
}

/// Where the VP8 frame starts in an RTP payload (RFC 7741 §4.2), and
/// whether this packet starts a frame.
/// (This runs on the SFU's media thread: it must not panic.)
fn vp8_payload_start(p: &[u8]) -> (usize, bool) {
    if p.len() < 16 {
        return (0, false);
    }
    let b0 = p[0];
    let mut off = 1;
    if b0 & 0x80 != 0 {
        let b1 = p[1];
        off = 2;
        if b1 & 0x80 != 0 {
            off += if p[off] & 0x80 != 0 { 2 } else { 1 };
        }
        if b1 & 0x40 != 0 {
            off += 1;
        }
        if b1 & 0x30 != 0 {
            off += 1;
        }
    }
    (off, b0 & 0x10 != 0 && b0 & 0x07 == 0)
}

#[derive(Default)]
struct Log {
    armed: bool,
    audio_cheats: VecDeque<&'static str>,
    since_last: usize,
    recent: VecDeque<Vec<u8>>,
    /// Each audio packet forwarded: its timestamp and what was done to it.
    audio: Vec<(u32, Option<&'static str>)>,
    video_cheats: VecDeque<&'static str>,
    /// The frame whose last packet is to be changed.
    video_target: Option<u32>,
    /// Each video frame forwarded, by timestamp, in order.
    video: Vec<u32>,
    tampered_video: HashSet<u32>,
    /// Every payload as the publisher sent it.
    seen: Vec<Vec<u8>>,
    /// The plaintext frame the SFU slipped in.
    planted: Option<Vec<u8>>,
}

impl Log {
    fn packet(&mut self, source: TrackSource, mut p: RtpPacket) -> RtpPacket {
        if self.seen.len() < 20_000 {
            self.seen.push(p.payload.clone());
        }
        match source {
            TrackSource::Mic => {
                let mut done = None;
                if self.armed
                    && self.since_last >= 2
                    && self.recent.len() >= 20
                    && p.payload.len() >= 32
                {
                    if let Some(kind) = self.audio_cheats.pop_front() {
                        let genuine = std::mem::take(&mut p.payload);
                        p.payload = cheat_audio(kind, &genuine, &self.recent);
                        if kind == "a plaintext frame" {
                            self.planted = Some(p.payload.clone());
                        }
                        // `recent` keeps only what went through untouched:
                        // a withheld frame sent late would be a reordered
                        // frame, which the replay window accepts (spec
                        // §7: 128 counters per KID).
                        drop(genuine);
                        done = Some(kind);
                        self.since_last = 0;
                    }
                } else {
                    self.since_last += 1;
                }
                if done.is_none() {
                    self.recent.push_back(p.payload.clone());
                }
                if self.recent.len() > 20 {
                    self.recent.pop_front();
                }
                self.audio.push((p.timestamp, done));
            }
            TrackSource::Camera => {
                let (off, start) = vp8_payload_start(&p.payload);
                let ts = p.timestamp;
                if start && self.video.last() != Some(&ts) {
                    self.video.push(ts);
                }
                let mut done = false;
                match self.video_cheats.front().copied() {
                    // On a delta frame (bit 0 set), so that it claims to be a
                    // keyframe without a keyframe's start code: a media
                    // error, whatever frame comes next (a keyframe flipped
                    // to delta would fail authentication instead).
                    Some("keyframe bit flipped")
                        if self.armed
                            && start
                            && p.payload.get(off).is_some_and(|b| b & 0x01 == 1) =>
                    {
                        p.payload[off] ^= 0x01;
                        done = true;
                    }
                    Some("last byte (tag) flipped") if self.armed => {
                        if start {
                            self.video_target = Some(ts);
                        }
                        if p.marker && self.video_target == Some(ts) && !p.payload.is_empty() {
                            let n = p.payload.len();
                            p.payload[n - 1] ^= 0x01;
                            done = true;
                        }
                    }
                    Some("keyframe width changed")
                        if self.armed
                            && start
                            && p.payload[off] & 0x01 == 0
                            && p.payload.len() > off + 10 =>
                    {
                        p.payload[off + 6] ^= 0x01;
                        done = true;
                    }
                    _ => {}
                }
                if done {
                    self.video_cheats.pop_front();
                    self.tampered_video.insert(ts);
                }
            }
            _ => {}
        }
        p
    }

    fn finished(&self) -> bool {
        self.audio_cheats.is_empty() && self.video_cheats.is_empty()
    }
}

fn failures(ev: &[Event], who: &ParticipantId, source: TrackSource) -> Vec<FrameError> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Media(MediaEvent::DecryptFailures {
                participant,
                source: s,
                error,
                ..
            }) if participant == who && *s == source => Some(error.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_the_sfu_forges_replays_or_moves_are_dropped_and_the_call_goes_on() {
    let log = Arc::new(Mutex::new(Log {
        audio_cheats: AUDIO_CHEATS.into_iter().collect(),
        video_cheats: VIDEO_CHEATS.into_iter().collect(),
        ..Log::default()
    }));
    let in_sfu = Arc::clone(&log);
    let media: MediaTamper =
        Arc::new(move |_, source, p| vec![in_sfu.lock().expect("not poisoned").packet(source, p)]);
    let server = TestServer::start_tampering(media).await;
    // Carol (connection 2) is told that alice's camera is alice's screen,
    // and that alice's microphone is bob's (connection 1).
    let ids: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let known = Arc::clone(&ids);
    let relabel: Tamper = Arc::new(move |conn, dir, mut msg| {
        let mut ids = known.lock().expect("not poisoned");
        if let Some(p) = &conn.participant {
            ids.insert(conn.index, p.clone());
        }
        if conn.index == 2 && dir == Dir::Down && msg["type"] == "sdp" && msg["pc"] == "sub" {
            let (alice, bob) = (ids[&0].clone(), ids[&1].clone());
            if let Some(tracks) = msg["tracks"].as_array_mut() {
                for t in tracks {
                    if t["participant"] == alice.as_str() {
                        if t["source"] == "camera" {
                            t["source"] = json!("screen");
                        } else {
                            t["participant"] = json!(bob);
                        }
                    }
                }
            }
        }
        vec![(dir, msg)]
    });
    let cheat = CheatingSignalling::start(server.addr, relabel).await;
    let (link, _) = new_room(&cheat.origin(), "forged-frames");

    // One after the other: connections are told apart by their order.
    let mut members = Vec::new();
    for spec in [
        Spec::sending("alice"),
        Spec::silent("bob"),
        Spec::silent("carol"),
    ] {
        let m = Member::join(&link, spec);
        m.wait_for("joining", PATIENCE, joined).await;
        members.push(m);
    }
    let [mut alice, mut bob, mut carol] =
        <[Member; 3]>::try_from(members).unwrap_or_else(|_| unreachable!("three joined"));
    let alice_id = alice.id().expect("connected");
    let bob_id = bob.id().expect("connected");
    bob.wait_for("alice's audio and video", PATIENCE, |ev| {
        ev.iter()
            .filter(|e| matches!(e, Event::Media(MediaEvent::Started { .. })))
            .count()
            >= 2
    })
    .await;

    {
        // Replay only frames sent from now on, which bob surely opened: a
        // frame he never had would be a late frame, which the replay
        // window accepts (spec §7).
        let mut l = log.lock().expect("not poisoned");
        l.armed = true;
        l.recent.clear();
    }
    let start = tokio::time::Instant::now();
    while !log.lock().expect("not poisoned").finished() {
        assert!(start.elapsed() < PATIENCE, "the cheats did not all happen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Enough for a keyframe to be asked for and arrive, and for a good
    // second of media after the attack.
    tokio::time::sleep(Duration::from_millis(2000)).await;

    // Carol refuses every frame of the relabelled tracks, and says why.
    for (who, source, why) in [
        (&alice_id, TrackSource::Screen, FrameError::WrongSource),
        (&bob_id, TrackSource::Mic, FrameError::WrongSender),
    ] {
        carol
            .wait_for("the relabelled tracks refused", PATIENCE, |ev| {
                failures(ev, who, source).contains(&why)
            })
            .await;
    }
    let bob_failures = failures(&bob.events(), &alice_id, TrackSource::Mic);
    assert!(!bob_failures.is_empty(), "bob says frames were refused");

    for m in [&mut bob, &mut carol, &mut alice] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
    let log = log.lock().expect("not poisoned");
    let sent = alice.sent();
    let sent_on = |source: TrackSource| -> HashMap<u32, Vec<u8>> {
        sent.iter()
            .filter(|f| f.source == source)
            .map(|f| (f.timestamp, f.data.clone()))
            .collect()
    };

    // Audio: bob recorded exactly the frames the SFU forwarded untouched,
    // in order, none missing, from before the attack to well after it.
    let mic = sent_on(TrackSource::Mic);
    let mut expected = Vec::new();
    let (mut first, mut last) = (None, 0);
    for (ts, cheat) in &log.audio {
        match cheat {
            None => expected.push(mic.get(ts).cloned().unwrap_or_default()),
            Some(_) => {
                first.get_or_insert(expected.len());
                last = expected.len();
            }
        }
    }
    let first = first.expect("the audio cheats happened");
    let got = recorded(bob.record_dir(), &alice_id, TrackSource::Mic);
    let at = unbroken_run_in(&expected, &got).unwrap_or_else(|| {
        // Where each recorded frame was sent, and what the SFU did then.
        let whence: Vec<_> = got
            .iter()
            .map(|f| {
                let ts: Vec<u32> = mic
                    .iter()
                    .filter(|(_, d)| *d == f)
                    .map(|(t, _)| *t)
                    .collect();
                let cheats: Vec<_> = log
                    .audio
                    .iter()
                    .enumerate()
                    .filter(|(_, (t, _))| ts.contains(t))
                    .map(|(i, (_, c))| (i, *c))
                    .collect();
                (ts, cheats)
            })
            .collect();
        panic!(
            "bob's {} audio frames are not the untouched ones: {}; {whence:?}",
            got.len(),
            explain_break(&expected, &got)
        )
    });
    assert!(
        at <= first && at + got.len() >= last + 25,
        "the recording ({at}..{}) spans the attack ({first}..{last})",
        at + got.len()
    );

    // Video: bob recorded only frames sent as they were, in order, and
    // went on after the last cheat (after a keyframe it asked for).
    let cam = sent_on(TrackSource::Camera);
    let got = recorded(bob.record_dir(), &alice_id, TrackSource::Camera);
    let mut frames = log.video.iter().enumerate();
    let mut last_matched = 0;
    for (n, frame) in got.iter().enumerate() {
        let (i, _) = frames
            .find(|(_, ts)| !log.tampered_video.contains(ts) && cam.get(ts) == Some(frame))
            .unwrap_or_else(|| panic!("bob's video frame {n} is not an untouched sent frame"));
        last_matched = i;
    }
    let last_cheat = log
        .video
        .iter()
        .rposition(|ts| log.tampered_video.contains(ts))
        .expect("the video cheats happened");
    assert!(
        last_matched > last_cheat + 10,
        "bob's video goes on after the attack (frame {last_matched}, attack at {last_cheat})"
    );
    assert!(
        failures(&bob.events(), &alice_id, TrackSource::Camera)
            .iter()
            .any(|e| matches!(e, FrameError::Media(_)))
    );

    // Carol recorded nothing of what was relabelled.
    for (who, source) in [
        (&alice_id, TrackSource::Screen),
        (&bob_id, TrackSource::Mic),
    ] {
        assert!(recorded(carol.record_dir(), who, source).is_empty());
    }
    assert!(
        !carol
            .events()
            .iter()
            .any(|e| matches!(e, Event::Media(MediaEvent::Started { .. }))),
        "carol played nothing"
    );

    // What the SFU handled holds no plaintext frame; the search does find
    // one where there is one: in the frame the SFU planted.
    let needles = plaintext_needles();
    let planted = log.planted.as_deref().expect("planted");
    assert!(needles.iter().any(|n| contains(planted, n)));
    assert!(log.seen.len() > 100, "{} payloads", log.seen.len());
    for payload in &log.seen {
        for needle in &needles {
            assert!(!contains(payload, needle), "plaintext reached the SFU");
        }
    }
}
