//! RTP packets back into encoded frames.
//!
//! A frame is the run of packets from a start packet to the packet with
//! the marker bit (VP8, RFC 7741 §4.4), or a single packet (Opus,
//! RFC 7587 §4.2), all with one RTP timestamp and consecutive sequence
//! numbers. Packets may arrive out of order (retransmissions); a frame
//! waits for its missing packets for a while (`patience`), then it is
//! dropped as a whole, never handed on with a hole in it, and the next
//! frame handed on says so (`after_loss`).

use std::collections::BTreeMap;

/// How a codec lays frames out in RTP payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadFormat {
    /// VP8: a payload descriptor in front of each fragment (RFC 7741 §4.2).
    Vp8,
    /// Opus: one whole packet per RTP packet, no descriptor (RFC 7587).
    Opus,
}

/// Why a packet was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The payload (descriptor) is malformed or empty.
    #[error("malformed {0:?} RTP payload")]
    Malformed(PayloadFormat),
}

/// A frame reassembled from its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// The frame, as the sender handed it to its packetiser.
    pub data: Vec<u8>,
    /// Whether frames were lost between the previous frame and this one.
    pub after_loss: bool,
}

#[derive(Debug)]
struct Fragment {
    timestamp: u32,
    start: bool,
    end: bool,
    data: Vec<u8>,
}

/// Most packets held while waiting for a missing one.
const MAX_PENDING: usize = 1024;

/// Reassembles the frames of one RTP stream.
#[derive(Debug)]
pub struct FrameAssembler {
    format: PayloadFormat,
    patience: u32,
    pending: BTreeMap<u64, Fragment>,
    highest: Option<u64>,
    /// Every packet up to this extended sequence number is consumed.
    done_through: Option<u64>,
    loss: bool,
    lost: u64,
}

/// Where the frame data starts in a VP8 payload, and whether the packet
/// starts a frame (S = 1 and partition 0).
fn vp8_descriptor(payload: &[u8]) -> Option<(usize, bool)> {
    let b0 = *payload.first()?;
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    let mut at = 1;
    if b0 & 0x80 != 0 {
        let x = *payload.get(at)?;
        at += 1;
        if x & 0x80 != 0 {
            let pic = *payload.get(at)?;
            at += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1;
        }
        if x & 0x30 != 0 {
            at += 1;
        }
    }
    (at < payload.len()).then_some((at, start))
}

fn ts_after(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl FrameAssembler {
    /// An assembler for `format` that waits up to `patience` RTP clock
    /// ticks (measured on later packets' timestamps) for a missing packet.
    pub fn new(format: PayloadFormat, patience: u32) -> Self {
        FrameAssembler {
            format,
            patience,
            pending: BTreeMap::new(),
            highest: None,
            done_through: None,
            loss: false,
            lost: 0,
        }
    }

    /// Frames given up on so far (approximately: one per hole).
    pub fn lost_frames(&self) -> u64 {
        self.lost
    }

    fn extend_seq(&mut self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            // Start well above zero so that slightly older packets fit.
            let e = (1 << 32) + u64::from(seq);
            self.highest = Some(e);
            return e;
        };
        let base = h & !0xffff;
        let e = [base.wrapping_sub(1 << 16), base, base + (1 << 16)]
            .into_iter()
            .map(|b| b + u64::from(seq))
            .min_by_key(|&c| c.abs_diff(h))
            .unwrap_or(base + u64::from(seq));
        self.highest = Some(h.max(e));
        e
    }

    /// Takes one RTP packet.
    pub fn push(
        &mut self,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), PacketError> {
        let (at, start, end) = match self.format {
            PayloadFormat::Vp8 => {
                let (at, start) =
                    vp8_descriptor(payload).ok_or(PacketError::Malformed(self.format))?;
                (at, start, marker)
            }
            PayloadFormat::Opus if payload.is_empty() => {
                return Err(PacketError::Malformed(self.format));
            }
            PayloadFormat::Opus => (0, true, true),
        };
        let e = self.extend_seq(seq);
        if self.done_through.is_some_and(|d| e <= d) {
            return Ok(()); // late or duplicate
        }
        self.pending.entry(e).or_insert(Fragment {
            timestamp,
            start,
            end,
            data: payload[at..].to_vec(),
        });
        Ok(())
    }

    /// The next complete frame, if one is ready.
    pub fn pop(&mut self) -> Option<AssembledFrame> {
        loop {
            let done = match self.done_through {
                Some(d) => d,
                None => {
                    // Not in sync yet: begin at the first frame start seen.
                    let Some(first_start) =
                        self.pending.iter().find(|(_, f)| f.start).map(|(&k, _)| k)
                    else {
                        if self.pending.len() > MAX_PENDING {
                            self.pending.clear();
                        }
                        return None;
                    };
                    self.pending = self.pending.split_off(&first_start);
                    self.done_through = Some(first_start - 1);
                    continue;
                }
            };
            match self.try_frame(done) {
                Ok(frame) => return Some(frame),
                Err(Stuck::Waiting) => {
                    if !self.out_of_patience() {
                        return None;
                    }
                    self.skip_hole(done);
                }
                Err(Stuck::NoStart) => self.skip_hole(done),
                Err(Stuck::Empty) => return None,
            }
        }
    }

    fn try_frame(&mut self, done: u64) -> Result<AssembledFrame, Stuck> {
        let first = self.pending.get(&(done + 1));
        let Some(first) = first else {
            return Err(if self.pending.is_empty() {
                Stuck::Empty
            } else {
                Stuck::Waiting
            });
        };
        if !first.start {
            return Err(Stuck::NoStart);
        }
        let ts = first.timestamp;
        let mut end = done + 1;
        loop {
            let f = self.pending.get(&end).ok_or(Stuck::Waiting)?;
            if f.timestamp != ts || (end > done + 1 && f.start) {
                // The frame ended without a marker: take what came before.
                end -= 1;
                break;
            }
            if f.end {
                break;
            }
            end += 1;
        }
        let mut data = Vec::new();
        for k in done + 1..=end {
            if let Some(f) = self.pending.remove(&k) {
                data.extend_from_slice(&f.data);
            }
        }
        self.done_through = Some(end);
        let after_loss = std::mem::take(&mut self.loss);
        Ok(AssembledFrame {
            timestamp: ts,
            data,
            after_loss,
        })
    }

    fn out_of_patience(&self) -> bool {
        if self.pending.len() > MAX_PENDING {
            return true;
        }
        let (Some((_, oldest)), Some(newest)) = (
            self.pending.first_key_value(),
            self.pending
                .values()
                .map(|f| f.timestamp)
                .max_by(|a, b| ts_after(*a, *b).cmp(&0)),
        ) else {
            return false;
        };
        ts_after(newest, oldest.timestamp) > i64::from(self.patience)
    }

    /// Drops what is pending up to the next frame start after `done + 1`.
    fn skip_hole(&mut self, done: u64) {
        let next_start = self
            .pending
            .range(done + 2..)
            .find(|(_, f)| f.start)
            .map(|(&k, _)| k);
        match next_start {
            Some(k) => {
                self.pending = self.pending.split_off(&k);
                self.done_through = Some(k - 1);
            }
            None => {
                let last = self.pending.keys().next_back().copied().unwrap_or(done);
                self.pending.clear();
                self.done_through = Some(last.max(done));
            }
        }
        self.loss = true;
        self.lost += 1;
    }
}

#[derive(Debug)]
enum Stuck {
    /// A packet of the next frame is missing and may still come.
    Waiting,
    /// The packet after the last frame does not start one.
    NoStart,
    /// Nothing pending.
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets of a VP8 frame split in `parts`, with a 1-byte descriptor.
    fn vp8(seq: u16, ts: u32, parts: &[&[u8]]) -> Vec<(u16, u32, bool, Vec<u8>)> {
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut payload = vec![if i == 0 { 0x10 } else { 0x00 }];
                payload.extend_from_slice(p);
                (
                    seq.wrapping_add(i as u16),
                    ts,
                    i + 1 == parts.len(),
                    payload,
                )
            })
            .collect()
    }

    fn feed(a: &mut FrameAssembler, packets: &[(u16, u32, bool, Vec<u8>)]) -> Vec<AssembledFrame> {
        let mut out = Vec::new();
        for (s, t, m, p) in packets {
            a.push(*s, *t, *m, p).expect("push");
            while let Some(f) = a.pop() {
                out.push(f);
            }
        }
        out
    }

    #[test]
    fn frames_come_back_whole_across_a_sequence_wrap() {
        let mut a = FrameAssembler::new(PayloadFormat::Vp8, 9000);
        let mut pkts = vp8(65534, 100, &[b"abc", b"def", b"gh"]);
        pkts.extend(vp8(1, 3100, &[b"ij"]));
        let frames = feed(&mut a, &pkts);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].data, b"abcdefgh");
        assert_eq!(frames[1].data, b"ij");
        assert!(!frames[1].after_loss);
    }

    #[test]
    fn reordered_packets_are_waited_for() {
        let mut a = FrameAssembler::new(PayloadFormat::Vp8, 9000);
        let mut pkts = vp8(10, 0, &[b"a1", b"a2", b"a3"]);
        pkts.swap(0, 2);
        let frames = feed(&mut a, &pkts[..1]);
        assert!(frames.is_empty());
        // The start arrives later: resync happens on it.
        let frames = feed(&mut a, &pkts[1..]);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, b"a1a2a3");
    }

    #[test]
    fn a_frame_with_a_hole_is_dropped_not_passed() {
        let mut a = FrameAssembler::new(PayloadFormat::Vp8, 9000);
        let mut pkts = vp8(10, 0, &[b"k1"]);
        let mut holed = vp8(11, 3000, &[b"x1", b"x2", b"x3"]);
        holed.remove(1);
        pkts.extend(holed);
        pkts.extend(vp8(14, 6000, &[b"y"]));
        pkts.extend(vp8(15, 9000, &[b"z"]));
        pkts.extend(vp8(16, 12000, &[b"w"]));
        pkts.extend(vp8(17, 15000, &[b"v"]));
        let frames = feed(&mut a, &pkts);
        let datas: Vec<&[u8]> = frames.iter().map(|f| f.data.as_slice()).collect();
        assert_eq!(datas, vec![&b"k1"[..], b"y", b"z", b"w", b"v"]);
        assert!(frames[1].after_loss);
        assert!(!frames[2].after_loss);
        assert_eq!(a.lost_frames(), 1);
    }

    #[test]
    fn a_lost_start_drops_the_rest_of_its_frame() {
        let mut a = FrameAssembler::new(PayloadFormat::Vp8, 9000);
        let mut pkts = vp8(10, 0, &[b"k"]);
        let tail = vp8(11, 3000, &[b"x1", b"x2"]);
        pkts.push(tail[1].clone());
        pkts.extend(vp8(13, 6000, &[b"y"]));
        let frames = feed(&mut a, &pkts);
        // x2 waits for x1 until patience runs out... y is within patience,
        // so push more to get past it.
        let more = feed(&mut a, &vp8(14, 20000, &[b"z"]));
        let all: Vec<Vec<u8>> = frames.iter().chain(&more).map(|f| f.data.clone()).collect();
        assert_eq!(all, vec![b"k".to_vec(), b"y".to_vec(), b"z".to_vec()]);
    }

    #[test]
    fn duplicates_and_late_packets_are_ignored() {
        let mut a = FrameAssembler::new(PayloadFormat::Opus, 48000);
        let pkts = vec![
            (1u16, 0u32, true, vec![0x78, 1]),
            (1, 0, true, vec![0x78, 1]),
            (2, 960, false, vec![0x78, 2]),
            (1, 0, true, vec![0x78, 1]),
        ];
        let frames = feed(&mut a, &pkts);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].data, vec![0x78, 2]);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let mut a = FrameAssembler::new(PayloadFormat::Vp8, 9000);
        assert!(a.push(1, 0, true, &[]).is_err());
        assert!(a.push(1, 0, true, &[0x90]).is_err()); // X set, nothing after
        assert!(a.push(1, 0, true, &[0x90, 0x80, 0x81]).is_err()); // two-byte picture id cut
        assert!(a.push(1, 0, true, &[0x10]).is_err()); // no frame data
        let mut o = FrameAssembler::new(PayloadFormat::Opus, 48000);
        assert!(o.push(1, 0, true, &[]).is_err());
    }

    #[test]
    fn extended_descriptors_are_skipped() {
        assert_eq!(
            vp8_descriptor(&[0x90, 0x80, 0x81, 0x02, 0xaa]),
            Some((4, true))
        );
        assert_eq!(
            vp8_descriptor(&[0x90, 0xe0, 0x05, 0x01, 0x02, 0xaa]),
            Some((5, true))
        );
        assert_eq!(vp8_descriptor(&[0x11, 0xaa]), Some((1, false)));
    }
}
