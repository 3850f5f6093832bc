//! A signalling server that cheats with what members said, through the
//! real server and real native participants: commits and chat replayed,
//! reordered and relayed under another member's name are refused, and the
//! member catches up once the real order arrives; a server that tells two
//! committers of one epoch that both won splits the group, and the split
//! shows in the room codes, in chat and in media; a false departure
//! removes a present member, who learns it and can come back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sotto_client::keys::FrameError;
use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::{ParticipantId, TrackSource};
use sotto_tests::PATIENCE;
use sotto_tests::cheat::forge::GHOST;
use sotto_tests::cheat::{CheatingSignalling, Dir, Tamper};
use sotto_tests::member::{Member, Spec, joined, room_code};
use sotto_tests::server::{TestServer, new_room};

fn warnings(ev: &[Event], about: &str) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Event::Room(RoomEvent::Warning { message }) if message.starts_with(about)))
        .count()
}

fn chats(ev: &[Event]) -> Vec<(ParticipantId, String)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Room(RoomEvent::Chat { from, text }) => Some((from.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

/// What the cheat did to bob's messages, and who is who.
#[derive(Default)]
struct Rewrites {
    /// Participant id of each connection.
    ids: HashMap<usize, String>,
    /// Bob's first commit, held back until the second arrives.
    held: Option<Value>,
    /// Commits and application messages tampered with.
    commits: usize,
    applications: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_reordered_and_renamed_commits_and_chat_are_refused() {
    let server = TestServer::start().await;
    let state = Arc::new(Mutex::new(Rewrites::default()));
    let st = Arc::clone(&state);
    // Everything bob (connection 1) receives from the others.
    let tamper: Tamper = Arc::new(move |conn, dir, msg| {
        let mut s = st.lock().expect("not poisoned");
        if let Some(p) = &conn.participant {
            s.ids.insert(conn.index, p.clone());
        }
        if conn.index != 1 || dir != Dir::Down {
            return vec![(dir, msg)];
        }
        // Somebody else in the room than the sender and bob.
        let other = |ids: &HashMap<usize, String>, from: &Value| {
            ids.iter()
                .filter(|(i, id)| **i != 1 && from.as_str() != Some(id.as_str()))
                .map(|(_, id)| id.clone())
                .min()
                .unwrap_or_else(|| GHOST.to_owned())
        };
        match msg["type"].as_str() {
            Some("commit") => {
                s.commits += 1;
                let Some(first) = s.held.take() else {
                    // The first: held back.
                    s.held = Some(msg);
                    return Vec::new();
                };
                let mut renamed = first.clone();
                renamed["from"] = json!(other(&s.ids, &first["from"]));
                // The later commit first, then the earlier one relayed as
                // from someone else, then the earlier one, again, and
                // finally the later one.
                [msg.clone(), renamed, first.clone(), first, msg]
                    .into_iter()
                    .map(|m| (Dir::Down, m))
                    .collect()
            }
            Some("application") => {
                s.applications += 1;
                let mut renamed = msg.clone();
                renamed["from"] = json!(other(&s.ids, &msg["from"]));
                vec![
                    (Dir::Down, renamed),
                    (Dir::Down, msg.clone()),
                    (Dir::Down, msg),
                ]
            }
            _ => vec![(dir, msg)],
        }
    });
    let cheat = CheatingSignalling::start(server.addr, tamper).await;
    let (link, _) = new_room(&cheat.origin(), "rewritten-history");

    let mut members = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        let m = Member::join(&link, Spec::silent(name));
        m.wait_for("joining", PATIENCE, joined).await;
        members.push(m);
    }
    // Bob applies carol's and dave's commits only once both came, in the
    // right order at last.
    for m in &members {
        m.wait_for("epoch 3", PATIENCE, |_| {
            room_code(m).is_some_and(|c| c.0 == 3)
        })
        .await;
    }
    let codes: Vec<_> = members.iter().map(room_code).collect();
    assert!(codes.iter().all(|c| *c == codes[0]), "{codes:?}");
    assert_eq!(state.lock().expect("not poisoned").commits, 2);
    let bob_events = members[1].events();
    assert!(
        warnings(&bob_events, "commit") >= 3,
        "the early, renamed and replayed commits were refused: {bob_events:?}"
    );

    let alice_id = members[0].id().expect("connected");
    members[0].room().chat("first line");
    members[2].room().chat("second line");
    // Authors do not get their own lines back.
    for (i, m) in members.iter().enumerate() {
        let lines = if i == 0 || i == 2 { 1 } else { 2 };
        m.wait_for("the others' lines", PATIENCE, |ev| chats(ev).len() >= lines)
            .await;
    }
    // Give a replay time to show up, if it were going to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let carol_id = members[2].id().expect("connected");
    let bob_events = members[1].events();
    let mut lines = chats(&bob_events);
    // The two authors wrote at once: either may come first.
    lines.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        lines,
        vec![
            (alice_id, "first line".to_owned()),
            (carol_id, "second line".to_owned())
        ],
        "each line once, from its author"
    );
    // Display names too: each member's name is attributed to it alone.
    let ids: Vec<_> = members.iter().map(|m| m.id().expect("connected")).collect();
    for e in &bob_events {
        if let Event::Room(RoomEvent::Name { from, name }) = e {
            let i = ids.iter().position(|id| id == from).expect("a member");
            assert_eq!(&members[i].name, name, "a name under another member's id");
        }
    }
    let applications = state.lock().expect("not poisoned").applications;
    assert!(applications >= 2);
    assert!(
        warnings(&bob_events, "application message") >= 2 * applications,
        "every renamed and replayed message was refused: {} warnings for {applications}",
        warnings(&bob_events, "application message")
    );
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telling_two_committers_both_won_splits_the_room_visibly() {
    let server = TestServer::start().await;
    let committed: Arc<Mutex<Option<u64>>> = Arc::default();
    let bob_commit = Arc::clone(&committed);
    // Bob (connection 1) never hears the others' commits, so he commits
    // the same join himself; the server loses it but tells him it won.
    let tamper: Tamper = Arc::new(move |conn, dir, msg| {
        if conn.index != 1 {
            return vec![(dir, msg)];
        }
        match (dir, msg["type"].as_str()) {
            (Dir::Up, Some("commit")) => {
                *bob_commit.lock().expect("not poisoned") = msg["epoch"].as_u64();
                vec![(dir, msg)]
            }
            (Dir::Down, Some("commit")) => Vec::new(),
            (Dir::Down, Some("error")) if msg["code"] == "stale_epoch" => {
                let epoch = bob_commit
                    .lock()
                    .expect("not poisoned")
                    .expect("bob committed");
                vec![(
                    Dir::Down,
                    json!({"v": 1, "type": "commit_accepted", "epoch": epoch}),
                )]
            }
            _ => vec![(dir, msg)],
        }
    });
    let cheat = CheatingSignalling::start(server.addr, tamper).await;
    let (link, _) = new_room(&cheat.origin(), "split-in-two");

    let mut alice = Member::join(&link, Spec::sending("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let mut bob = Member::join(&link, Spec::silent("bob"));
    bob.wait_for("joining", PATIENCE, joined).await;
    bob.wait_for("alice's media", PATIENCE, |ev| {
        ev.iter()
            .any(|e| matches!(e, Event::Media(MediaEvent::Started { .. })))
    })
    .await;
    let mut carol = Member::join(&link, Spec::silent("carol"));
    carol.wait_for("joining", PATIENCE, joined).await;
    // Bob commits carol himself after his fallback delay.
    bob.wait_for("his own epoch 2", PATIENCE, |_| {
        room_code(&bob).is_some_and(|c| c.0 == 2)
    })
    .await;
    let (a, b, c) = (
        room_code(&alice).expect("a member"),
        room_code(&bob).expect("a member"),
        room_code(&carol).expect("a member"),
    );
    assert_eq!(a, c, "alice and carol are in one group");
    assert_eq!(a.0, b.0, "bob is at the same epoch number");
    assert_ne!(a.1, b.1, "but his room code differs: the split shows");

    // Across the split nothing opens: chat is refused, and once alice
    // switched to her epoch's key (her switch delay: bob's acks never
    // reach her), her frames fail at bob.
    alice.room().chat("can you hear me");
    carol
        .wait_for("alice's chat", PATIENCE, |ev| !chats(ev).is_empty())
        .await;
    let alice_id = alice.id().expect("connected");
    bob.wait_for("alice's frames failing", PATIENCE, |ev| {
        ev.iter().any(|e| {
            matches!(e, Event::Media(MediaEvent::DecryptFailures { participant, source: TrackSource::Camera, error, .. })
                if *participant == alice_id && !matches!(error, FrameError::NoKey))
        })
    })
    .await;
    let bob_events = bob.events();
    assert!(chats(&bob_events).is_empty(), "{bob_events:?}");
    assert!(warnings(&bob_events, "application message") >= 1);
    for m in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_departure_removes_a_present_member_visibly_and_it_can_come_back() {
    let server = TestServer::start().await;
    let cheat = CheatingSignalling::start(server.addr, sotto_tests::cheat::honest()).await;
    let (link, _) = new_room(&cheat.origin(), "false-departure");
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let m = Member::join(&link, Spec::silent(name));
        m.wait_for("joining", PATIENCE, joined).await;
        members.push(m);
    }
    let [mut alice, mut bob, mut carol] =
        <[Member; 3]>::try_from(members).unwrap_or_else(|_| unreachable!("three joined"));
    let bob_id = bob.id().expect("connected");
    // The server tells the others that bob left; he did not.
    for m in [&alice, &carol] {
        let to = m.id().expect("connected");
        assert!(cheat.inject(
            to.as_str(),
            Dir::Down,
            json!({"v": 1, "type": "left", "participant": bob_id.as_str(),
                   "reason": "disconnect"}),
        ));
    }
    // Bob learns that he was removed; the others see it happen.
    assert_eq!(bob.finished(PATIENCE).await, Ended::Removed);
    for m in [&alice, &carol] {
        m.wait_for("bob's removal", PATIENCE, |ev| {
            ev.iter().any(
                |e| matches!(e, Event::Room(RoomEvent::MemberRemoved { participant, .. }) if *participant == bob_id),
            )
        })
        .await;
    }
    // He comes back as a new participant, and the room goes on.
    let mut again = Member::join(&link, Spec::silent("bob"));
    again.wait_for("joining again", PATIENCE, joined).await;
    alice.room().chat("welcome back");
    again
        .wait_for("alice's chat", PATIENCE, |ev| {
            chats(ev).iter().any(|(_, t)| t == "welcome back")
        })
        .await;
    let codes = [room_code(&alice), room_code(&carol), room_code(&again)];
    assert!(codes.iter().all(|c| *c == codes[0]), "{codes:?}");
    for m in [&mut alice, &mut carol, &mut again] {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
