//! A member vanishes mid-call without a word (its task and connections
//! dropped, as if the process was killed): the others see it leave, move
//! to a new epoch without it, and their media keeps flowing, every frame
//! intact.

use std::time::Duration;

use sotto_client::room::{Ended, Event, RoomEvent};
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::frames::{explain_break, recorded, sent_on, unbroken_run_in};
use sotto_tests::member::{Member, wait_for_all_media};
use sotto_tests::server::{TestServer, new_room};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_others_see_it_leave_move_on_and_keep_their_media() {
    let server = TestServer::start().await;
    let (link, _) = new_room(&server.origin(), "killed-member");
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let m = Member::join_sending(&link, name).await;
        members.push(m);
    }
    wait_for_all_media(&members).await;
    let mut carol = members.pop().expect("three");
    let carol_id = carol.id().expect("connected");
    let epoch = carol.epoch().expect("a member");
    carol.kill();

    for m in &members {
        m.wait_for("carol leaving and the next epoch", PATIENCE, |ev| {
            ev.iter().any(
                |e| matches!(e, Event::Room(RoomEvent::Departed { participant, .. }) if *participant == carol_id),
            ) && ev.iter().any(
                |e| matches!(e, Event::Room(RoomEvent::MemberRemoved { participant, .. }) if *participant == carol_id),
            ) && ev
                .iter()
                .any(|e| matches!(e, Event::Room(RoomEvent::EpochChanged { epoch: e, .. }) if *e > epoch))
        })
        .await;
    }
    let sent_at_new_epoch: Vec<usize> = members
        .iter()
        .map(|m| sent_on(&m.sent(), TrackSource::Camera).len())
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }

    // Alice and bob recorded each other without a break, through the epoch
    // change, for well after it.
    for (r, s) in [(0, 1), (1, 0)] {
        let sender = members[s].id().expect("connected");
        for source in [TrackSource::Camera, TrackSource::Mic] {
            let sent = sent_on(&members[s].sent(), source);
            let got = recorded(members[r].record_dir(), &sender, source);
            let what = format!(
                "{} recording {}'s {source:?}",
                members[r].name, members[s].name
            );
            let start = unbroken_run_in(&sent, &got)
                .unwrap_or_else(|| panic!("{what}: {}", explain_break(&sent, &got)));
            if source == TrackSource::Camera {
                // 15 frames a second: at least a second of video after.
                assert!(
                    start + got.len() >= sent_at_new_epoch[s] + 15,
                    "{what}: recording ends at frame {} of {}; the epoch changed at {}",
                    start + got.len(),
                    sent.len(),
                    sent_at_new_epoch[s]
                );
            }
        }
    }
    server.stop().await;
}
