//! sotto-server: the single binary a volunteer runs.
//!
//! * signalling over WebSocket (spec/protocol.md), which also makes the
//!   server the MLS delivery service: it orders commits per room (first
//!   commit for the current epoch wins) and relays opaque MLS messages;
//! * an SFU that forwards SFrame-protected media it cannot read.
//!
//! The server does not depend on `sotto-crypto` or openmls: it cannot
//! decrypt because it does not contain the code to do so.
//!
//! # Layout
//!
//! * [`rooms`]: the live rooms, each behind a lock held for one step; the
//!   rules of each are `sotto_proto::delivery`'s sans-IO state machine;
//! * [`signal`]: the WebSocket driver per connection (limits, liveness);
//! * [`media`]: the seam to the SFU;
//! * [`sfu`]: the media plane: one UDP port, RTP forwarding, RTCP hop by hop;
//! * [`http`], [`metrics`]: the router, static client, `/metrics`;
//! * [`config`], [`server`]: flags and files; startup and shutdown;
//! * [`log_tag`]: names in logs as per-process keyed hashes.

pub mod config;
pub mod http;
pub mod log_tag;
pub mod media;
pub mod metrics;
pub mod rooms;
pub mod server;
pub mod sfu;
pub mod signal;
pub mod turn;
