//! sotto's browser client, the part written in Rust.
//!
//! The page and its frame-transform Worker call into this crate through
//! wasm-bindgen; all cryptography in the browser happens here, in the very
//! code (`sotto-crypto`) the native client runs. JavaScript moves bytes and
//! draws the interface; it never sees a frame key.
//!
//! * [`ring`]: the media key ring: SFrame keys per epoch, the KID layout,
//!   one sender context per outgoing source, and opening that reports (and
//!   checks) who sent a frame.
//! * [`frames`]: the Worker's object, [`frames::FrameCrypto`], protecting
//!   and unprotecting encoded frames (spec/protocol.md §7).
//! * [`vectors`]: thin bindings over SFrame primitives so that the web
//!   client's own tests check `spec/vectors/` through the wasm bundle.
//!
//! The bundle (the `.wasm` and its JS glue) is built from source by
//! `bundle.rs`, which the server's build script calls.

pub mod frames;
pub mod ring;
pub mod vectors;
