//! Forward secrecy for media: a member that left cannot open frames sent
//! after the commit that removed it, and a new member cannot open frames
//! sent before it joined, with any key it ever held.

use std::time::Duration;

use sotto_crypto::keys::{EpochKeys, KeyRing, KeyRingConfig, TrackSource};
use sotto_crypto::media::Codec;
use sotto_crypto::sframe::{CipherSuite, FrameKey, Header};
use sotto_participant::{EndReason, Event, Status};
use sotto_proto::{ClientMessage, ServerMessage};

use crate::harness::Room;

/// Whether any of `held` opens `wire`, trying every key both through a
/// key ring and directly with the frame's KID (no layout assumptions).
fn any_key_opens(held: &[EpochKeys], wire: &[u8]) -> bool {
    let sframe = &wire[1..]; // past the Opus TOC byte
    let (header, len) = Header::decode(sframe).expect("header");
    for keys in held {
        let key = FrameKey::derive(CipherSuite::AesGcm128Sha256, header.kid, keys.base_key())
            .expect("derive");
        let mut out = Vec::new();
        if key
            .open_into(
                &header,
                &sframe[..len],
                &wire[..1],
                &sframe[len..],
                &mut out,
            )
            .is_ok()
        {
            return true;
        }
        let mut ring = KeyRing::new(KeyRingConfig::default());
        // Stand at the highest leaf, which sent nothing here.
        let own = keys.members().last().map_or(0, |(leaf, _)| *leaf);
        let bystander =
            EpochKeys::new(keys.epoch(), *keys.base_key(), own, keys.members().to_vec());
        if ring
            .add_epoch(bystander, sotto_crypto::Instant::ZERO)
            .is_ok()
            && ring.unprotect(Codec::Opus, wire).is_ok()
        {
            return true;
        }
    }
    false
}

#[test]
fn a_removed_member_cannot_open_later_frames() {
    let (mut room, ids) = Room::of_size(4);
    let (a, c) = (ids[0].clone(), ids[2].clone());
    // The server announces c gone (c stays connected and hears nothing),
    // then (curious) hands c the commit that removes it anyway.
    room.server_departed(&c);
    room.settle();
    let removal = room.ds.won.last().expect("removal commit").clone();
    room.deliver(
        &c,
        ServerMessage::Commit {
            from: removal.from.clone(),
            epoch: removal.epoch,
            commit: removal.commit.clone(),
        },
    );
    assert_eq!(
        room.get(&c).participant.status(),
        Status::Ended(EndReason::Removed)
    );
    assert!(
        room.get(&c)
            .events
            .contains(&Event::Ended(EndReason::Removed))
    );
    // The participant empties its ring when it ends: look at every key it
    // was ever given instead.
    let held = room.get(&c).given_keys.clone();
    assert!(!held.is_empty());

    // Everything a sends from now on is closed to c, epoch after epoch.
    for _ in 0..3 {
        room.advance(Duration::from_secs(2));
        let wire = room
            .get_mut(&a)
            .ring
            .protect(Codec::Opus, TrackSource::Mic, &[0x78, 1, 2, 3])
            .expect("protect");
        assert!(room.get_mut(&c).ring.unprotect(Codec::Opus, &wire).is_err());
        assert!(
            !any_key_opens(&held, &wire),
            "a held key opened a later frame"
        );
        // Move on: a new member joins, a new epoch starts.
        room.connect(true);
        room.settle();
    }
    room.assert_consistent();
    // And c cannot read the chat either.
    let now = room.now;
    room.get_mut(&a)
        .participant
        .send_chat("after you left", now)
        .expect("chat");
    room.flush();
    assert!(room.get(&c).participant.epoch().is_none());
    assert!(
        !room
            .get(&c)
            .events
            .iter()
            .any(|e| matches!(e, Event::Chat { .. }))
    );
}

#[test]
fn a_new_member_cannot_open_earlier_frames() {
    let (mut room, ids) = Room::of_size(3);
    let a = ids[0].clone();
    room.advance(Duration::from_secs(2));
    let before: Vec<Vec<u8>> = TrackSource::ALL
        .iter()
        .map(|s| {
            room.get_mut(&a)
                .ring
                .protect(Codec::Opus, *s, &[0x78, 9, 9, 9])
                .expect("protect")
        })
        .collect();
    let newcomer = room.connect(true);
    room.settle();
    room.assert_consistent();
    let held = room.get(&newcomer).ring.held_keys();
    assert_eq!(held.len(), 1, "the joiner only ever had its first epoch");
    assert_eq!(room.get(&newcomer).given_keys.len(), 1);
    for wire in &before {
        assert!(
            room.get_mut(&newcomer)
                .ring
                .unprotect(Codec::Opus, wire)
                .is_err()
        );
        assert!(!any_key_opens(&held, wire));
    }
    // But everyone who was there still opens them.
    assert!(
        room.get_mut(&ids[1])
            .ring
            .unprotect(Codec::Opus, &before[0])
            .is_ok()
    );
}

#[test]
fn an_ex_member_cannot_speak_after_the_commit_that_removed_it() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    // c's messages never reach the server now; the server says c left, and
    // a and b remove it, while c, still connected, hears nothing.
    room.gag.insert(c.clone());
    room.server_departed(&c);
    room.settle();
    assert!(!room.get(&a).roster().contains(&c), "c removed");
    let removed_in = room.get(&a).participant.epoch().expect("epoch");
    // c, one epoch behind, speaks; the server relays it to a and b. Its
    // epoch is a past epoch the others can still open (MAX_PAST_EPOCHS).
    let now = room.now;
    room.get_mut(&c)
        .participant
        .send_chat("still here", now)
        .expect("c still has its group");
    room.flush();
    let said = room
        .ungag(&c)
        .into_iter()
        .find_map(|m| match m {
            ClientMessage::Application { data } => Some(data),
            _ => None,
        })
        .expect("c's chat");
    for to in [&a, &b] {
        room.deliver(
            to,
            ServerMessage::Application {
                from: c.clone(),
                data: said.clone(),
            },
        );
        let got = room.get(to);
        assert!(
            !got.events.iter().any(|e| matches!(e, Event::Chat { .. })),
            "{to:?} showed a chat from a removed member"
        );
        assert!(
            got.last_warning().contains("removed since"),
            "{to:?}: {}",
            got.last_warning()
        );
        assert_eq!(
            got.participant.epoch(),
            Some(removed_in),
            "the room goes on"
        );
    }
    // A member that stays is still heard from a past epoch: b's chat sent
    // before a commit it has not seen yet opens at a.
    room.gag.insert(b.clone());
    let now = room.now;
    room.get_mut(&b)
        .participant
        .send_chat("just before", now)
        .expect("chat");
    room.flush();
    let before = room
        .ungag(&b)
        .into_iter()
        .find_map(|m| match m {
            ClientMessage::Application { data } => Some(data),
            _ => None,
        })
        .expect("b's chat");
    room.connect(true);
    room.settle();
    assert!(room.get(&a).participant.epoch() > Some(removed_in));
    room.deliver(
        &a,
        ServerMessage::Application {
            from: b.clone(),
            data: before,
        },
    );
    assert!(
        room.get(&a).events.iter().any(
            |e| matches!(e, Event::Chat { from, text } if *from == b && text == "just before")
        )
    );
}
