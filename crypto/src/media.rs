//! How a WebRTC encoded frame looks once protected.
//!
//! ```text
//! frame = clear_prefix || sframe_header || ciphertext || tag
//! ```
//!
//! Packetizers and depacketizers (in the browser, before the decoder sees
//! the frame) read a few bytes of some codecs' frames; those bytes stay in
//! the clear and are passed to SFrame as metadata, so they are
//! authenticated and cannot be changed in transit. The rest of the frame is
//! the SFrame plaintext.
//!
//! | codec | clear prefix |
//! |-------|--------------|
//! | Opus  | 1 byte (the TOC) |
//! | VP8   | 10 bytes on keyframes (frame tag, start code, size), 3 on delta frames (frame tag) |
//! | VP9   | none |
//! | H.264, AV1 | not supported yet: [`MediaError::Unsupported`] |
//!
//! A receiver finds the prefix length from the clear bytes themselves (the
//! VP8 keyframe bit is in the first byte), so no side channel is needed.
//! Receivers fail closed: a frame that does not parse or authenticate is an
//! error, never passed through.

use crate::sframe::{self, Counter, KeyId, ReceiverContext, SenderContext};

/// A media codec whose frames sotto protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Opus audio.
    Opus,
    /// VP8 video.
    Vp8,
    /// VP9 video.
    Vp9,
    /// H.264 video: needs NAL-aware encryption; not supported yet.
    H264,
    /// AV1 video: needs per-OBU encryption; not supported yet.
    Av1,
}

impl Codec {
    /// The codec for an RTP/SDP MIME type such as `video/VP8` (case-insensitive).
    pub fn from_mime(mime: &str) -> Option<Codec> {
        let (_, name) = mime.split_once('/')?;
        Some(match name.to_ascii_lowercase().as_str() {
            "opus" => Codec::Opus,
            "vp8" => Codec::Vp8,
            "vp9" => Codec::Vp9,
            "h264" => Codec::H264,
            "av1" => Codec::Av1,
            _ => return None,
        })
    }
}

/// Why a frame could not be protected or unprotected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// An empty frame carries nothing to protect and cannot hold a prefix.
    #[error("empty {0:?} frame")]
    Empty(Codec),
    /// The frame is shorter than the clear prefix its codec needs.
    #[error("{codec:?} frame of {got} bytes is shorter than its {needed}-byte clear prefix")]
    TooShort {
        /// Codec of the frame.
        codec: Codec,
        /// Prefix length required.
        needed: usize,
        /// Frame length.
        got: usize,
    },
    /// The codec's frame layout is not implemented.
    #[error("{0:?} frames are not supported yet")]
    Unsupported(Codec),
    /// SFrame refused the frame.
    #[error(transparent)]
    Sframe(#[from] sframe::Error),
}

/// Anything that turns plaintext into an SFrame ciphertext with its own KID
/// and counter: a [`SenderContext`], or a key ring that picks the context.
pub trait Seal {
    /// Appends `header || ciphertext || tag` for `plaintext` to `out`.
    fn seal_into(
        &mut self,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), sframe::Error>;
}

/// Anything that opens SFrame ciphertexts: a [`ReceiverContext`], or a key
/// ring that derives keys on demand.
pub trait Open {
    /// Appends the plaintext of `header || ciphertext || tag` to `out`.
    fn open_into(
        &mut self,
        metadata: &[u8],
        sframe: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), sframe::Error>;
}

impl Seal for SenderContext {
    fn seal_into(
        &mut self,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), sframe::Error> {
        self.encrypt_into(metadata, plaintext, out)
    }
}

impl Open for ReceiverContext {
    fn open_into(
        &mut self,
        metadata: &[u8],
        sframe: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), sframe::Error> {
        self.decrypt_into(metadata, sframe, out)
    }
}

/// VP8 keyframe prefix: 3-byte frame tag, 3-byte start code, 4 bytes of
/// width and height (RFC 6386 §9.1).
const VP8_KEYFRAME_PREFIX: usize = 10;
/// VP8 delta frame prefix: the 3-byte frame tag.
const VP8_DELTA_PREFIX: usize = 3;

/// Length of the clear prefix of `frame`: the same on the plaintext frame
/// and on the protected one, since the prefix is copied unchanged.
pub fn clear_prefix_len(codec: Codec, frame: &[u8]) -> Result<usize, MediaError> {
    let Some(&first) = frame.first() else {
        return Err(MediaError::Empty(codec));
    };
    let needed = match codec {
        Codec::Opus => 1,
        // RFC 6386 §9.1: bit 0 of the frame tag is 0 on keyframes.
        Codec::Vp8 if first & 1 == 0 => VP8_KEYFRAME_PREFIX,
        Codec::Vp8 => VP8_DELTA_PREFIX,
        Codec::Vp9 => 0,
        Codec::H264 | Codec::Av1 => return Err(MediaError::Unsupported(codec)),
    };
    if frame.len() < needed {
        return Err(MediaError::TooShort {
            codec,
            needed,
            got: frame.len(),
        });
    }
    Ok(needed)
}

/// Protects one encoded frame.
pub fn protect(codec: Codec, tx: &mut impl Seal, frame: &[u8]) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    protect_into(codec, tx, frame, &mut out)?;
    Ok(out)
}

/// Protects one encoded frame, appending the result to `out`.
pub fn protect_into(
    codec: Codec,
    tx: &mut impl Seal,
    frame: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let n = clear_prefix_len(codec, frame)?;
    let (prefix, body) = frame.split_at(n);
    let before = out.len();
    out.extend_from_slice(prefix);
    tx.seal_into(prefix, body, out)
        .inspect_err(|_| out.truncate(before))?;
    Ok(())
}

/// A frame that authenticated and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprotected {
    /// The KID it was protected with (who sent it, in which epoch).
    pub kid: KeyId,
    /// Its SFrame counter.
    pub ctr: Counter,
    /// The encoded frame as the sender's encoder produced it.
    pub frame: Vec<u8>,
}

/// Unprotects one received frame. Any failure means: drop the frame.
pub fn unprotect(codec: Codec, rx: &mut impl Open, wire: &[u8]) -> Result<Unprotected, MediaError> {
    let n = clear_prefix_len(codec, wire)?;
    let (prefix, sframe) = wire.split_at(n);
    let mut frame = Vec::with_capacity(wire.len());
    frame.extend_from_slice(prefix);
    let (kid, ctr) = rx.open_into(prefix, sframe, &mut frame)?;
    Ok(Unprotected { kid, ctr, frame })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sframe::CipherSuite;

    fn pair() -> (SenderContext, ReceiverContext) {
        let base = [5u8; 16];
        let tx = SenderContext::new(CipherSuite::default(), KeyId(17), &base).expect("tx");
        let mut rx = ReceiverContext::new(CipherSuite::default());
        rx.add_key(KeyId(17), &base).expect("rx");
        (tx, rx)
    }

    /// A VP8 keyframe: tag with bit 0 clear, start code, 640x480.
    fn vp8_keyframe() -> Vec<u8> {
        let mut f = vec![0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        f.extend((0..200).map(|i| i as u8));
        f
    }

    fn vp8_delta() -> Vec<u8> {
        let mut f = vec![0x31, 0x07, 0x00];
        f.extend((0..50).map(|i| (i * 3) as u8));
        f
    }

    #[test]
    fn prefixes_stay_clear_and_the_rest_is_encrypted() {
        let cases: [(Codec, Vec<u8>, usize); 4] = [
            (Codec::Opus, vec![0xfc, 1, 2, 3, 4, 5, 6, 7, 8], 1),
            (Codec::Vp8, vp8_keyframe(), 10),
            (Codec::Vp8, vp8_delta(), 3),
            (Codec::Vp9, vec![0x82, 0x49, 0x83, 0x42, 0x00, 9, 9, 9], 0),
        ];
        for (codec, frame, prefix) in cases {
            let (mut tx, mut rx) = pair();
            let wire = protect(codec, &mut tx, &frame).expect("protect");
            assert_eq!(&wire[..prefix], &frame[..prefix], "{codec:?}");
            let body = &frame[prefix..];
            assert!(
                !wire
                    .windows(body.len().min(4))
                    .any(|w| w == &body[..body.len().min(4)]),
                "{codec:?}: plaintext body visible on the wire"
            );
            let back = unprotect(codec, &mut rx, &wire).expect("unprotect");
            assert_eq!(back.frame, frame);
            assert_eq!(back.kid, KeyId(17));
        }
    }

    #[test]
    fn a_changed_clear_prefix_is_caught() {
        let (mut tx, mut rx) = pair();
        let mut wire = protect(Codec::Vp8, &mut tx, &vp8_keyframe()).expect("protect");
        wire[7] ^= 0x01; // the width, in the clear
        assert!(matches!(
            unprotect(Codec::Vp8, &mut rx, &wire),
            Err(MediaError::Sframe(sframe::Error::Authentication))
        ));
    }

    #[test]
    fn flipping_the_vp8_keyframe_bit_is_caught() {
        let (mut tx, mut rx) = pair();
        for frame in [vp8_keyframe(), vp8_delta()] {
            let mut wire = protect(Codec::Vp8, &mut tx, &frame).expect("protect");
            wire[0] ^= 0x01;
            assert!(unprotect(Codec::Vp8, &mut rx, &wire).is_err());
        }
    }

    #[test]
    fn unencrypted_frames_are_never_passed_through() {
        let (_, mut rx) = pair();
        for (codec, frame) in [
            (
                Codec::Opus,
                vec![
                    0xfc, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                ],
            ),
            (Codec::Vp8, vp8_keyframe()),
            (Codec::Vp8, vp8_delta()),
            (Codec::Vp9, vec![0x82; 40]),
        ] {
            assert!(unprotect(codec, &mut rx, &frame).is_err(), "{codec:?}");
        }
    }

    #[test]
    fn short_and_empty_frames_are_typed_errors() {
        let (mut tx, mut rx) = pair();
        assert_eq!(
            protect(Codec::Opus, &mut tx, &[]),
            Err(MediaError::Empty(Codec::Opus))
        );
        assert_eq!(
            protect(Codec::Vp8, &mut tx, &[0x50, 0x42, 0x00, 0x9d]),
            Err(MediaError::TooShort {
                codec: Codec::Vp8,
                needed: 10,
                got: 4
            })
        );
        assert_eq!(
            unprotect(Codec::Vp8, &mut rx, &[0x31]),
            Err(MediaError::TooShort {
                codec: Codec::Vp8,
                needed: 3,
                got: 1
            })
        );
        assert!(unprotect(Codec::Vp9, &mut rx, &[]).is_err());
        assert_eq!(
            protect(Codec::H264, &mut tx, &[0, 0, 0, 1, 0x65]),
            Err(MediaError::Unsupported(Codec::H264))
        );
    }

    #[test]
    fn mime_types_map_to_codecs() {
        assert_eq!(Codec::from_mime("video/VP8"), Some(Codec::Vp8));
        assert_eq!(Codec::from_mime("audio/opus"), Some(Codec::Opus));
        assert_eq!(Codec::from_mime("video/rtx"), None);
        assert_eq!(Codec::from_mime("nonsense"), None);
    }
}
