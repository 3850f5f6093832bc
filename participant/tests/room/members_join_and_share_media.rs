//! Members join one by one and all at once; everyone ends in the same
//! epoch with the same room code and opens everyone else's frames.

use crate::harness::Room;

fn one_by_one(n: usize) {
    let (mut room, ids) = Room::of_size(n);
    assert_eq!(room.members().len(), n);
    assert_eq!(room.ds.epoch, n as u64 - 1, "one commit per join");
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
    let _ = ids;
}

fn all_at_once(n: usize) {
    let mut room = Room::new();
    room.create();
    for _ in 1..n {
        room.connect(true);
    }
    room.settle();
    assert_eq!(room.members().len(), n);
    assert_eq!(room.ds.epoch, 1, "one commit adds everyone");
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn two_members_one_by_one() {
    one_by_one(2);
}

#[test]
fn ten_members_one_by_one() {
    one_by_one(10);
}

#[test]
fn fifty_members_one_by_one() {
    one_by_one(50);
}

#[test]
fn two_members_at_once() {
    all_at_once(2);
}

#[test]
fn ten_members_at_once() {
    all_at_once(10);
}

#[test]
fn fifty_members_at_once() {
    all_at_once(50);
}
