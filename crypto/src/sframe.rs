//! SFrame, RFC 9605.
//!
//! * [`Header`]: the variable-length header of §4.3, encoded minimally and
//!   decoded strictly.
//! * [`CipherSuite`]: the five suites registered in §8.1 with the constants
//!   of Table 1.
//! * [`FrameKey`]: `sframe_key` and `sframe_salt` derived from a `base_key`
//!   for one KID (§4.4.2), sealing and opening frames (§4.4.3, §4.4.4).
//! * [`SenderContext`] and [`ReceiverContext`]: the key stores of §4.4.1,
//!   split by direction as the RFC requires ("never both"), with counter
//!   management on the sending side and anti-replay (§9.3) on the receiving
//!   side.

mod aead;
mod context;
mod header;
mod key;
mod replay;
mod suite;
#[cfg(test)]
mod vectors;

pub use context::{Decrypted, ReceiverContext, SenderContext};
pub use header::{Counter, Header, HeaderError, KeyId, MAX_HEADER_LEN};
pub use key::FrameKey;
pub use replay::{REPLAY_WINDOW, ReplayWindow};
pub use suite::CipherSuite;

/// Everything that can go wrong when protecting or unprotecting a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SFrame header does not parse.
    #[error("bad SFrame header: {0}")]
    Header(#[from] HeaderError),
    /// The cipher suite number is not one of RFC 9605 §8.1.
    #[error("unknown SFrame cipher suite 0x{0:04x}")]
    UnknownCipherSuite(u16),
    /// A base key is too short to be used with the suite.
    #[error("base key of {got} bytes is shorter than the {min} bytes the suite needs")]
    BaseKeyTooShort {
        /// Bytes required (`Nk` of the suite).
        min: usize,
        /// Bytes given.
        got: usize,
    },
    /// No key is known for the KID in the header.
    #[error("no key for {0}")]
    UnknownKeyId(KeyId),
    /// The ciphertext is shorter than the authentication tag.
    #[error("ciphertext of {got} bytes is shorter than the {tag}-byte tag")]
    TooShort {
        /// Tag length of the suite.
        tag: usize,
        /// Bytes after the header.
        got: usize,
    },
    /// The tag did not verify: wrong key, tampered header, metadata or
    /// ciphertext.
    #[error("frame failed authentication")]
    Authentication,
    /// This (KID, CTR) was already accepted once.
    #[error("replayed frame: {kid} {ctr}")]
    Replay {
        /// Key id of the frame.
        kid: KeyId,
        /// Counter of the frame.
        ctr: Counter,
    },
    /// The counter is older than the replay window still remembers.
    #[error("frame too old for the replay window: {kid} {ctr}")]
    TooOld {
        /// Key id of the frame.
        kid: KeyId,
        /// Counter of the frame.
        ctr: Counter,
    },
    /// The sender used every counter value of this key; it needs a new key.
    #[error("counter space of {0} is exhausted")]
    CounterExhausted(KeyId),
    /// The plaintext is too long for the suite (AES-GCM limit).
    #[error("plaintext too long for the cipher suite")]
    PlaintextTooLong,
    /// A key ring has no key to send with yet (it was given no epoch).
    #[error("no key to send with yet")]
    NoSendingKey,
}
