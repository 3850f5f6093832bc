//! Someone with only the room name knocks: members see its fingerprint and
//! nobody commits it until one of them accepts. A refused knocker never
//! gets a key. A member admitted by knock has no SECRET and never commits
//! Adds on its own.

use std::time::Duration;

use sotto_crypto::session::Admission;
use sotto_participant::{Config, EndReason, Event, Status};

use crate::harness::Room;

#[test]
fn an_accepted_knock_becomes_a_member() {
    let (mut room, ids) = Room::of_size(3);
    let epoch = room.ds.epoch;
    let k = room.connect(false);
    room.settle();
    assert_eq!(room.ds.epoch, epoch, "nobody commits a knock by itself");
    let fingerprint = room.get(&k).identity_fingerprint.clone();
    for m in &ids {
        let seen = room.get(m).knocks_seen();
        assert_eq!(seen, vec![(k.clone(), fingerprint.digits().to_owned())]);
    }
    let now = room.now;
    room.get_mut(&ids[1])
        .participant
        .accept_knock(&k, &fingerprint, now)
        .expect("accept");
    room.settle();
    assert_eq!(room.ds.epoch, epoch + 1);
    assert_eq!(room.ds.won.last().map(|w| &w.from), Some(&ids[1]));
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
    // Every knock prompt closed once it was in.
    for m in &ids {
        let session = room.get(m).participant.session().expect("member");
        assert!(session.knocks().is_empty());
        assert!(room.get(m).events.contains(&Event::KnockClosed {
            participant: k.clone()
        }));
    }
    // The knocker cannot check tags; members with the link see it as a knock.
    let own = room.get(&k).participant.members();
    assert!(own.iter().all(|m| m.admission == Admission::Unverifiable));
    let info = room.get(&ids[0]).participant.members();
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
    let now = room.now;
    room.get_mut(&ids[0])
        .participant
        .refuse_knock(&k, now)
        .expect("refuse");
    room.settle();
    assert!(room.ds.refused.contains(&k));
    assert!(!room.ds.waiting.contains(&k) && !room.ds.members.contains(&k));
    assert_eq!(room.ds.epoch, epoch);
    // The real server tells the knocker (`refused`) and closes it: its
    // participation ends there, never having been a member.
    let knocker = room.get(&k);
    assert_eq!(
        knocker.participant.status(),
        Status::Ended(EndReason::Refused)
    );
    // No keys, no members, nothing: only its own connection, its wait and
    // the refusal.
    assert!(
        matches!(
            knocker.events.as_slice(),
            [
                Event::Connected { creator: false, .. },
                Event::Waiting { knocking: true },
                Event::Ended(EndReason::Refused),
            ]
        ),
        "{:?}",
        knocker.events
    );
    assert!(knocker.given_keys.is_empty());
    assert!(knocker.ring.held_keys().is_empty());
    assert!(knocker.media.is_empty(), "no media either");
    assert!(room.get(&ids[1]).events.contains(&Event::KnockClosed {
        participant: k.clone()
    }));
    room.assert_consistent();
    room.assert_no_errors();
}

#[test]
fn a_member_without_the_link_never_commits_adds() {
    // The joiner below waits 30 s on purpose (far past every fallback
    // delay); a Welcome timeout of 30 s would make it join again as
    // someone new right then, so this room gives it longer.
    let config = Config {
        welcome_timeout: Duration::from_secs(120),
        ..Config::default()
    };
    let (mut room, ids) = Room::of_size_with(config, 2);
    let k = room.connect(false);
    room.advance(Duration::from_millis(1));
    let now = room.now;
    let fingerprint = room.get(&k).identity_fingerprint.clone();
    room.get_mut(&ids[0])
        .participant
        .accept_knock(&k, &fingerprint, now)
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
