//! End to end through the real server: signalling, MLS, the SFU, and
//! native participants publishing and recording encrypted media.
//!
//! One test binary (linking the server and the client is the slow part of
//! building these tests); one module per behaviour.

mod a_cheating_server_cannot_let_anyone_in;
mod a_cheating_server_cannot_rewrite_the_group;
mod a_killed_member_is_removed;
mod a_leaver_cannot_decrypt_later_frames;
mod a_lost_connection_joins_again;
mod frames_forged_by_the_sfu_are_dropped;
mod knockers_wait_for_a_member;
mod three_members_record_each_other;
