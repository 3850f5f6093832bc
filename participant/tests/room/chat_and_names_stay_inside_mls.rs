//! Chat and display names travel only as MLS application messages: members
//! read them, the server relays bytes in which neither appears, padded so
//! that short chat lines all look alike.

use sotto_participant::{Event, MemberStatus};

use crate::harness::Room;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// No byte string of `secrets` is in anything the server relayed or
/// accepted (application messages, commits, Welcomes).
fn the_server_never_saw(room: &Room, secrets: &[&[u8]]) {
    let mut seen_by_server: Vec<&[u8]> = room.ds.relayed.iter().map(Vec::as_slice).collect();
    for w in &room.ds.won {
        seen_by_server.push(&w.commit);
        seen_by_server.extend(w.welcome.as_deref());
    }
    for bytes in seen_by_server {
        for secret in secrets {
            assert!(
                !contains(bytes, secret),
                "the server saw {:?}",
                String::from_utf8_lossy(secret)
            );
        }
    }
}

#[test]
fn members_read_chat_and_names_the_server_does_not() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let now = room.now;
    room.get_mut(&a)
        .participant
        .set_name("Ada Lovelace", now)
        .expect("profile");
    room.flush();
    let n = room.ds.relayed.len();
    room.get_mut(&b)
        .participant
        .send_chat("x", now)
        .expect("chat");
    room.get_mut(&b)
        .participant
        .send_chat("meet at the old mill at nine", now)
        .expect("chat");
    room.flush();
    let sizes: Vec<usize> = room.ds.relayed[n..].iter().map(Vec::len).collect();
    assert_eq!(sizes.len(), 2);
    assert_eq!(
        sizes[0], sizes[1],
        "padding hides the length of short lines"
    );
    room.settle();
    for m in &ids[1..] {
        assert!(room.get(m).events.contains(&Event::Name {
            from: a.clone(),
            name: "Ada Lovelace".into()
        }));
    }
    assert!(room.get(&a).events.contains(&Event::Chat {
        from: b.clone(),
        text: "meet at the old mill at nine".into()
    }));
    // Someone who joins later learns the name from a, through MLS.
    let late = room.connect(true);
    room.settle();
    assert!(room.get(&late).events.contains(&Event::Name {
        from: a.clone(),
        name: "Ada Lovelace".into()
    }));
    room.assert_no_errors();

    the_server_never_saw(
        &room,
        &[
            &b"Ada Lovelace"[..],
            b"Lovelace",
            b"old mill",
            b"\"chat\"",
            b"profile",
        ],
    );
}

#[test]
fn mutes_hands_reactions_and_recording_are_told_inside_mls() {
    let (mut room, ids) = Room::of_size(2);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let now = room.now;
    let said = MemberStatus {
        mic: false,
        camera: true,
        hand: true,
        recording: true,
    };
    room.get_mut(&a)
        .participant
        .set_status(said, now)
        .expect("status");
    room.get_mut(&a)
        .participant
        .send_reaction("🎉", now)
        .expect("reaction");
    // Not a reaction sotto shows: refused before anything is sent.
    let n = room.ds.relayed.len();
    assert!(
        room.get_mut(&a)
            .participant
            .send_reaction("<img src=x>", now)
            .is_err()
    );
    room.flush();
    assert!(room.ds.relayed.len() >= n);
    room.settle();
    assert!(room.get(&b).events.contains(&Event::Status {
        from: a.clone(),
        status: said
    }));
    assert!(room.get(&b).events.contains(&Event::Reaction {
        from: a.clone(),
        emoji: "🎉".into()
    }));
    // Someone who joins later learns a's state (it is recording, its hand
    // is up) from a, through MLS.
    let late = room.connect(true);
    room.settle();
    assert!(room.get(&late).events.contains(&Event::Status {
        from: a.clone(),
        status: said
    }));
    room.assert_no_errors();
    the_server_never_saw(
        &room,
        &[
            &b"status"[..],
            b"recording",
            b"hand",
            b"reaction",
            "🎉".as_bytes(),
        ],
    );
}
