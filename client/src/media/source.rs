//! Encoded frames to send, read from a file and played in a loop.
//!
//! A [`FrameSource`] holds a whole (small) file in memory and hands out its
//! frames forever, each with its duration in RTP clock ticks, so that RTP
//! timestamps stay continuous across the loop. On a keyframe request it
//! jumps to the next keyframe of the file.

use sotto_crypto::media::Codec;

use super::{FileError, ivf, ogg};

/// RTP clock rate of VP8 (RFC 7741 §4.1).
pub const VP8_CLOCK_RATE: u32 = 90_000;
/// RTP clock rate of Opus (RFC 7587 §4.1).
pub const OPUS_CLOCK_RATE: u32 = 48_000;

/// One frame of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFrame {
    /// The encoded frame.
    pub data: Vec<u8>,
    /// Ticks of the RTP clock until the next frame.
    pub duration: u32,
    /// Whether a decoder can start here (always true for audio).
    pub keyframe: bool,
}

/// The frames of one file, played in a loop.
#[derive(Debug, Clone)]
pub struct FrameSource {
    codec: Codec,
    frames: Vec<SourceFrame>,
    next: usize,
}

/// Whether a VP8 frame is a keyframe (RFC 6386 §9.1: bit 0 of the frame
/// tag is 0).
pub fn is_vp8_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 1 == 0)
}

impl FrameSource {
    /// The VP8 frames of an IVF file.
    pub fn vp8_ivf(bytes: &[u8]) -> Result<FrameSource, FileError> {
        let (header, frames) = ivf::read(bytes)?;
        if &header.fourcc != b"VP80" {
            return Err(FileError::Codec {
                expected: "VP8 (fourcc VP80)",
            });
        }
        // Ticks per timestamp unit; IVF timestamps count num/den seconds.
        let tick = |units: u64| -> u32 {
            let t = units * u64::from(VP8_CLOCK_RATE) * u64::from(header.timebase_num)
                / u64::from(header.timebase_den);
            u32::try_from(t).unwrap_or(u32::MAX).max(1)
        };
        let typical = frames
            .windows(2)
            .map(|w| w[1].pts.saturating_sub(w[0].pts))
            .filter(|&d| d > 0)
            .min()
            .unwrap_or(1);
        let mut out = Vec::with_capacity(frames.len());
        for (i, f) in frames.iter().enumerate() {
            if f.data.is_empty() {
                continue;
            }
            let units = frames
                .get(i + 1)
                .map(|n| n.pts.saturating_sub(f.pts))
                .filter(|&d| d > 0)
                .unwrap_or(typical);
            out.push(SourceFrame {
                keyframe: is_vp8_keyframe(&f.data),
                duration: tick(units),
                data: f.data.clone(),
            });
        }
        FrameSource::new(Codec::Vp8, out)
    }

    /// The Opus packets of an Ogg Opus file.
    pub fn opus_ogg(bytes: &[u8]) -> Result<FrameSource, FileError> {
        let (_, packets) = ogg::read_opus(bytes)?;
        let mut out = Vec::with_capacity(packets.len());
        for p in packets {
            let duration = ogg::opus_packet_samples(&p).ok_or(FileError::Malformed {
                format: "Ogg Opus",
                why: "an Opus packet with a bad TOC",
            })?;
            out.push(SourceFrame {
                data: p,
                duration,
                keyframe: true,
            });
        }
        FrameSource::new(Codec::Opus, out)
    }

    fn new(codec: Codec, frames: Vec<SourceFrame>) -> Result<FrameSource, FileError> {
        // Start at the first keyframe: what comes before cannot be decoded.
        let first = frames
            .iter()
            .position(|f| f.keyframe)
            .ok_or(FileError::NoKeyframe)?;
        Ok(FrameSource {
            codec,
            frames,
            next: first,
        })
    }

    /// The codec of the frames.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// All frames of the file, in order.
    pub fn frames(&self) -> &[SourceFrame] {
        &self.frames
    }

    /// The next frame, looping at the end of the file.
    pub fn next_frame(&mut self) -> &SourceFrame {
        let i = self.next;
        self.next = (i + 1) % self.frames.len();
        &self.frames[i]
    }

    /// Makes the next frame the next keyframe of the file (after a
    /// keyframe request).
    pub fn jump_to_keyframe(&mut self) {
        let n = self.frames.len();
        if let Some(k) = (0..n)
            .map(|d| (self.next + d) % n)
            .find(|&i| self.frames[i].keyframe)
        {
            self.next = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fixtures;

    #[test]
    fn the_pattern_loops_with_keyframes_at_0_and_30() {
        let mut s = FrameSource::vp8_ivf(fixtures::PATTERN_IVF).expect("ivf");
        assert_eq!(s.codec(), Codec::Vp8);
        let keys: Vec<usize> = (0..90).filter(|_| s.next_frame().keyframe).collect();
        assert_eq!(keys, vec![0, 30, 45, 75]);
        assert!(s.frames().iter().all(|f| f.duration == 6000));
    }

    #[test]
    fn a_keyframe_request_jumps_ahead() {
        let mut s = FrameSource::vp8_ivf(fixtures::PATTERN_IVF).expect("ivf");
        for _ in 0..5 {
            s.next_frame();
        }
        s.jump_to_keyframe();
        let k = s.next_frame().clone();
        assert_eq!(k, s.frames()[30]);
        s.jump_to_keyframe();
        let f = s.next_frame().clone();
        assert_eq!(f, s.frames()[0]);
    }

    #[test]
    fn opus_frames_last_20_ms() {
        let mut s = FrameSource::opus_ogg(fixtures::TONE_OGG).expect("ogg");
        assert_eq!(s.codec(), Codec::Opus);
        let f = s.next_frame();
        assert_eq!((f.duration, f.keyframe), (960, true));
    }

    #[test]
    fn the_wrong_container_is_refused() {
        assert!(FrameSource::vp8_ivf(fixtures::TONE_OGG).is_err());
        assert!(FrameSource::opus_ogg(fixtures::PATTERN_IVF).is_err());
    }
}
