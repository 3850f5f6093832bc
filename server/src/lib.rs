//! sotto-server: the single binary a volunteer runs.
//!
//! * signalling over WebSocket (spec/protocol.md), which also makes the
//!   server the MLS delivery service: it orders commits per room (first
//!   commit for the current epoch wins) and relays opaque MLS messages;
//! * an SFU that forwards SFrame-protected media it cannot read.
//!
//! The server does not depend on `sotto-crypto` or openmls: it cannot
//! decrypt because it does not contain the code to do so.

pub mod media;
pub mod sfu;
