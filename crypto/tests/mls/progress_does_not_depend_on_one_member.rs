//! The designated committer (lowest leaf with the link) commits after the
//! batch window; if it is silent, the next member in rank commits after
//! the fallback delay, so no single member can stall the room.

use std::time::Duration;

use sotto_crypto::session::Event;

use crate::harness::Room;

#[test]
fn the_designated_committer_batches_changes() {
    let (mut room, ids) = Room::of_size(3);
    let start = room.now;
    let epoch = room.ds.epoch;
    let j1 = room.connect(true);
    room.advance(Duration::from_millis(100));
    let j2 = room.connect(true);
    room.settle();
    assert_eq!(room.ds.epoch, epoch + 1, "one commit for both joins");
    let last = room.ds.won.last().expect("a commit");
    assert_eq!(last.from, ids[0], "leaf 0 commits");
    assert!(room.ds.members.contains(&j1) && room.ds.members.contains(&j2));
    assert!(room.now >= start + Duration::from_millis(200));
    room.assert_consistent();
    room.assert_no_errors();
}

#[test]
fn when_the_designated_committer_is_silent_the_next_one_commits() {
    let (mut room, ids) = Room::of_size(4);
    let (a, b, d) = (ids[0].clone(), ids[1].clone(), ids[3].clone());
    room.hold.insert(a.clone());
    let start = room.now;
    room.disconnect(&d);
    room.advance(Duration::from_millis(2499));
    assert!(
        room.ds.won.iter().all(|w| w.from != b),
        "b waits 2 s + 500 ms"
    );
    room.advance(Duration::from_millis(1));
    let last = room.ds.won.last().expect("a commit");
    assert_eq!(last.from, b);
    assert_eq!(room.now, start + Duration::from_millis(2500));
    room.release(&a);
    room.settle();
    assert!(!room.ds.members.contains(&d));
    room.assert_consistent();
    room.assert_no_errors();
    let removed = room
        .get(&a)
        .events
        .iter()
        .any(|e| matches!(e, Event::MemberRemoved { participant, .. } if participant == &d));
    assert!(removed);
}

#[test]
fn a_reconnecting_identity_replaces_its_old_leaf() {
    let (mut room, ids) = Room::of_size(3);
    let c = ids[2].clone();
    let identity = room.get(&c).identity.clone();
    let fingerprint = identity.fingerprint();
    // The new connection's KeyPackage arrives before the server notices
    // the old one is gone: the Add must wait for the old leaf to go
    // (signature keys are unique in a tree, RFC 9420 §7.3).
    room.clients.remove(&c);
    let c2 = room.connect_as(identity, true);
    room.settle();
    assert!(
        !room.ds.members.contains(&c2),
        "deferred while the old leaf is there"
    );
    room.disconnect(&c);
    room.settle();
    assert!(room.ds.members.contains(&c2));
    assert!(!room.ds.members.contains(&c));
    room.assert_consistent();
    room.assert_no_errors();
    let seen = room.get(&ids[0]).session.members();
    let again = seen.iter().find(|m| m.participant == c2).expect("listed");
    assert_eq!(
        again.fingerprint, fingerprint,
        "same identity, same fingerprint"
    );
}

#[test]
fn a_waiting_participant_founds_the_room_again_when_everyone_left() {
    let mut room = Room::new();
    let a = room.create();
    room.hold.insert(a.clone()); // a never admits anyone
    let j1 = room.connect(true);
    let j2 = room.connect(true);
    room.settle();
    room.disconnect(&a);
    room.hold.clear();
    room.settle();
    assert_eq!(room.ds.epoch, 1, "j1 founded epoch 0, then added j2");
    assert!(room.ds.members.contains(&j1) && room.ds.members.contains(&j2));
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn without_the_link_a_waiting_participant_cannot_found_the_room() {
    let mut room = Room::new();
    let a = room.create();
    room.hold.insert(a.clone());
    let k = room.connect(false);
    room.settle();
    room.disconnect(&a);
    room.hold.clear();
    room.settle();
    let c = room.get(&k);
    assert_eq!(
        c.errors,
        vec![sotto_crypto::session::SessionError::NoSecret]
    );
    assert_eq!(c.session.state(), sotto_crypto::session::State::Waiting);
}

/// A commit whose verdict never comes (the server lost it, or withholds
/// it) does not block the member for good: after `verdict_timeout` it is
/// given up and the same change is committed again, and that one counts.
#[test]
fn a_commit_without_a_verdict_is_made_again_after_the_timeout() {
    use sotto_crypto::admission::RoomSecret;
    use sotto_crypto::identity::Identity;
    use sotto_crypto::session::{Output, Session, SessionConfig, State};
    use sotto_crypto::{Instant, ParticipantId};

    let config = SessionConfig::default();
    let secret = RoomSecret::from_bytes([7; 16]);
    let (alice_id, bob_id) = (
        ParticipantId::new("alice000000000000").expect("id"),
        ParticipantId::new("bob00000000000000").expect("id"),
    );
    let mut now = Instant::ZERO;
    let identity = Identity::generate().expect("identity");
    let mut alice = Session::create(config, &identity, alice_id.clone(), "room-x", &secret, now)
        .expect("create");
    let identity = Identity::generate().expect("identity");
    let mut bob =
        Session::join(config, &identity, bob_id.clone(), "room-x", Some(&secret)).expect("join");
    let key_package = std::iter::from_fn(|| bob.poll_output())
        .find_map(|o| match o {
            Output::KeyPackage(kp) => Some(kp),
            _ => None,
        })
        .expect("a key package");
    while alice.poll_output().is_some() {}
    alice
        .handle_join_request(bob_id.clone(), &key_package, now)
        .expect("join request");
    fn commits(alice: &mut Session, now: Instant) -> Vec<sotto_crypto::session::CommitOut> {
        alice.tick(now).expect("tick");
        std::iter::from_fn(|| alice.poll_output())
            .filter_map(|o| match o {
                Output::Commit(c) => Some(c),
                _ => None,
            })
            .collect()
    }
    now = alice.poll_timeout().expect("a commit is due");
    let first = commits(&mut alice, now);
    assert_eq!(first.len(), 1);
    // No verdict. Nothing more until the timeout...
    let due = alice.poll_timeout().expect("the verdict timeout");
    assert_eq!(due, now + config.verdict_timeout);
    assert!(commits(&mut alice, now + config.verdict_timeout / 2).is_empty());
    // ...then the join is committed again, for the same epoch.
    now = due;
    let again = commits(&mut alice, now);
    assert_eq!(again.len(), 1, "committed again after the timeout");
    assert_eq!(again[0].epoch, first[0].epoch);
    assert_eq!(again[0].welcome_to, vec![bob_id.clone()]);
    // The second is the one the server takes: bob joins with its Welcome.
    alice
        .handle_commit_accepted(again[0].epoch, now)
        .expect("accepted");
    let welcome = again[0].welcome.as_deref().expect("a welcome");
    bob.handle_welcome(&alice_id, welcome, now)
        .expect("welcome");
    assert_eq!(bob.state(), State::Member);
    assert_eq!(alice.room_code(), bob.room_code());
}
