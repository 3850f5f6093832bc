//! sotto's browser client, the part written in Rust.
//!
//! The page and its frame-transform Worker call into this crate through
//! wasm-bindgen; all cryptography in the browser happens here, in the very
//! code (`sotto-crypto`) the native client runs. JavaScript moves bytes and
//! draws the interface; it never sees a frame key.
//!
//! * [`session`]: the page's MLS session (`sotto_crypto::session`), its
//!   outputs as signalling messages and its events as JSON; identities and
//!   link secrets.
//! * [`frames`]: the Worker's object, [`frames::FrameCrypto`], the media
//!   key ring (`sotto_crypto::keys`) protecting and unprotecting encoded
//!   frames (spec/protocol.md §7).
//! * [`vectors`]: thin bindings over SFrame primitives so that the web
//!   client's own tests check `spec/vectors/` through the wasm bundle.
//!
//! The bundle (the `.wasm` and its JS glue) is built from source by
//! `bundle.rs`, which the server's build script calls.

pub mod frames;
pub mod session;
pub mod vectors;
