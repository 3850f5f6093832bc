//! Participants end to end in memory: the participant core, the real
//! delivery-service rules (`sotto_proto::delivery`) and a virtual clock
//! (`harness`). One file per behaviour; one test binary, so openmls is
//! linked once.

mod harness;

mod a_departure_heard_while_waiting_is_applied;
mod a_knock_is_accepted_by_what_was_shown;
mod chat_and_names_stay_inside_mls;
mod cheating_delivery_service_is_refused;
mod cheating_delivery_service_is_visible;
mod concurrent_commits_converge;
mod forged_frames_are_dropped;
mod knocks_are_accepted_or_refused;
mod malformed_input_is_an_error_not_a_panic;
mod members_join_and_share_media;
mod progress_does_not_depend_on_one_member;
mod removed_member_cannot_decrypt;
mod self_updates_refresh_keys;
mod the_first_arrival_by_name_opens_the_room;
mod the_participant_rules_hold;
mod the_people_list_is_the_group;
