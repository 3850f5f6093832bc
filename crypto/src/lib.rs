//! sotto's end-to-end encryption, sans-IO.
//!
//! This crate holds everything a participant needs to protect media so that
//! the server in the middle handles only ciphertext, and nothing a server
//! needs: `sotto-server` never depends on it.
//!
//! * [`sframe`]: RFC 9605 exactly: the header, the five registered cipher
//!   suites, key and salt derivation, a sender context that never reuses a
//!   counter and a receiver context with a replay window per key id.
//! * [`media`]: how a WebRTC encoded frame is laid out once protected:
//!   `clear_prefix || sframe_header || ciphertext || tag`, with the codec's
//!   clear prefix authenticated as SFrame metadata.
//!
//! The crate does no I/O, reads no clock and spawns nothing; it builds for
//! `wasm32-unknown-unknown` so the browser runs the very same code.
//!
//! # Drive loop
//!
//! A sender derives one [`sframe::SenderContext`] per outgoing stream and
//! calls [`media::protect`] on each encoded frame; a receiver keeps one
//! [`sframe::ReceiverContext`] holding every key it may need and calls
//! [`media::unprotect`], dropping any frame that returns an error:
//!
//! ```
//! use sotto_crypto::media::{self, Codec};
//! use sotto_crypto::sframe::{CipherSuite, KeyId, ReceiverContext, SenderContext};
//!
//! let base_key = [7u8; 16]; // in sotto this comes from the MLS exporter
//! let suite = CipherSuite::AesGcm128Sha256;
//! let kid = KeyId(0x42);
//! let mut tx = SenderContext::new(suite, kid, &base_key)?;
//! let mut rx = ReceiverContext::new(suite);
//! rx.add_key(kid, &base_key)?;
//!
//! let opus_frame = [0x78, 1, 2, 3, 4];
//! let wire = media::protect(Codec::Opus, &mut tx, &opus_frame)?;
//! assert_eq!(wire[0], 0x78); // the TOC byte stays readable
//! let clear = media::unprotect(Codec::Opus, &mut rx, &wire)?;
//! assert_eq!(clear.frame, opus_frame);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod admission;
pub mod app;
pub mod identity;
pub mod keys;
pub mod media;
pub mod participant;
pub mod session;
pub mod sframe;
pub mod time;
pub mod verify;

pub use participant::ParticipantId;
pub use time::Instant;
