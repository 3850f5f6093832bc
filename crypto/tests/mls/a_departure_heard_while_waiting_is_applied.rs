//! A participant leaves while a joiner waits, and the commit that adds the
//! joiner was made before its committer heard: the joiner is welcomed into
//! a group that still has the departed leaf. If every member that heard of
//! the departure is gone before it commits the removal, only the joiner
//! can remove it; a joiner that dropped what it heard while waiting kept a
//! ghost member for ever (found in the 50-person soak: every later epoch
//! waited 1.5 s for the ghost's acknowledgement).

use crate::harness::{Room, ToClient};

#[test]
fn a_joiner_removes_a_leaf_that_departed_while_it_waited() {
    let (mut room, ids) = Room::of_size(2);
    let (a, x) = (ids[0].clone(), ids[1].clone());
    let w = room.connect(true);
    // x's connection closes. The server tells the waiting joiner at once;
    // a's copy of the news is lost with a (below), so a commits w's Add
    // in a group that still has x.
    room.deliver(
        &w,
        ToClient::Left {
            participant: x.clone(),
        },
    );
    room.clients.remove(&x);
    room.ds.members.remove(&x);
    room.settle();
    assert!(
        room.get(&w)
            .session
            .members()
            .iter()
            .any(|m| m.participant == w),
        "w got in"
    );
    // a goes before it ever heard of x's departure.
    room.disconnect(&a);
    room.settle();
    let roster: Vec<_> = room
        .get(&w)
        .session
        .members()
        .into_iter()
        .map(|m| m.participant)
        .collect();
    assert_eq!(roster, vec![w.clone()], "no ghost of x (or a) left");
    room.assert_consistent();
    room.assert_no_errors();
}
