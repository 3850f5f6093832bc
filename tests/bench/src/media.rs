//! Synthetic media: what a packet carries, the send schedule of a track,
//! and the record of what subscribers received.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Which track of a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Opus, 50 packets/s.
    Audio,
    /// VP8, ~200 packets/s, a keyframe every few seconds.
    Video,
}

/// Bytes of an audio packet's payload (Opus at ~32 kbit/s plus SFrame's
/// header and tag).
pub const AUDIO_BYTES: usize = 110;
/// Bytes of a video packet's payload (full packets of a ~1.6 Mbit/s VP8
/// stream: a browser fills packets up to ~1100 bytes).
pub const VIDEO_BYTES: usize = 1050;
/// Frames per second of the video track.
pub const VIDEO_FPS: u32 = 30;
/// A keyframe every this many frames (3 s), and on a PLI.
pub const KEYFRAME_EVERY: u32 = 90;
/// Packets of a keyframe.
pub const KEYFRAME_PACKETS: u32 = 40;

/// Packets of delta frame `frame`: 6, 6, 7, ... (~190/s, ~200/s with the
/// keyframes).
pub fn delta_packets(frame: u32) -> u32 {
    if frame % 3 == 2 { 7 } else { 6 }
}

const MAGIC: &[u8; 4] = b"SBEN";
/// Where the benchmark header starts: after a 1-byte VP8 payload descriptor
/// and the first byte of the VP8 payload header (RFC 7741), so that the
/// video payload looks like VP8 to anyone who peeks.
const AT: usize = 2;
/// Bytes of the header: magic, publisher, kind, seq, send time.
pub const HEADER: usize = AT + 4 + 2 + 1 + 4 + 8;

/// What a received packet says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The publisher's index in the workload.
    pub publisher: u16,
    /// Its track.
    pub kind: Kind,
    /// The publisher's packet counter for the track.
    pub seq: u32,
    /// Send time, ns since the recorder's epoch.
    pub sent_ns: u64,
}

/// A payload of `len` bytes carrying `stamp`. `frame_start`/`keyframe`
/// set the VP8 descriptor's S bit and the payload header's P bit.
pub fn payload(stamp: Stamp, len: usize, frame_start: bool, keyframe: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(len.max(HEADER));
    p.push(if frame_start { 0x10 } else { 0x00 });
    p.push(if keyframe { 0x00 } else { 0x01 });
    p.extend_from_slice(MAGIC);
    p.extend_from_slice(&stamp.publisher.to_be_bytes());
    p.push(match stamp.kind {
        Kind::Audio => 0,
        Kind::Video => 1,
    });
    p.extend_from_slice(&stamp.seq.to_be_bytes());
    p.extend_from_slice(&stamp.sent_ns.to_be_bytes());
    let fill = stamp.seq as u8;
    p.resize(len.max(HEADER), fill);
    p
}

/// The stamp of a payload made by [`payload`], if it is one.
pub fn parse(p: &[u8]) -> Option<Stamp> {
    let h = p.get(AT..HEADER)?;
    if &h[..4] != MAGIC {
        return None;
    }
    let kind = match h[6] {
        0 => Kind::Audio,
        1 => Kind::Video,
        _ => return None,
    };
    Some(Stamp {
        publisher: u16::from_be_bytes([h[4], h[5]]),
        kind,
        seq: u32::from_be_bytes(h[7..11].try_into().ok()?),
        sent_ns: u64::from_be_bytes(h[11..19].try_into().ok()?),
    })
}

/// A publisher's track as the load generator drives it.
#[derive(Debug, Default)]
pub struct TrackCounters {
    /// Packets sent so far (the next seq).
    pub sent: AtomicU32,
    /// Keyframe requests (PLI/FIR) received.
    pub plis: AtomicU32,
    /// A keyframe is due (set on PLI, cleared when sent).
    pub keyframe_due: AtomicBool,
}

/// The record of one workload step: every packet any subscriber received.
pub struct Recorder {
    epoch: Instant,
    /// Send-time window in which latencies are kept (ns since epoch).
    window: (AtomicU64, AtomicU64),
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    latencies_us: Vec<u32>,
    /// (subscriber, publisher, kind) → seqs received.
    seen: HashMap<(u32, u16, Kind), HashSet<u32>>,
    duplicates: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            epoch: Instant::now(),
            window: (AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)),
            inner: Mutex::default(),
        }
    }
}

impl Recorder {
    /// Now, in ns since the epoch: the send time to stamp.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Keeps the latencies of packets sent from now on.
    pub fn open_window(&self) {
        self.window.0.store(self.now_ns(), Ordering::SeqCst);
    }

    /// Stops keeping latencies of packets sent from now on.
    pub fn close_window(&self) {
        self.window.1.store(self.now_ns(), Ordering::SeqCst);
    }

    /// Subscriber `subscriber` received payload `p`.
    pub fn received(&self, subscriber: u32, p: &[u8]) {
        let now = self.now_ns();
        let Some(stamp) = parse(p) else { return };
        let (from, to) = (
            self.window.0.load(Ordering::Relaxed),
            self.window.1.load(Ordering::Relaxed),
        );
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = inner
            .seen
            .entry((subscriber, stamp.publisher, stamp.kind))
            .or_default()
            .insert(stamp.seq);
        if !fresh {
            inner.duplicates += 1;
            return;
        }
        if stamp.sent_ns >= from && stamp.sent_ns < to {
            let us = now.saturating_sub(stamp.sent_ns) / 1000;
            inner.latencies_us.push(us.min(u32::MAX as u64) as u32);
        }
    }

    /// Distinct packets `subscriber` received of `publisher`'s `kind`
    /// track with seq in `range`.
    pub fn count(&self, subscriber: u32, publisher: u16, kind: Kind, range: (u32, u32)) -> u64 {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .seen
            .get(&(subscriber, publisher, kind))
            .map(|s| s.iter().filter(|&&q| q >= range.0 && q < range.1).count() as u64)
            .unwrap_or(0)
    }

    /// Whether `subscriber` has received anything of `publisher`'s `kind`.
    pub fn has(&self, subscriber: u32, publisher: u16, kind: Kind) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .seen
            .get(&(subscriber, publisher, kind))
            .is_some_and(|s| !s.is_empty())
    }

    /// The latencies (µs) of packets sent in the window, and the number of
    /// duplicate packets received.
    pub fn take_latencies(&self) -> (Vec<u32>, u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut inner.latencies_us), inner.duplicates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_have_the_asked_size() {
        let s = Stamp {
            publisher: 513,
            kind: Kind::Video,
            seq: 0xdead_beef,
            sent_ns: 0x0102_0304_0506_0708,
        };
        let p = payload(s, VIDEO_BYTES, true, true);
        assert_eq!(p.len(), VIDEO_BYTES);
        assert_eq!((p[0], p[1]), (0x10, 0x00));
        assert_eq!(parse(&p), Some(s));
        let a = Stamp {
            kind: Kind::Audio,
            ..s
        };
        assert_eq!(parse(&payload(a, 3, false, false)), Some(a));
        assert_eq!(parse(&p[..HEADER - 1]), None);
        let mut bad = p.clone();
        bad[2] = b'X';
        assert_eq!(parse(&bad), None);
    }

    #[test]
    fn the_video_schedule_is_about_200_packets_per_second() {
        let per_keyframe_period: u32 =
            (1..KEYFRAME_EVERY).map(delta_packets).sum::<u32>() + KEYFRAME_PACKETS;
        let per_second = per_keyframe_period as f64 * VIDEO_FPS as f64 / KEYFRAME_EVERY as f64;
        assert!((190.0..215.0).contains(&per_second), "{per_second}");
    }

    #[test]
    fn the_recorder_counts_distinct_packets_and_windowed_latencies() {
        let r = Recorder::default();
        let stamp = |seq, sent_ns| Stamp {
            publisher: 1,
            kind: Kind::Audio,
            seq,
            sent_ns,
        };
        // Before the window: counted, no latency.
        r.received(7, &payload(stamp(0, 0), 50, false, false));
        r.open_window();
        let t = r.now_ns();
        r.received(7, &payload(stamp(1, t), 50, false, false));
        r.received(7, &payload(stamp(1, t), 50, false, false));
        r.received(7, &payload(stamp(3, t), 50, false, false));
        r.received(7, b"not ours");
        r.close_window();
        assert_eq!(r.count(7, 1, Kind::Audio, (0, 4)), 3);
        assert_eq!(r.count(7, 1, Kind::Audio, (1, 3)), 1);
        assert_eq!(r.count(8, 1, Kind::Audio, (0, 4)), 0);
        assert!(r.has(7, 1, Kind::Audio) && !r.has(7, 1, Kind::Video));
        let (lat, dup) = r.take_latencies();
        assert_eq!((lat.len(), dup), (2, 1));
    }
}
