//! A knock is accepted by what the member saw (issue "the server must not
//! get in", H1), through the real server with native participants: the
//! cheating signalling relays kim's genuine KeyPackage, alice sees kim's
//! fingerprint, and between the knock and alice's "yes" the relay sends
//! a KeyPackage of the server's own under kim's id. Alice is warned, both
//! KeyPackages are dropped, her "yes" admits nobody, and the server's key
//! never enters the group.

use std::time::Duration;

use serde_json::json;
use sotto_client::room::{Ended, Event, RoomEvent};
use sotto_tests::PATIENCE;
use sotto_tests::cheat::{CheatingSignalling, Dir, forge, honest};
use sotto_tests::member::{Member, Spec, joined, knock_fingerprint, room_code};
use sotto_tests::server::{TestServer, new_room};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_key_package_between_the_knock_and_the_click_lets_nobody_in() {
    let server = TestServer::start().await;
    let room = "swapped-knock";
    let cheat = CheatingSignalling::start(server.addr, honest()).await;
    let (link, bare) = new_room(&cheat.origin(), room);

    let mut alice = Member::join(&link, Spec::silent("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let alice_id = alice.id().expect("connected");
    let mut kim = Member::join(&bare, Spec::silent("kim"));
    kim.wait_for("connecting", PATIENCE, |ev| {
        ev.iter()
            .any(|e| matches!(e, Event::Room(RoomEvent::Waiting { knocking: true })))
    })
    .await;
    let kim_id = kim.id().expect("connected");
    alice
        .wait_for("kim's knock", PATIENCE, |ev| {
            knock_fingerprint(ev, &kim_id).is_some()
        })
        .await;
    let shown = knock_fingerprint(&alice.events(), &kim_id).expect("shown");

    // The server's own KeyPackage, in kim's name.
    let (forged, forged_fingerprint) = forge::key_package(kim_id.as_str(), room, None);
    assert_ne!(forged_fingerprint, shown);
    assert!(cheat.inject(
        alice_id.as_str(),
        Dir::Down,
        json!({"v": 1, "type": "join_request", "participant": kim_id, "key_package": forged}),
    ));
    alice
        .wait_for("the warning", PATIENCE, |ev| {
            ev.iter().any(|e| {
                matches!(e, Event::Room(RoomEvent::KeyPackageConflict { participant }) if *participant == kim_id)
            })
        })
        .await;
    // The person's "yes", with what they compared.
    alice.room().accept_knock(kim_id.clone(), shown);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = alice.events();
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Room(RoomEvent::MemberAdded { .. } | RoomEvent::EpochChanged { .. })
        )),
        "nobody entered: {events:?}"
    );
    assert_eq!(room_code(&alice).map(|c| c.0), Some(0));
    assert!(!kim.joined());
    assert!(kim.held_keys().await.is_empty());
    for m in [&mut alice, &mut kim] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
