//! A member misses one commit (the server relayed it, the member never
//! got it: a bug, a proxy, a lost message). MLS cannot skip an epoch, so
//! it can never follow the group again: it must notice the next commit is
//! for a later epoch than its own and join again as a new participant
//! (spec §4.5), instead of staying in the room unable to decrypt anything.

use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined};
use sotto_tests::server::{TestServer, new_room};
use sotto_tests::tripwire::{Fuse, Trip, Tripwire, first_tripped};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_notices_the_gap_and_comes_back_as_someone_new() {
    let server = TestServer::start().await;
    let (link, _) = new_room(&server.origin(), "missed-commit");
    let alice = Member::join(&link, Spec::sending("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let fuse = Fuse::default();
    let wire = Tripwire::start(server.addr, Trip::LoseRelayedCommit, &fuse).await;
    let mut via = link.clone();
    via.origin = wire.origin();
    let bob = Member::join(
        &via,
        Spec {
            reconnect: true,
            ..Spec::sending("bob")
        },
    );
    bob.wait_for("joining", PATIENCE, joined).await;
    let bob_first = bob.id().expect("connected");
    // Newcomers until a commit relayed to bob is lost (bob may commit an
    // Add himself: the server does not relay his own commit back).
    fuse.arm();
    let mut members = vec![alice, bob];
    for name in ["carol", "dave", "erin"] {
        let m = Member::join(&link, Spec::silent(name));
        m.wait_for("joining", PATIENCE, joined).await;
        members.push(m);
        if wire.tripped() {
            break;
        }
    }
    first_tripped(std::slice::from_ref(&wire), PATIENCE).await;
    // The next commit shows bob the gap.
    members.push(Member::join(&link, Spec::silent("frank")));
    members[1]
        .wait_for("bob joining again as someone new", PATIENCE, |ev| {
            let ids: Vec<_> = ev
                .iter()
                .filter_map(|e| match e {
                    Event::Room(RoomEvent::Connected { participant, .. }) => Some(participant),
                    _ => None,
                })
                .collect();
            ids.len() == 2
                && *ids[0] == bob_first
                && ev
                    .iter()
                    .filter(|e| matches!(e, Event::Room(RoomEvent::Joined { .. })))
                    .count()
                    == 2
        })
        .await;
    let bob_now = members[1].id_now();
    for m in members.iter().filter(|m| m.name == "alice") {
        m.wait_for("bob's video from his new id", PATIENCE, |ev| {
            ev.iter().any(|e| matches!(e, Event::Media(MediaEvent::Started { participant, source: TrackSource::Camera }) if *participant == bob_now))
        })
        .await;
    }
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
