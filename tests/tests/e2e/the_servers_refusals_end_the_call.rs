//! The rules the participant core owns, through the real server with
//! native participants (the browser runs the same scenarios in
//! `tests/browser/rules.mjs`): a refusal for good (a full room, a server
//! at its room limit, another protocol version) ends the call with its
//! reason at once, and nothing connects again even with reconnecting on;
//! a verdict for a commit the member no longer holds makes it join again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::{ErrorCode, TrackSource};
use sotto_tests::PATIENCE;
use sotto_tests::cheat::{CheatingSignalling, Dir, Tamper, honest};
use sotto_tests::member::{Member, Spec, joined};
use sotto_tests::server::{TestServer, new_room};

/// Joins `link` through `relay` with reconnecting on, and checks it ends
/// with `code` within 5 s and opens no second connection.
async fn refused(relay: &CheatingSignalling, link: &sotto_proto::RoomLink, code: ErrorCode) {
    let mut via = link.clone();
    via.origin = relay.origin();
    let before = relay.connections();
    let start = Instant::now();
    let mut m = Member::join(
        &via,
        Spec {
            reconnect: true,
            ..Spec::silent("refused")
        },
    );
    match m.finished(Duration::from_secs(5)).await {
        Ended::Server { code: got, .. } => assert_eq!(got, code),
        other => panic!("ended {other:?}, not {code:?}"),
    }
    eprintln!(
        "{code:?} ended the call {:?} after joining",
        start.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        relay.connections(),
        before + 1,
        "it connected again after the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_and_a_full_server_end_the_call_and_nothing_reconnects() {
    let server = TestServer::start_with(|c| {
        c.limits.max_participants = 2;
        c.limits.max_rooms = 1;
    })
    .await
    .expect("starts");
    let relay = CheatingSignalling::start(server.addr, honest()).await;
    let (link, _) = new_room(&server.origin(), "refusals");
    let mut members = Vec::new();
    for name in ["alice", "bob"] {
        let m = Member::join(&link, Spec::silent(name));
        m.wait_for("joining", PATIENCE, joined).await;
        members.push(m);
    }
    refused(&relay, &link, ErrorCode::RoomFull).await;
    let (other, _) = new_room(&server.origin(), "refusals-other");
    refused(&relay, &other, ErrorCode::TooManyRooms).await;
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_ends_the_call_and_nothing_reconnects() {
    let server = TestServer::start().await;
    // Every message we send claims version 2.
    let newer: Tamper = Arc::new(|_, dir, mut msg: Value| {
        if dir == Dir::Up {
            msg["v"] = Value::from(2);
        }
        vec![(dir, msg)]
    });
    let relay = CheatingSignalling::start(server.addr, newer).await;
    let (link, _) = new_room(&server.origin(), "newer");
    refused(&relay, &link, ErrorCode::VersionMismatch).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_told_its_commit_won_twice_joins_again_and_decrypts_again() {
    let server = TestServer::start().await;
    let armed = Arc::new(AtomicBool::new(false));
    let fire = Arc::clone(&armed);
    // Once armed, the next verdict for a commit goes down twice.
    let twice: Tamper = Arc::new(move |_, dir, msg: Value| {
        if dir == Dir::Down
            && msg["type"] == "commit_accepted"
            && fire.swap(false, Ordering::SeqCst)
        {
            return vec![(dir, msg.clone()), (dir, msg)];
        }
        vec![(dir, msg)]
    });
    let relay = CheatingSignalling::start(server.addr, twice).await;
    let (link, _) = new_room(&server.origin(), "won-twice");
    let mut via = link.clone();
    via.origin = relay.origin();
    // Alice founds the room: she commits the next Add.
    let mut alice = Member::join(
        &via,
        Spec {
            reconnect: true,
            ..Spec::sending("alice")
        },
    );
    alice.wait_for("joining", PATIENCE, joined).await;
    let alice_first = alice.id().expect("connected");
    armed.store(true, Ordering::SeqCst);
    let mut bob = Member::join(&link, Spec::sending("bob"));
    bob.wait_for("joining", PATIENCE, joined).await;
    alice
        .wait_for("alice joining again as someone new", PATIENCE, |ev| {
            ev.iter()
                .filter(|e| matches!(e, Event::Room(RoomEvent::Joined { .. })))
                .count()
                == 2
        })
        .await;
    assert!(!armed.load(Ordering::SeqCst), "the verdict went down twice");
    let alice_now = alice.id_now();
    assert_ne!(alice_now, alice_first);
    bob.wait_for("alice's video from her new id", PATIENCE, |ev| {
        ev.iter().any(|e| {
            matches!(e, Event::Media(MediaEvent::Started { participant, source: TrackSource::Camera }) if *participant == alice_now)
        })
    })
    .await;
    let bob_id = bob.id_now();
    alice
        .wait_for("bob's video at alice", PATIENCE, |ev| {
            ev.iter().any(|e| {
                matches!(e, Event::Media(MediaEvent::Started { participant, source: TrackSource::Camera }) if *participant == bob_id)
            })
        })
        .await;
    for m in [&mut alice, &mut bob] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
