//! A signalling server that cheats to get someone into a room, through
//! the real server and real native participants: a ghost KeyPackage, a
//! joiner's KeyPackage swapped for one of the server's, a genuine one
//! relayed under another name, forged Welcomes and a Welcome into a group
//! the server made itself. Members see knocks with the server's
//! fingerprints and let nobody in by themselves; joiners refuse what is
//! forged; the room goes on for everyone else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sotto_client::room::{Ended, Event, RoomEvent};
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::verify::Fingerprint;
use sotto_proto::ParticipantId;
use sotto_tests::PATIENCE;
use sotto_tests::cheat::forge::{self, GHOST};
use sotto_tests::cheat::{CheatingSignalling, Dir, Tamper};
use sotto_tests::member::{Member, Spec, joined, room_code};
use sotto_tests::server::{TestServer, new_room};

fn knocks(ev: &[Event]) -> Vec<(ParticipantId, Fingerprint)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Room(RoomEvent::Knock {
                participant,
                fingerprint,
            }) => Some((participant.clone(), fingerprint.clone())),
            _ => None,
        })
        .collect()
}

fn warnings(ev: &[Event], about: &str) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Event::Room(RoomEvent::Warning { message }) if message.starts_with(about)))
        .count()
}

#[derive(Default)]
struct Swap {
    /// The joiner's genuine KeyPackage, which the server kept.
    genuine: Option<String>,
    /// The fingerprint of the key the server put in its place.
    forged: Option<Fingerprint>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghost_and_swapped_key_packages_are_only_knocks_and_nobody_is_let_in() {
    let server = TestServer::start().await;
    let room = "ghosts-only-knock";
    let swap = Arc::new(Mutex::new(Swap::default()));
    let kept = Arc::clone(&swap);
    // The second connection (bob's) has its KeyPackage swapped for one
    // the server made, under a guessed secret, in bob's name.
    let tamper: Tamper = Arc::new(move |conn, dir, msg| {
        if conn.index == 1 && dir == Dir::Up && msg["type"] == "key_package" {
            let me = conn.participant.clone().expect("joined first");
            let guess = RoomSecret::from_bytes([7; 16]);
            let (kp, fingerprint) = forge::key_package(&me, room, Some(&guess));
            let mut s = kept.lock().expect("not poisoned");
            s.genuine = msg["key_package"].as_str().map(str::to_owned);
            s.forged = Some(fingerprint);
            let mut forged = msg;
            forged["key_package"] = json!(kp);
            return vec![(Dir::Up, forged)];
        }
        vec![(dir, msg)]
    });
    let cheat = CheatingSignalling::start(server.addr, tamper).await;
    let (link, _) = new_room(&cheat.origin(), room);

    let mut alice = Member::join(&link, Spec::silent("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let alice_id = alice.id().expect("connected");
    let mut bob = Member::join(&link, Spec::silent("bob"));
    bob.wait_for("waiting", PATIENCE, |ev| {
        ev.iter()
            .any(|e| matches!(e, Event::Room(RoomEvent::Waiting { knocking: false })))
    })
    .await;
    let bob_id = bob.id().expect("connected");
    alice
        .wait_for("bob's (swapped) join request", PATIENCE, |ev| {
            knocks(ev).iter().any(|(p, _)| *p == bob_id)
        })
        .await;

    // A ghost the server made up, and bob's genuine KeyPackage relayed as
    // someone else's.
    let (ghost_kp, ghost_fingerprint) = forge::key_package(GHOST, room, None);
    let genuine = swap.lock().expect("not poisoned").genuine.clone();
    for (participant, key_package) in [
        (GHOST, ghost_kp),
        ("Imp0st0rImp0st0r", genuine.expect("bob's KeyPackage")),
    ] {
        assert!(cheat.inject(
            alice_id.as_str(),
            Dir::Down,
            json!({"v": 1, "type": "join_request", "participant": participant,
                   "key_package": key_package}),
        ));
    }
    alice
        .wait_for("the ghost's knock and the refused relay", PATIENCE, |ev| {
            knocks(ev).len() >= 2 && warnings(ev, "join request") >= 1
        })
        .await;
    // Longer than the batching window: nobody was committed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let events = alice.events();
    let forged = swap
        .lock()
        .expect("not poisoned")
        .forged
        .clone()
        .expect("swapped");
    assert_eq!(
        knocks(&events),
        vec![
            (bob_id.clone(), forged),
            (
                ParticipantId::new(GHOST).expect("valid id"),
                ghost_fingerprint
            )
        ],
        "bob shows up with the server's fingerprint, the ghost as a knock, the relay not at all"
    );
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Room(RoomEvent::MemberAdded { .. })
                | Event::Room(RoomEvent::EpochChanged { .. })
        )),
        "nobody was let in: {events:?}"
    );
    assert_eq!(room_code(&alice).map(|c| c.0), Some(0));
    assert!(!bob.joined());
    assert!(bob.held_keys().await.is_empty(), "bob has no keys");

    // The room goes on: someone else with the link gets in.
    let mut carol = Member::join(&link, Spec::silent("carol"));
    carol.wait_for("joining", PATIENCE, joined).await;
    let carol_id = carol.id().expect("connected");
    alice
        .wait_for("carol", PATIENCE, |ev| {
            ev.iter().any(
                |e| matches!(e, Event::Room(RoomEvent::MemberAdded { participant, .. }) if *participant == carol_id),
            )
        })
        .await;
    assert_eq!(room_code(&alice), room_code(&carol));
    assert_eq!(room_code(&carol).map(|c| c.0), Some(1));
    for m in [&mut alice, &mut carol, &mut bob] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_welcomes_are_refused_and_the_real_one_still_works() {
    let server = TestServer::start().await;
    let room = "forged-welcomes";
    // Bob (connection 1) gets forgeries of his Welcome before the real
    // one; dave's (connection 2) KeyPackage never reaches the server,
    // which welcomes him into a group of its own instead.
    let tamper: Tamper = Arc::new(move |conn, dir, msg| match (conn.index, dir) {
        (1, Dir::Down) if msg["type"] == "welcome" => {
            let real = forge::unb64(msg["welcome"].as_str().expect("a welcome"));
            let mut forgeries = vec![Vec::new(), vec![0; 40], real[..real.len() / 2].to_vec()];
            for i in [10, real.len() / 3, real.len() - 1] {
                let mut w = real.clone();
                w[i] ^= 0x40;
                forgeries.push(w);
            }
            let mut out: Vec<(Dir, serde_json::Value)> = forgeries
                .iter()
                .map(|w| {
                    let mut m = msg.clone();
                    m["welcome"] = json!(forge::b64(w));
                    (Dir::Down, m)
                })
                .collect();
            // The real one, relayed as from somebody else.
            let mut renamed = msg.clone();
            renamed["from"] = json!(GHOST);
            out.push((Dir::Down, renamed));
            out.push((Dir::Down, msg));
            out
        }
        (2, Dir::Up) if msg["type"] == "key_package" => {
            let me = conn.participant.clone().expect("joined first");
            let kp = forge::unb64(msg["key_package"].as_str().expect("a KeyPackage"));
            let welcome = forge::ghost_welcome(room, &me, &kp);
            vec![(
                Dir::Down,
                json!({"v": 1, "type": "welcome", "from": GHOST, "epoch": 1,
                       "welcome": forge::b64(&welcome)}),
            )]
        }
        _ => vec![(dir, msg)],
    });
    let cheat = CheatingSignalling::start(server.addr, tamper).await;
    let (link, _) = new_room(&cheat.origin(), room);

    let mut alice = Member::join(&link, Spec::silent("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let mut bob = Member::join(&link, Spec::silent("bob"));
    bob.wait_for("joining with the real Welcome", PATIENCE, joined)
        .await;
    let events = bob.events();
    assert!(
        warnings(&events, "welcome") >= 7,
        "bob refused the seven forgeries: {events:?}"
    );
    assert_eq!(room_code(&alice), room_code(&bob));

    let mut dave = Member::join(&link, Spec::silent("dave"));
    assert_eq!(dave.finished(PATIENCE).await, Ended::GhostRoom);
    assert!(!dave.joined(), "dave never joined the server's group");

    // The room goes on, untouched by the ghost group.
    alice.room().chat("still here");
    bob.wait_for("alice's chat", PATIENCE, |ev| {
        ev.iter()
            .any(|e| matches!(e, Event::Room(RoomEvent::Chat { text, .. }) if text == "still here"))
    })
    .await;
    assert_eq!(room_code(&alice).map(|c| c.0), Some(1));
    assert_eq!(room_code(&alice), room_code(&bob));
    for m in [&mut alice, &mut bob] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
