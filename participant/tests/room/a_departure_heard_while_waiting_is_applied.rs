//! A participant leaves while a joiner waits, and the commit that adds the
//! joiner was made before its committer heard: the joiner is welcomed into
//! a group that still has the departed leaf. If every member that heard of
//! the departure is gone before it commits the removal, only the joiner
//! can remove it; a joiner that dropped what it heard while waiting kept a
//! ghost member for ever (found in the 50-person soak: every later epoch
//! waited 1.5 s for the ghost's acknowledgement).
//!
//! The server here is the real delivery service: it tells the waiting
//! joiner of the departure itself (spec §3 `left`).

use std::collections::BTreeSet;

use crate::harness::Room;

#[test]
fn a_joiner_removes_a_leaf_that_departed_while_it_waited() {
    let (mut room, ids) = Room::of_size(2);
    let (a, x) = (ids[0].clone(), ids[1].clone());
    let w = room.connect(true);
    // The join request reached a and x. Now x's connection closes; the
    // server tells a and the waiting w, but a's copy (and everything after
    // it) is held back: a commits w's Add in a group that still has x.
    room.hold.insert(a.clone());
    room.disconnect(&x);
    room.settle();
    assert!(room.get(&w).is_member(), "w got in");
    assert!(room.get(&w).roster().contains(&room.id_of(&a)));
    // a goes before it ever heard of x's departure.
    room.disconnect(&a);
    room.settle();
    let w_id = room.id_of(&w);
    assert_eq!(
        room.get(&w).roster(),
        BTreeSet::from([w_id]),
        "no ghost of x (or a) left"
    );
    room.assert_consistent();
    room.assert_no_errors();
}
