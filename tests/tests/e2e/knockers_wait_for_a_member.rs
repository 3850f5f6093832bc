//! Without the link's secret a participant knocks: it gets nothing until a
//! member accepts it, and nothing at all if a member refuses it.

use std::time::Duration;

use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_crypto::session::Admission;
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined, knock_fingerprint};
use sotto_tests::server::{TestServer, new_room};

fn knock_from(ev: &[Event], who: &sotto_proto::ParticipantId) -> bool {
    ev.iter().any(
        |e| matches!(e, Event::Room(RoomEvent::Knock { participant, .. }) if participant == who),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knocker_enters_only_when_accepted_and_a_refused_one_never_gets_keys() {
    let server = TestServer::start().await;
    let (link, bare) = new_room(&server.origin(), "knock-knock");
    let alice = Member::join(&link, Spec::sending("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;

    let mut kim = Member::join(&bare, Spec::silent("kim"));
    kim.wait_for("knocking", PATIENCE, |ev| {
        ev.iter()
            .any(|e| matches!(e, Event::Room(RoomEvent::Waiting { knocking: true })))
    })
    .await;
    let kim_id = kim.id().expect("connected");
    alice
        .wait_for("kim's knock", PATIENCE, |ev| knock_from(ev, &kim_id))
        .await;
    // Nobody has decided: kim stays outside, without keys or media.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!kim.joined());
    assert!(kim.held_keys().await.is_empty());
    assert!(kim.wire().is_empty(), "kim received media before entering");

    let shown = knock_fingerprint(&alice.events(), &kim_id).expect("kim's knock was shown");
    alice.room().accept_knock(kim_id.clone(), shown);
    kim.wait_for("entering and alice's video", PATIENCE, |ev| {
        joined(ev)
            && ev.iter().any(|e| {
                matches!(
                    e,
                    Event::Media(MediaEvent::Started {
                        source: TrackSource::Camera,
                        ..
                    })
                )
            })
    })
    .await;
    assert!(!kim.held_keys().await.is_empty());
    alice
        .wait_for("kim as a member let in by knock", PATIENCE, |ev| {
            ev.iter().any(|e| {
                matches!(e, Event::Room(RoomEvent::MemberAdded { participant, admission: Admission::Knock, .. })
                    if *participant == kim_id)
            })
        })
        .await;

    let mut rex = Member::join(&bare, Spec::silent("rex"));
    rex.wait_for("knocking", PATIENCE, |ev| {
        ev.iter()
            .any(|e| matches!(e, Event::Room(RoomEvent::Waiting { knocking: true })))
    })
    .await;
    let rex_id = rex.id().expect("connected");
    alice
        .wait_for("rex's knock", PATIENCE, |ev| knock_from(ev, &rex_id))
        .await;
    alice.room().refuse_knock(rex_id.clone());
    assert_eq!(rex.finished(PATIENCE).await, Ended::Refused);
    let events = rex.events();
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Room(RoomEvent::Joined { .. })
                | Event::Room(RoomEvent::EpochChanged { .. })
                | Event::Media(MediaEvent::Started { .. })
        )),
        "a refused knocker got in: {events:?}"
    );
    assert!(rex.wire().is_empty(), "rex received media");

    assert_eq!(kim.leave().await, Ended::Left);
    server.stop().await;
}
