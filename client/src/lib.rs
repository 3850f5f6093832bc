//! sotto's native participant.

pub mod keys;
pub mod media;
pub mod names;
pub mod peer;
pub mod publish;
pub mod room;
pub mod sdp;
pub mod signalling;
pub mod subscribe;

#[cfg(test)]
mod loopback_tests;
