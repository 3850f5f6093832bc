//! End to end through the real server: signalling, MLS, the SFU, and
//! native participants publishing and recording encrypted media.
//!
//! One test binary (linking the server and the client is the slow part of
//! building these tests); one module per behaviour.

mod three_members_record_each_other;
