//! A member leaves and another joins: the SFU gives the newcomer's tracks
//! the media sections the leaver's tracks left (as JSEP reuses them), on
//! the same remote tracks. Everyone must see the leaver's tracks end and
//! open the newcomer's frames as the newcomer's: before the fix, receivers
//! kept opening them as the leaver's, and every frame failed.

use std::time::Duration;

use sotto_client::room::{Ended, Event, MediaEvent};
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined, wait_for_all_media};
use sotto_tests::server::{TestServer, new_room};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_others_open_the_newcomers_frames_in_the_leavers_old_sections() {
    let server = TestServer::start().await;
    let (link, _) = new_room(&server.origin(), "reused-sections");
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let m = Member::join_sending(&link, name).await;
        members.push(m);
    }
    wait_for_all_media(&members).await;
    let mut carol = members.pop().expect("three");
    let carol_id = carol.id().expect("connected");
    assert_eq!(carol.leave().await, Ended::Left);
    for m in &members {
        m.wait_for("carol's two tracks ending", PATIENCE, |ev| {
            ev.iter()
                .filter(|e| matches!(e, Event::Media(MediaEvent::Ended { participant, .. }) if *participant == carol_id))
                .count()
                == 2
        })
        .await;
    }
    let dave = Member::join(&link, Spec::sending("dave"));
    dave.wait_for("joining", PATIENCE, joined).await;
    let dave_id = dave.id().expect("connected");
    for m in &members {
        m.wait_for("dave's camera and microphone", PATIENCE, |ev| {
            [TrackSource::Camera, TrackSource::Mic].iter().all(|s| {
                ev.iter().any(|e| {
                    matches!(e, Event::Media(MediaEvent::Started { participant, source })
                        if *participant == dave_id && source == s)
                })
            })
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The symptom was here: frames that did not open at the old members.
    for m in &members {
        let failures: Vec<Event> = m
            .events()
            .into_iter()
            .filter(|e| matches!(e, Event::Media(MediaEvent::DecryptFailures { .. })))
            .collect();
        assert!(failures.is_empty(), "{}: {failures:?}", m.name);
    }
    members.push(dave);
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
