//! Two members commit for the same epoch: the server keeps the first, the
//! other discards its own, applies the winner and commits whatever the
//! winner left out in the next epoch. Nobody is lost.

use std::time::Duration;

use sotto_crypto::session::Admission;
use sotto_participant::Event;

use crate::harness::Room;

#[test]
fn the_loser_applies_the_winner_and_recommits_what_it_missed() {
    let (mut room, ids) = Room::of_size(2);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let joiner = room.connect(true);
    let knocker = room.connect(false);
    room.advance(Duration::from_millis(1)); // join requests and knocks arrive
    let session = room.get(&b).participant.session().expect("b is in");
    assert!(session.knocks().iter().any(|(p, _)| p == &knocker));
    let now = room.now;
    let fingerprint = room.get(&knocker).identity_fingerprint.clone();
    room.get_mut(&b)
        .participant
        .accept_knock(&knocker, &fingerprint, now)
        .expect("knock is waiting");
    let epoch = room.ds.epoch;

    // Both batch windows end before either hears of the other's commit.
    room.tick_without_delivery(now + Duration::from_millis(250));
    assert_eq!(room.ds.stale, 1, "one of the two commits lost");
    assert_eq!(
        room.ds.won.last().map(|w| &w.from),
        Some(&a),
        "a reached the server first"
    );
    assert_eq!(room.ds.epoch, epoch + 1);

    room.settle();
    assert_eq!(room.ds.epoch, epoch + 2, "b recommitted the knocker");
    assert_eq!(room.ds.won.last().map(|w| &w.from), Some(&b));
    for p in [&a, &b, &joiner, &knocker] {
        assert!(room.ds.members.contains(p), "{p:?} is in");
    }
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();

    // Members with the link see that the knocker came in by knock, and who
    // let it in.
    let added_by_b = room.get(&a).events.iter().any(|e| {
        matches!(e, Event::MemberAdded { participant, admission: Admission::Knock, added_by: Some(by), .. }
            if participant == &knocker && by == &b)
    });
    assert!(added_by_b, "a saw b admit the knocker");
    let joiner_view = room.get(&joiner).participant.members();
    let k = joiner_view
        .iter()
        .find(|m| m.participant == knocker)
        .expect("knocker listed");
    assert_eq!(k.admission, Admission::Knock);
    let b_info = joiner_view.iter().find(|m| m.participant == b).expect("b");
    assert_eq!(b_info.admission, Admission::Link);
}
