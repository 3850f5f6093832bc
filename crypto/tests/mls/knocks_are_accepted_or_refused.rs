//! Someone with only the room name knocks: members see its fingerprint and
//! nobody commits it until one of them accepts. A refused knocker never
//! gets a key. A member admitted by knock has no SECRET and never commits
//! Adds on its own.

use std::time::Duration;

use sotto_crypto::session::{Admission, Event, State};

use crate::harness::Room;

#[test]
fn an_accepted_knock_becomes_a_member() {
    let (mut room, ids) = Room::of_size(3);
    let epoch = room.ds.epoch;
    let k = room.connect(false);
    room.settle();
    assert_eq!(room.ds.epoch, epoch, "nobody commits a knock by itself");
    let fingerprint = room.get(&k).identity.fingerprint();
    for m in &ids {
        let seen = room.get(m).knocks_seen();
        assert_eq!(seen, vec![(k.clone(), fingerprint.digits().to_owned())]);
    }
    let now = room.now;
    room.get_mut(&ids[1])
        .session
        .accept_knock(&k, now)
        .expect("accept");
    room.settle();
    assert_eq!(room.ds.epoch, epoch + 1);
    assert_eq!(room.ds.won.last().map(|w| &w.from), Some(&ids[1]));
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
    // Every knock prompt closed once it was in.
    for m in &ids {
        assert!(room.get(m).session.knocks().is_empty());
        assert!(room.get(m).events.contains(&Event::KnockClosed {
            participant: k.clone()
        }));
    }
    // The knocker cannot check tags; members with the link see it as a knock.
    let own = room.get(&k).session.members();
    assert!(own.iter().all(|m| m.admission == Admission::Unverifiable));
    let info = room.get(&ids[0]).session.members();
    assert_eq!(
        info.iter()
            .find(|m| m.participant == k)
            .map(|m| m.admission),
        Some(Admission::Knock)
    );
}

#[test]
fn a_refused_knocker_never_receives_keys() {
    let (mut room, ids) = Room::of_size(2);
    let epoch = room.ds.epoch;
    let k = room.connect(false);
    room.settle();
    room.get_mut(&ids[0])
        .session
        .refuse_knock(&k)
        .expect("refuse");
    room.settle();
    assert!(room.ds.refused.contains(&k));
    assert!(!room.ds.waiting.contains_key(&k) && !room.ds.members.contains(&k));
    assert_eq!(room.ds.epoch, epoch);
    let knocker = room.get(&k);
    assert_eq!(knocker.session.state(), State::Waiting);
    assert!(knocker.events.is_empty(), "no keys, no members, nothing");
    assert!(knocker.ring.held_keys().is_empty());
    assert!(room.get(&ids[1]).events.contains(&Event::KnockClosed {
        participant: k.clone()
    }));
    room.assert_consistent();
    room.assert_no_errors();
}

#[test]
fn a_member_without_the_link_never_commits_adds() {
    let (mut room, ids) = Room::of_size(2);
    let k = room.connect(false);
    room.advance(Duration::from_millis(1));
    let now = room.now;
    room.get_mut(&ids[0])
        .session
        .accept_knock(&k, now)
        .expect("accept");
    room.settle();
    assert!(room.ds.members.contains(&k));
    // The link holders go quiet: a joiner with the link now waits, since
    // the knock-admitted member cannot tell it from a knock.
    for m in &ids {
        room.hold.insert(m.clone());
    }
    let j = room.connect(true);
    room.advance(Duration::from_secs(30));
    assert!(!room.ds.members.contains(&j));
    assert!(room.get(&k).knocks_seen().iter().any(|(p, _)| p == &j));
    for m in &ids {
        room.release(m);
    }
    room.settle();
    assert!(room.ds.members.contains(&j));
    room.assert_consistent();
    room.assert_no_errors();
}
