//! People who agreed on a room name meet by it (issue "first contact"):
//! whoever comes first by the name alone opens the room with a secret it
//! makes; later arrivals by the name knock and a member lets them in by
//! the fingerprint shown; whoever is given the new full link enters at
//! once. The server never sees the secret and still adds nobody.

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::Admission;
use sotto_participant::Event;

use crate::harness::Room;

fn opened(room: &Room, id: &sotto_crypto::ParticipantId) -> Vec<String> {
    room.get(id)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Opened { fragment } => Some(fragment.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_first_by_name_opens_the_room_and_lets_the_next_in_by_fingerprint() {
    let mut room = Room::new();
    let alice = room.connect(false);
    room.settle();
    // Nobody was there: alice opened the room, with a secret of her own.
    let fragments = opened(&room, &alice);
    assert_eq!(fragments.len(), 1);
    let secret = RoomSecret::from_fragment(&fragments[0]).expect("a room secret");
    assert!(room.get(&alice).is_member());
    assert!(room.get(&alice).participant.has_secret());
    assert_eq!(room.ds.epoch, 0);
    room.assert_no_errors();

    // Bob comes by the name too: he knocks, and nobody lets him in alone.
    let bob = room.connect(false);
    room.settle();
    assert!(opened(&room, &bob).is_empty(), "the room was not empty");
    assert_eq!(room.ds.epoch, 0, "nobody commits a knock by itself");
    let fingerprint = room.get(&bob).identity_fingerprint.clone();
    assert_eq!(
        room.get(&alice).knocks_seen(),
        vec![(bob.clone(), fingerprint.digits().to_owned())]
    );
    let now = room.now;
    room.get_mut(&alice)
        .participant
        .accept_knock(&bob, &fingerprint, now)
        .expect("accept");
    room.settle();
    assert_eq!(room.ds.epoch, 1);
    assert!(room.get(&bob).is_member());
    let seen_by_alice = room.get(&alice).participant.members();
    assert_eq!(
        seen_by_alice
            .iter()
            .find(|m| m.participant == bob)
            .map(|m| m.admission),
        Some(Admission::Knock)
    );

    // Carol was given the full link alice's screen showed: straight in.
    let carol = room.connect_with(Identity::generate().expect("id"), Some(secret), room.config);
    room.settle();
    assert!(room.get(&carol).is_member());
    assert!(room.get(&carol).knocks_seen().is_empty());
    let seen_by_alice = room.get(&alice).participant.members();
    assert_eq!(
        seen_by_alice
            .iter()
            .find(|m| m.participant == carol)
            .map(|m| m.admission),
        Some(Admission::Link)
    );
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn a_secret_other_than_the_openers_only_knocks() {
    // Dave holds some other link to this name (an old one, or a guess):
    // its admission tag does not verify under the room's new secret.
    let mut room = Room::new();
    let alice = room.connect(false);
    room.settle();
    assert_eq!(opened(&room, &alice).len(), 1);
    let dave = room.connect_with(
        Identity::generate().expect("id"),
        Some(RoomSecret::generate().expect("secret")),
        room.config,
    );
    room.settle();
    assert!(!room.get(&dave).is_member());
    assert_eq!(room.get(&alice).knocks_seen().len(), 1, "shown as a knock");
    assert_eq!(room.ds.epoch, 0);
}

#[test]
fn the_opener_comes_back_with_its_link_after_a_drop() {
    let mut room = Room::new();
    let alice = room.connect(false);
    room.settle();
    let secret = RoomSecret::from_fragment(&opened(&room, &alice)[0]).expect("secret");
    let carol = room.connect_with(Identity::generate().expect("id"), Some(secret), room.config);
    room.settle();
    assert!(room.get(&carol).is_member());
    // Alice's connection drops; she joins again as a holder of the link
    // she made, so carol (who has it too) adds her without a click.
    let first = room.get(&alice).id.clone().expect("id");
    room.blip(&alice);
    room.settle();
    for _ in 0..40 {
        if room.get(&alice).is_member() && room.get(&alice).id.as_ref() != Some(&first) {
            break;
        }
        room.advance(std::time::Duration::from_millis(500));
        room.settle();
    }
    assert!(room.get(&alice).is_member());
    assert_ne!(room.get(&alice).id.as_ref(), Some(&first));
    assert!(
        room.get(&carol).knocks_seen().is_empty(),
        "she did not knock: {:?}",
        room.get(&carol).knocks_seen()
    );
    assert_eq!(opened(&room, &alice).len(), 1, "opened once");
    room.assert_consistent();
}
