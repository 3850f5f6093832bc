//! sotto's browser client, the part written in Rust.
//!
//! The page and its frame-transform Worker call into this crate through
//! wasm-bindgen; every rule a participant follows and all cryptography in
//! the browser happen here, in the very code the native client runs
//! (`sotto-participant` over `sotto-crypto`). JavaScript moves bytes and
//! draws the interface; it never sees a frame key.
//!
//! * [`participant`]: the page's participant core
//!   (`sotto_participant::Participant`): server messages in as JSON text,
//!   outputs and events out as JSON.
//! * [`identity`]: identities and link secrets.
//! * [`frames`]: the Worker's object, [`frames::FrameCrypto`], the media
//!   key ring (`sotto_crypto::keys`) protecting and unprotecting encoded
//!   frames (spec/protocol.md §7).
//! * [`vectors`]: thin bindings over SFrame primitives so that the web
//!   client's own tests check `spec/vectors/` through the wasm bundle.
//!
//! The bundle (the `.wasm` and its JS glue) is built from source by
//! `bundle.rs`, which the server's build script calls.

pub mod frames;
pub mod identity;
pub mod participant;
pub mod vectors;

use sotto_crypto::Instant;

/// Why the binding refused a call; the `message` of the thrown `Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// The identity does not parse.
    #[error("bad_identity")]
    BadIdentity,
    /// The link fragment is not a room secret.
    #[error("bad_secret")]
    BadSecret,
    /// A participant id that is not one.
    #[error("bad_participant")]
    BadParticipant,
    /// A room name that is not one.
    #[error("bad_room")]
    BadRoom,
    /// A fingerprint that is not 30 digits.
    #[error("bad_fingerprint")]
    BadFingerprint,
    /// A time that is not a count of milliseconds.
    #[error("bad_time")]
    BadTime,
    /// The participant refused the command (wrong state, or the knock
    /// changed: `knock_changed`); nothing happened.
    #[error("{0}")]
    Refused(&'static str),
}

/// Milliseconds since the Unix epoch as the crate's [`Instant`].
pub fn instant(ms: f64) -> Result<Instant, BindingError> {
    if !ms.is_finite() || !(0.0..=9.0e15).contains(&ms) {
        return Err(BindingError::BadTime);
    }
    // In range and non-negative: the cast only drops the fraction.
    Ok(Instant::from_millis(ms as u64))
}

/// An [`Instant`] as milliseconds since the Unix epoch.
pub fn millis(at: Instant) -> f64 {
    // Below 2^53 for any date this code will see.
    at.as_millis() as f64
}
