//! A knock is bound to what the member saw (issue "the server must not get
//! in", H1). The server relays the knocker's real KeyPackage, the member
//! compares the fingerprint, and then the server sends a KeyPackage of its
//! own under the knocker's id: both are dropped, the member is told, and
//! the server's key never enters the group, whether the second KeyPackage
//! comes before the click or after it.

use sotto_crypto::ParticipantId;
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{Output, Session, SessionConfig};
use sotto_crypto::verify::Fingerprint;
use sotto_participant::Event;
use sotto_proto::ServerMessage;

use crate::harness::Room;

/// A KeyPackage the server made for `who` (no secret: a knock), and its
/// fingerprint.
fn forged_key_package(room: &Room, who: &ParticipantId) -> (Vec<u8>, Fingerprint) {
    let identity = Identity::generate().expect("identity");
    let mut s = Session::join(
        SessionConfig::default(),
        &identity,
        who.clone(),
        room.name.as_str(),
        None::<&RoomSecret>,
    )
    .expect("a session");
    let Some(Output::KeyPackage(kp)) = s.poll_output() else {
        panic!("a KeyPackage first");
    };
    (kp, identity.fingerprint())
}

fn conflicts(room: &Room, h: &ParticipantId) -> usize {
    room.get(h)
        .events
        .iter()
        .filter(|e| matches!(e, Event::KeyPackageConflict { .. }))
        .count()
}

#[test]
fn a_second_key_package_before_the_click_drops_the_knock() {
    let (mut room, ids) = Room::of_size(2);
    let epoch = room.ds.epoch;
    let k = room.connect(false);
    room.settle();
    let shown = room.get(&k).identity_fingerprint.clone();
    let (forged, forged_fp) = forged_key_package(&room, &k);
    assert_ne!(forged_fp, shown);
    for m in &ids {
        let id = room.id_of(m);
        room.deliver(
            &id,
            ServerMessage::JoinRequest {
                participant: k.clone(),
                key_package: forged.clone(),
            },
        );
        assert_eq!(conflicts(&room, m), 1, "{m:?} is told");
        assert!(room.get(m).events.contains(&Event::KnockClosed {
            participant: k.clone()
        }));
    }
    // The click that follows accepts nothing.
    let now = room.now;
    let r = room
        .get_mut(&ids[0])
        .participant
        .accept_knock(&k, &shown, now);
    assert!(r.is_err(), "{r:?}");
    let r = room
        .get_mut(&ids[0])
        .participant
        .accept_knock(&k, &forged_fp, now);
    assert!(
        r.is_err(),
        "the server's fingerprint is not accepted either"
    );
    room.settle();
    assert_eq!(room.ds.epoch, epoch, "no commit added anyone");
    for m in &ids {
        assert!(!room.get(m).roster().contains(&k));
    }
    // The same id is refused from now on, with the genuine key too.
    let genuine = room
        .ds
        .key_packages
        .get(&k)
        .cloned()
        .expect("k's KeyPackage");
    let id = room.id_of(&ids[0]);
    room.deliver(
        &id,
        ServerMessage::JoinRequest {
            participant: k.clone(),
            key_package: genuine,
        },
    );
    assert!(
        room.get(&ids[0]).knocks_seen().len() == 1,
        "no second knock prompt"
    );
}

#[test]
fn a_second_key_package_after_the_click_drops_the_accepted_join() {
    let (mut room, ids) = Room::of_size(2);
    let epoch = room.ds.epoch;
    let k = room.connect(false);
    room.settle();
    let shown = room.get(&k).identity_fingerprint.clone();
    let now = room.now;
    room.get_mut(&ids[0])
        .participant
        .accept_knock(&k, &shown, now)
        .expect("accepted as shown");
    // Before the batch window ends and the Add is committed, the server
    // sends its own KeyPackage for k to the member that accepted.
    let (forged, _) = forged_key_package(&room, &k);
    let id = room.id_of(&ids[0]);
    room.deliver(
        &id,
        ServerMessage::JoinRequest {
            participant: k.clone(),
            key_package: forged,
        },
    );
    assert_eq!(conflicts(&room, &ids[0]), 1);
    room.settle();
    assert_eq!(room.ds.epoch, epoch, "the accepted join was dropped too");
    assert!(!room.get(&ids[0]).roster().contains(&k));
    room.assert_consistent();
}

#[test]
fn accepting_with_another_fingerprint_than_the_knocks_accepts_nothing() {
    let (mut room, ids) = Room::of_size(2);
    let epoch = room.ds.epoch;
    let k = room.connect(false);
    room.settle();
    let other = Identity::generate().expect("identity").fingerprint();
    let now = room.now;
    let r = room
        .get_mut(&ids[0])
        .participant
        .accept_knock(&k, &other, now);
    assert!(r.is_err(), "{r:?}");
    room.settle();
    assert_eq!(room.ds.epoch, epoch);
    // The knock is still there, and the right fingerprint lets k in.
    let shown = room.get(&k).identity_fingerprint.clone();
    let now = room.now;
    room.get_mut(&ids[0])
        .participant
        .accept_knock(&k, &shown, now)
        .expect("accepted");
    room.settle();
    assert!(room.get(&ids[0]).roster().contains(&k));
    room.assert_consistent();
}
