//! Members join one by one and all at once; everyone ends in the same
//! epoch with the same room code and opens everyone else's frames.

use std::time::Duration;

use sotto_proto::delivery::DEFAULT_MAX_WAITING;

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

/// `n - 1` joiners arrive at once. As many as a room lets wait are added
/// by one commit; those turned away (`too_many_waiting`) come back after
/// their backoff, and the next commits add them in batches too.
fn all_at_once(n: usize) {
    let mut room = Room::new();
    room.create();
    for _ in 1..n {
        room.connect(true);
    }
    room.settle();
    let start = room.now;
    while room.members().len() < n && room.now < start + Duration::from_secs(60) {
        room.advance(Duration::from_millis(500));
        room.settle();
    }
    assert_eq!(room.members().len(), n);
    let batches = (n - 1).div_ceil(DEFAULT_MAX_WAITING) as u64;
    if batches == 1 {
        assert_eq!(room.ds.epoch, 1, "one commit adds everyone");
    } else {
        assert!(
            room.ds.epoch >= batches && room.ds.epoch < n as u64 / 2,
            "{} commits for {n} in batches of {DEFAULT_MAX_WAITING}",
            room.ds.epoch
        );
    }
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
fn as_many_as_may_wait_at_once() {
    all_at_once(DEFAULT_MAX_WAITING + 1);
}

#[test]
fn ten_members_at_once() {
    all_at_once(10);
}

#[test]
fn fifty_members_at_once() {
    all_at_once(50);
}
