//! Sequence number and timestamp rewriting for one forwarded stream.
//!
//! Each subscriber receives each published track on an SSRC the server
//! chose for that subscriber's peer connection (spec/protocol.md §6). The
//! subscriber must see one continuous RTP stream even when what feeds it
//! changes: the publisher restarts its encoder on a new SSRC, or the server
//! had to skip packets while the subscriber was not connected. So sequence
//! numbers and timestamps are shifted by per-stream offsets, and a new
//! offset is chosen each time the incoming SSRC changes, so that output
//! continues where it left off.
//!
//! Only header fields are touched; the payload is never read. Pure: time is
//! an input.

use std::time::{Duration, Instant};

/// The rewritten header fields of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewritten {
    /// Outgoing sequence number.
    pub(crate) sequence_number: u16,
    /// Outgoing RTP timestamp.
    pub(crate) timestamp: u32,
}

/// Rewrites one incoming stream (of possibly changing SSRC) into one
/// outgoing stream.
#[derive(Debug, Clone)]
pub(crate) struct SeqRewriter {
    clock_rate: u32,
    /// The incoming SSRC the offsets are for; `None` before the first packet.
    source: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest outgoing sequence number so far, its timestamp, and when it
    /// was sent.
    highest_seq: u16,
    highest_ts: u32,
    highest_at: Option<Instant>,
}

/// Whether sequence number `a` comes after `b` (RFC 3550 §A.1 arithmetic).
fn seq_after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl SeqRewriter {
    /// A rewriter whose first packet will go out as `initial_seq` with
    /// `initial_ts`: random values, as RFC 3550 §5.1 asks of a new stream.
    pub(crate) fn new(clock_rate: u32, initial_seq: u16, initial_ts: u32) -> Self {
        SeqRewriter {
            clock_rate,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            highest_seq: initial_seq.wrapping_sub(1),
            highest_ts: initial_ts,
            highest_at: None,
        }
    }

    /// The outgoing sequence number and timestamp for an incoming packet.
    pub(crate) fn rewrite(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32) -> Rewritten {
        if self.source != Some(ssrc) {
            // A new source continues right after the highest packet sent, and
            // its timestamps continue by the wall time elapsed since then
            // (at least one tick, so they never go backwards).
            let elapsed = self
                .highest_at
                .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
            let ticks = (elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000).max(1);
            let next_ts = if self.highest_at.is_some() {
                self.highest_ts
                    .wrapping_add(u32::try_from(ticks).unwrap_or(u32::MAX))
            } else {
                self.highest_ts
            };
            self.seq_offset = self.highest_seq.wrapping_add(1).wrapping_sub(seq);
            self.ts_offset = next_ts.wrapping_sub(ts);
            self.source = Some(ssrc);
        }
        let out = Rewritten {
            sequence_number: seq.wrapping_add(self.seq_offset),
            timestamp: ts.wrapping_add(self.ts_offset),
        };
        if self.highest_at.is_none() || seq_after(out.sequence_number, self.highest_seq) {
            self.highest_seq = out.sequence_number;
            self.highest_ts = out.timestamp;
            self.highest_at = Some(now);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_keeps_gaps_and_order_with_a_fixed_offset() {
        let t0 = Instant::now();
        let mut rw = SeqRewriter::new(90_000, 1000, 5000);
        let first = rw.rewrite(t0, 0xAAAA, 40_000, 123_456);
        assert_eq!(
            first,
            Rewritten {
                sequence_number: 1000,
                timestamp: 5000
            }
        );
        // Loss upstream stays a gap (so NACKs still mean something), and a
        // late packet slots back into its place.
        assert_eq!(
            rw.rewrite(t0, 0xAAAA, 40_002, 126_456).sequence_number,
            1002
        );
        assert_eq!(
            rw.rewrite(t0, 0xAAAA, 40_001, 124_956).sequence_number,
            1001
        );
        assert_eq!(
            rw.rewrite(t0, 0xAAAA, 40_001, 124_956).timestamp,
            5000 + 1500
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t0 = Instant::now();
        let mut rw = SeqRewriter::new(48_000, 65_534, u32::MAX - 10);
        let seqs: Vec<u16> = (0..4u16)
            .map(|i| {
                rw.rewrite(t0, 1, 10 + i, 960 * u32::from(i))
                    .sequence_number
            })
            .collect();
        assert_eq!(seqs, vec![65_534, 65_535, 0, 1]);
        assert_eq!(
            rw.rewrite(t0, 1, 14, 960 * 4).timestamp,
            (u32::MAX - 10).wrapping_add(3840)
        );
    }

    #[test]
    fn a_new_source_continues_the_stream() {
        let t0 = Instant::now();
        let mut rw = SeqRewriter::new(90_000, 100, 1_000);
        for i in 0..10u16 {
            rw.rewrite(t0, 0xAAAA, 5000 + i, 3000 * u32::from(i));
        }
        // Publisher restarts on another SSRC with unrelated numbering, 100 ms later.
        let t1 = t0 + Duration::from_millis(100);
        let first = rw.rewrite(t1, 0xBBBB, 7, 999_999);
        assert_eq!(first.sequence_number, 110);
        assert_eq!(first.timestamp, 1_000 + 27_000 + 9_000);
        let second = rw.rewrite(t1, 0xBBBB, 8, 999_999 + 3000);
        assert_eq!(second.sequence_number, 111);
        assert_eq!(second.timestamp, first.timestamp + 3000);
        // Switching back picks up after the highest again, not at the old offset.
        let back = rw.rewrite(t1, 0xAAAA, 5010, 30_000);
        assert_eq!(back.sequence_number, 112);
        assert!(seq_after(back.sequence_number, second.sequence_number));
        assert_eq!(back.timestamp, second.timestamp + 1);
    }

    #[test]
    fn seq_after_is_modular() {
        assert!(seq_after(1, 0));
        assert!(seq_after(0, 65_535));
        assert!(!seq_after(65_535, 0));
        assert!(!seq_after(5, 5));
    }
}
