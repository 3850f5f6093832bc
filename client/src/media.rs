//! Media without the network: files in, frames out, frames back into files.
//!
//! * [`source`]: VP8 frames from IVF and Opus packets from Ogg, looped with
//!   continuous timing, jumping to the next keyframe on request;
//! * [`assembler`]: RTP packets back into whole frames, dropping any frame
//!   with a hole;
//! * [`record`]: decrypted frames into IVF and Ogg files;
//! * [`ivf`], [`ogg`]: the two containers.

pub mod assembler;
pub mod ivf;
pub mod ogg;
pub mod record;
pub mod source;

/// A media file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file does not parse as its container.
    #[error("malformed {format} file: {why}")]
    Malformed {
        /// Container format.
        format: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// The file holds another codec.
    #[error("the file is not {expected}")]
    Codec {
        /// The codec wanted.
        expected: &'static str,
    },
    /// The file has no frame a decoder can start from.
    #[error("the file has no keyframe")]
    NoKeyframe,
}

/// The media sent when no file is given: the test fixtures of the project
/// (`tests/fixtures/make.sh`), built into the binary.
pub mod fixtures {
    /// VP8, 320x240, 15 fps, 3 s, keyframes at frames 0 and 30: four colour
    /// quadrants and a moving black square.
    pub static PATTERN_IVF: &[u8] = include_bytes!("../../tests/fixtures/pattern.ivf");
    /// Opus, 48 kHz mono, 20 ms packets, 3 s of a 440 Hz tone.
    pub static TONE_OGG: &[u8] = include_bytes!("../../tests/fixtures/tone.ogg");
}
