//! The people list is the MLS roster, not the server's word (issue "the
//! server must not get in", M1): a member the server reports gone stays
//! listed as leaving until a commit removes it, and is reported overdue
//! if that commit does not come; any member can remove any other.

use std::time::Duration;

use sotto_participant::{EndReason, Event};
use sotto_proto::{LeaveReason, ServerMessage};

use crate::harness::Room;

#[test]
fn a_member_reported_gone_is_leaving_until_a_commit_removes_it() {
    let (mut room, ids) = Room::of_size(3);
    let (a, c) = (ids[0].clone(), ids[2].clone());
    let c_id = room.id_of(&c);
    room.disconnect(&c);
    room.settle();
    let events = &room.get(&a).events;
    let departed = events.iter().position(
        |e| matches!(e, Event::Departed { participant, member: true, .. } if *participant == c_id),
    );
    let removed = events.iter().position(
        |e| matches!(e, Event::MemberRemoved { participant, .. } if *participant == c_id),
    );
    assert!(departed.is_some() && removed.is_some(), "{events:?}");
    assert!(departed < removed, "leaving first, removed by the commit");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::RemovalOverdue { .. })),
        "the commit came in time"
    );
    assert!(room.get(&a).participant.leaving().is_empty());
    room.assert_consistent();
}

#[test]
fn a_departure_whose_removal_never_comes_is_reported_overdue() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let b_id = room.id_of(&b);
    // The server tells a that b left (b is still there), and keeps a's
    // commits from reaching the room: nothing removes b.
    let a_id = room.id_of(&a);
    room.gag.insert(a.clone());
    room.deliver(
        &a_id,
        ServerMessage::Left {
            participant: b_id.clone(),
            reason: LeaveReason::Disconnect,
        },
    );
    assert_eq!(room.get(&a).participant.leaving(), vec![b_id.clone()]);
    assert!(room.get(&a).roster().contains(&b_id), "still in the group");
    room.advance(Duration::from_secs(7));
    assert!(
        room.get(&a)
            .events
            .contains(&Event::RemovalOverdue { participant: b_id }),
        "{:?}",
        room.get(&a).events
    );
}

#[test]
fn any_member_can_remove_another_and_everyone_sees_who_did() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let (b_id, c_id) = (room.id_of(&b), room.id_of(&c));
    // b, not the designated committer, removes c.
    let now = room.now;
    room.get_mut(&b)
        .participant
        .remove_member(&c_id, now)
        .expect("c is a member");
    room.settle();
    assert_eq!(room.get(&c).ended(), Some(&EndReason::Removed));
    assert!(room.get(&a).events.contains(&Event::MemberRemoved {
        participant: c_id.clone(),
        removed_by: Some(b_id.clone()),
    }));
    assert!(!room.get(&a).roster().contains(&c_id));
    // Removing ourselves or a stranger is refused.
    let now = room.now;
    assert!(
        room.get_mut(&b)
            .participant
            .remove_member(&b_id, now)
            .is_err()
    );
    assert!(
        room.get_mut(&b)
            .participant
            .remove_member(&c_id, now)
            .is_err()
    );
    room.disconnect(&c);
    room.settle();
    room.assert_consistent();
    room.assert_media_flows();
}
