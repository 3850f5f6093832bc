//! End to end through the real server: signalling, MLS, the SFU, and
//! native participants publishing and recording encrypted media.
//!
//! One test binary (linking the server and the client is the slow part of
//! building these tests); one module per behaviour.

mod a_call_goes_through_a_turn_relay;
mod a_cheating_server_cannot_let_anyone_in;
mod a_cheating_server_cannot_rewrite_the_group;
mod a_killed_member_is_removed;
mod a_leaver_cannot_decrypt_later_frames;
mod a_lost_connection_joins_again;
mod a_media_outage_keeps_the_membership;
mod a_member_killed_mid_commit;
mod a_member_that_missed_a_commit_joins_again;
mod a_newcomer_takes_a_leavers_media_section;
mod a_restarted_server_gets_its_call_back;
mod a_swapped_knock_key_never_enters;
mod churn_and_soak;
mod frames_forged_by_the_sfu_are_dropped;
mod knockers_wait_for_a_member;
mod media_flows_on_while_others_come_and_go;
mod the_servers_refusals_end_the_call;
mod three_members_record_each_other;
mod video_survives_a_lossy_jittery_path;
