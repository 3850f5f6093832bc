//! The rules the participant core owns that the browser had lost (issue:
//! "one participant, written once"), each against the real delivery
//! service: a missed commit and a verdict that cannot be merged make a
//! member join again as someone new; a Welcome that never comes does too;
//! a fatal refusal ends the participation with its code and no
//! reconnecting; shutting down does not end it.

use std::sync::Arc;
use std::time::Duration;

use sotto_participant::{EndReason, Event, Status};
use sotto_proto::delivery::{self, RoomSettings};
use sotto_proto::{ErrorCode, IceServer, Limits, ServerMessage};

use crate::harness::Room;

fn rejoins(room: &Room, h: &sotto_crypto::ParticipantId) -> Vec<String> {
    room.get(h)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Rejoining { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_member_that_misses_a_commit_joins_again_and_opens_frames_again() {
    let (mut room, ids) = Room::of_size(2);
    let b = ids[1].clone();
    let b_first = room.id_of(&b);
    // The server "loses" the next commit for b: c's Add.
    room.hold.insert(b.clone());
    let c = room.connect(true);
    room.settle();
    room.held
        .retain(|(_, m)| !matches!(m, ServerMessage::Commit { .. }));
    room.release(&b);
    // c leaves: the commit removing it is for an epoch b cannot reach.
    room.disconnect(&c);
    room.settle();
    room.advance(Duration::from_secs(3));
    room.settle();
    let why = rejoins(&room, &b);
    assert!(
        why.iter().any(|r| r.starts_with("missed a commit")),
        "{why:?}"
    );
    assert_ne!(room.id_of(&b), b_first, "b is back as someone new");
    assert!(room.get(&b).is_member());
    room.assert_consistent();
    room.assert_media_flows();
}

#[test]
fn a_verdict_for_a_commit_it_does_not_hold_makes_it_join_again() {
    let (mut room, ids) = Room::of_size(2);
    let a = ids[0].clone();
    let a_first = room.id_of(&a);
    let epoch = room.ds.epoch;
    // The server tells a its commit won, though a has none in flight.
    room.deliver(&a_first, ServerMessage::CommitAccepted { epoch });
    room.settle();
    let why = rejoins(&room, &a);
    assert!(why.iter().any(|r| r.contains("cannot merge")), "{why:?}");
    assert_ne!(room.id_of(&a), a_first);
    assert!(room.get(&a).is_member());
    room.assert_consistent();
    room.assert_media_flows();
}

#[test]
fn a_welcome_that_never_comes_makes_a_joiner_join_again() {
    let (mut room, _ids) = Room::of_size(1);
    let j = room.connect(true);
    let first = room.id_of(&j);
    // The server keeps what follows `joined` from j: its Welcome.
    room.hold.insert(j.clone());
    room.advance(Duration::from_secs(31));
    let why = rejoins(&room, &j);
    assert!(why.iter().any(|r| r == "no Welcome came"), "{why:?}");
    // The new connection is served honestly.
    room.held.retain(|(to, _)| *to != first);
    room.release(&j);
    room.settle();
    assert_ne!(room.id_of(&j), first);
    assert!(room.get(&j).is_member());
    room.assert_consistent();
}

#[test]
fn a_full_room_ends_the_participation_and_it_does_not_come_back() {
    let mut room = Room::new();
    room.server = delivery::Room::new(Arc::new(RoomSettings {
        limits: Limits {
            max_message_bytes: 524_288,
            max_participants: 1,
            messages_per_second: 20,
        },
        ice_servers: Vec::<IceServer>::new(),
    }));
    let a = room.create();
    room.settle();
    let b = room.connect(true);
    room.advance(Duration::from_secs(30));
    let c = room.get(&b);
    assert!(
        matches!(
            c.ended(),
            Some(EndReason::Server {
                code: ErrorCode::RoomFull,
                ..
            })
        ),
        "{:?}",
        c.events
    );
    assert!(matches!(c.participant.status(), Status::Ended(_)));
    assert!(
        c.participant.poll_timeout().is_none(),
        "no timer: no reconnecting"
    );
    assert_eq!(c.ids.len(), 1, "one connection, no second attempt");
    assert!(room.get(&a).is_member());
}

#[test]
fn shutting_down_is_not_the_end_the_participant_comes_back() {
    let (mut room, ids) = Room::of_size(1);
    let a = ids[0].clone();
    let first = room.id_of(&a);
    room.deliver(
        &first,
        ServerMessage::Error {
            code: ErrorCode::ShuttingDown,
            message: "the server is shutting down".into(),
            in_reply_to: None,
            current_epoch: None,
        },
    );
    room.settle();
    assert!(room.get(&a).ended().is_none());
    assert_ne!(room.id_of(&a), first);
    assert!(room.get(&a).is_member());
}

#[test]
fn failed_media_starts_over_in_the_same_group() {
    let (mut room, ids) = Room::of_size(2);
    let a = ids[0].clone();
    let first = room.id_of(&a);
    let epoch = room.get(&a).participant.epoch();
    let before = room.get(&a).media.len();
    let failed = ServerMessage::Error {
        code: ErrorCode::MediaFailed,
        message: "your peer connections failed; open new ones".into(),
        in_reply_to: None,
        current_epoch: None,
    };
    room.deliver(&first, failed.clone());
    room.settle();
    // New peer connections, closing the old ones first; nothing else.
    let media = &room.get(&a).media[before..];
    assert!(
        matches!(
            media,
            [
                sotto_participant::MediaCommand::Stop,
                sotto_participant::MediaCommand::Start { .. }
            ]
        ),
        "{media:?}"
    );
    let told: Vec<u32> = room
        .get(&a)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MediaFailed { attempt } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(told, vec![1]);
    // The same participant in the same epoch: no rejoin, no commit.
    assert_eq!(room.id_of(&a), first);
    assert_eq!(room.get(&a).participant.epoch(), epoch);
    assert!(rejoins(&room, &a).is_empty());
    assert!(room.get(&a).ended().is_none());
    // Again: counted, and still no rejoin.
    room.deliver(&first, failed);
    room.settle();
    assert!(
        room.get(&a)
            .events
            .iter()
            .any(|e| matches!(e, Event::MediaFailed { attempt: 2 }))
    );
    assert_eq!(room.id_of(&a), first);
    room.assert_consistent();
    room.assert_media_flows();
}

#[test]
fn a_member_whose_connections_fail_asks_for_new_ones_at_most_every_ten_seconds() {
    let (mut room, ids) = Room::of_size(2);
    let a = ids[0].clone();
    let asked = |room: &mut Room| {
        let now = room.now;
        room.get_mut(&a).participant.handle_media_failed(now);
        std::iter::from_fn(|| room.get_mut(&a).participant.poll_output())
            .filter(|o| {
                matches!(
                    o,
                    sotto_participant::Output::Send(sotto_proto::ClientMessage::MediaRestart {})
                )
            })
            .count()
    };
    assert_eq!(asked(&mut room), 1);
    assert_eq!(asked(&mut room), 0, "asked again at once");
    room.advance(Duration::from_secs(9));
    assert_eq!(asked(&mut room), 0, "asked again within 10 s");
    room.advance(Duration::from_secs(1));
    assert_eq!(asked(&mut room), 1);
}
