//! The designated committer (lowest leaf with the link) commits after the
//! batch window; if it is silent, the next member in rank commits after
//! the fallback delay, so no single member can stall the room.

use std::time::Duration;

use sotto_participant::Event;
use sotto_proto::ClientMessage;

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
    let old = room.vanish(&c).expect("c was connected");
    let c2 = room.connect_as(identity, true);
    room.settle();
    assert!(
        !room.ds.members.contains(&c2),
        "deferred while the old leaf is there"
    );
    room.server_departed(&old);
    room.settle();
    assert!(room.ds.members.contains(&c2));
    assert!(!room.ds.members.contains(&c));
    room.assert_consistent();
    room.assert_no_errors();
    let seen = room.get(&ids[0]).participant.members();
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
fn a_knocker_left_alone_opens_the_room_afresh() {
    let mut room = Room::new();
    let a = room.create();
    room.hold.insert(a.clone());
    let k = room.connect(false);
    room.settle();
    room.disconnect(&a);
    room.hold.clear();
    room.settle();
    // Everyone left while it knocked: the server makes it creator, and it
    // opens the room with a secret of its own, as the first arrival by the
    // name would.
    let c = room.get(&k);
    assert_eq!(c.ended(), None);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    assert_eq!(
        c.events
            .iter()
            .filter(|e| matches!(e, Event::Opened { .. }))
            .count(),
        1
    );
    assert!(c.participant.has_secret());
    assert!(c.is_member());
    assert!(room.ds.members.contains(&k) && room.ds.waiting.is_empty());
    // The next link holder with the new secret gets in; the old link's
    // holders would be let in only by a knock.
    room.assert_consistent();
}

/// A commit whose verdict never comes (the server lost it, or withholds
/// it) does not block the member for good: after `verdict_timeout` it is
/// given up and the same change is committed again, and that one counts.
///
/// Once driven on two bare `Session`s; here the committer is a participant
/// in a room whose server never gets what it sends (gagged) until the
/// test relays the second commit itself.
#[test]
fn a_commit_without_a_verdict_is_made_again_after_the_timeout() {
    let (mut room, ids) = Room::of_size(1);
    let alice = ids[0].clone();
    let config = room.config.session;
    let commits = |room: &mut Room| -> Vec<ClientMessage> {
        room.ungag(&alice)
            .into_iter()
            .filter(|m| matches!(m, ClientMessage::Commit { .. }))
            .collect()
    };
    // Nothing alice sends reaches the server: it "loses" her commit.
    room.gag.insert(alice.clone());
    let bob = room.connect(true);
    let now = room
        .get(&alice)
        .participant
        .session()
        .and_then(|s| s.poll_timeout())
        .expect("a commit is due");
    room.advance_to(now);
    let first = commits(&mut room);
    assert_eq!(first.len(), 1);
    let Some(ClientMessage::Commit { epoch, .. }) = first.first().cloned() else {
        unreachable!()
    };
    // No verdict. Nothing more until the timeout...
    room.gag.insert(alice.clone());
    let session = room.get(&alice).participant.session().expect("member");
    let due = session.poll_timeout().expect("the verdict timeout");
    assert_eq!(due, now + config.verdict_timeout);
    room.advance_to(now + config.verdict_timeout / 2);
    assert!(commits(&mut room).is_empty());
    // ...then the join is committed again, for the same epoch.
    room.gag.insert(alice.clone());
    room.advance_to(due);
    let again = commits(&mut room);
    assert_eq!(again.len(), 1, "committed again after the timeout");
    let ClientMessage::Commit {
        epoch: again_epoch,
        welcome_to,
        welcome,
        ..
    } = again[0].clone()
    else {
        unreachable!()
    };
    assert_eq!(again_epoch, epoch);
    assert_eq!(welcome_to, vec![bob.clone()]);
    assert!(welcome.is_some(), "a welcome");
    // The second is the one the server takes: bob joins with its Welcome.
    room.server_receive(&alice, again[0].clone());
    room.settle();
    assert!(room.get(&bob).is_member());
    assert_eq!(
        room.get(&alice).participant.room_code(),
        room.get(&bob).participant.room_code()
    );
}
