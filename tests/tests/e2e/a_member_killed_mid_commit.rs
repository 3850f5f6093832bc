//! A member dies in the middle of a commit: it is the one that commits a
//! newcomer's Add, and its connection breaks right after the commit left
//! (the server has it, the author never merges it) or instead of it (the
//! commit is lost, and the others must take over). Either way the others
//! converge on one epoch without it, the newcomer gets in, keys rotate, and
//! every frame still opens.

use std::time::Duration;

use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::{ParticipantId, TrackSource};
use sotto_tests::PATIENCE;
use sotto_tests::frames::{explain_break, recorded, sent_on, unbroken_run_in};
use sotto_tests::member::{Member, Spec, room_code, wait_for_all_media};
use sotto_tests::server::{TestServer, new_room};
use sotto_tests::tripwire::{Fuse, Trip, Tripwire, first_tripped};

fn camera_from(ev: &[Event], who: &ParticipantId) -> bool {
    ev.iter().any(|e| {
        matches!(e, Event::Media(MediaEvent::Started { participant, source: TrackSource::Camera })
            if participant == who)
    })
}

async fn killed_mid_commit(trip: Trip) {
    let server = TestServer::start().await;
    let (link, _) = new_room(&server.origin(), "killed-mid-commit");
    let fuse = Fuse::default();
    let mut wires = Vec::new();
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let wire = Tripwire::start(server.addr, trip, &fuse).await;
        let mut via = link.clone();
        via.origin = wire.origin();
        let m = Member::join_sending(&via, name).await;
        wires.push(wire);
        members.push(m);
    }
    wait_for_all_media(&members).await;
    let before = members[0].epoch().expect("a member");
    fuse.arm();
    // Dave's Add is the next commit; whoever makes it dies making it.
    let dave = Member::join(&link, Spec::sending("dave"));
    let victim = first_tripped(&wires, PATIENCE).await;
    let mut dead = members.remove(victim);
    dead.kill();
    let dead_id = dead.id().expect("connected");
    members.push(dave);

    // Everyone left (dave too) ends up in one epoch without the dead
    // member, past the one it committed in, with the same room code.
    let start = tokio::time::Instant::now();
    let settled = loop {
        let states: Vec<_> = members.iter().map(room_code).collect();
        let removed = members[..2].iter().all(|m| {
            m.events().iter().any(
                |e| matches!(e, Event::Room(RoomEvent::MemberRemoved { participant, .. }) if *participant == dead_id),
            )
        });
        if removed
            && states.iter().all(|s| s.is_some() && *s == states[0])
            && states[0].as_ref().is_some_and(|(e, _)| *e > before)
        {
            break states[0].clone().expect("checked");
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{trip:?}: no agreement without {}: {states:?}; {}'s events: {:#?}",
            dead.name,
            members[2].name,
            members[2].events()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "{trip:?}: {} died committing at epoch {before}; the others agreed on epoch {} after {:?}",
        dead.name,
        settled.0,
        start.elapsed()
    );
    let ids: Vec<ParticipantId> = members.iter().map(|m| m.id().expect("connected")).collect();
    // Media between all three, in both directions, opens.
    for m in &members {
        for other in ids.iter().filter(|i| m.id().as_ref() != Some(*i)) {
            m.wait_for("video from each of the others", PATIENCE, |ev| {
                camera_from(ev, other)
            })
            .await;
        }
    }
    let sent_after: Vec<usize> = members
        .iter()
        .map(|m| sent_on(&m.sent(), TrackSource::Camera).len())
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    // The two survivors recorded each other without a break from before
    // the death to well after the new epoch.
    for (r, s) in [(0, 1), (1, 0)] {
        let sent = sent_on(&members[s].sent(), TrackSource::Camera);
        let got = recorded(members[r].record_dir(), &ids[s], TrackSource::Camera);
        let what = format!(
            "{trip:?}: {} recording {}",
            members[r].name, members[s].name
        );
        let first = unbroken_run_in(&sent, &got)
            .unwrap_or_else(|| panic!("{what}: {}", explain_break(&sent, &got)));
        assert!(
            first + got.len() >= sent_after[s] + 15,
            "{what}: recording ends at frame {} of {}; agreement at {}",
            first + got.len(),
            sent.len(),
            sent_after[s]
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_its_commit_got_out_the_others_apply_it_and_remove_it() {
    killed_mid_commit(Trip::AfterCommit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_its_commit_was_lost_the_others_commit_in_its_place() {
    killed_mid_commit(Trip::InsteadOfCommit).await;
}
