//! The driver's handling of slow recipients, on real outboxes that nobody
//! drains (no sockets): what strangers cause never closes a member; what
//! members send still closes one that does not keep up.

use std::sync::Arc;

use sotto_proto::delivery::{Input, MAX_KEY_PACKAGE_BYTES, RoomSettings};
use sotto_proto::{ClientMessage, LeaveReason, Limits, ParticipantId, RoomName, ServerMessage};
use tokio::sync::watch;

use super::{LiveRoom, Rooms};
use crate::media::NoMedia;
use crate::metrics::Metrics;
use crate::signal::outbox::{self, Outbox, OutboxReceiver, Outgoing};

fn rooms() -> Rooms {
    let settings = Arc::new(RoomSettings {
        limits: Limits {
            max_message_bytes: 524_288,
            max_participants: 100,
            messages_per_second: 20,
        },
        ice_servers: Vec::new(),
    });
    Rooms::new(settings, 8, 100, Arc::new(NoMedia), Arc::default())
}

fn pid(n: usize) -> ParticipantId {
    ParticipantId::new(format!("participant{n:07}")).expect("valid id")
}

struct Conn {
    id: ParticipantId,
    outbox: Outbox,
    rx: OutboxReceiver,
    killed: watch::Receiver<bool>,
}

/// A connection with an outbox of `messages` messages that joins `name`.
fn join(rooms: &Rooms, name: &RoomName, n: usize, messages: usize) -> (Conn, Arc<LiveRoom>) {
    let (outbox, rx, killed) = outbox::channel(messages, 16 << 20, Arc::new(Metrics::default()));
    let id = pid(n);
    let live = rooms
        .join(name.clone(), &id, outbox.clone())
        .expect("joined");
    (
        Conn {
            id,
            outbox,
            rx,
            killed,
        },
        live,
    )
}

fn say(rooms: &Rooms, live: &Arc<LiveRoom>, from: &ParticipantId, message: ClientMessage) {
    rooms.step(
        live,
        Input::Message {
            from: from.clone(),
            message,
        },
    );
}

/// Everything queued for `conn`, decoded.
fn drain(conn: &mut Conn) -> Vec<ServerMessage> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut out = Vec::new();
    while let Ok(Some(item)) = rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_millis(1), conn.rx.recv()).await
    }) {
        if let Outgoing::Text(text) = item {
            out.push(sotto_proto::decode_server(text.as_str()).expect("decodes"));
        }
    }
    out
}

/// A room with creator `a` (who keeps up) and member `s`, whose outbox of
/// 32 messages nobody reads.
fn room_with_a_slow_member(rooms: &Rooms) -> (Arc<LiveRoom>, Conn, Conn) {
    let name = RoomName::parse("slow-member-room").expect("name");
    let (a, live) = join(rooms, &name, 0, 100_000);
    let (s, _) = join(rooms, &name, 1, 32);
    say(
        rooms,
        &live,
        &s.id,
        ClientMessage::KeyPackage {
            key_package: b"kp-s".to_vec(),
        },
    );
    say(
        rooms,
        &live,
        &a.id,
        ClientMessage::Commit {
            epoch: 0,
            commit: b"c".to_vec(),
            welcome: Some(b"w".to_vec()),
            welcome_to: vec![s.id.clone()],
        },
    );
    (live, a, s)
}

#[test]
fn strangers_knocking_and_leaving_in_a_loop_never_close_a_slow_member() {
    let rooms = rooms();
    let (live, _a, mut s) = room_with_a_slow_member(&rooms);
    let name = RoomName::parse("slow-member-room").expect("name");
    // 500 knocks with full-size KeyPackages, each gone again at once: 1000
    // messages for s, whose outbox holds 32.
    for n in 0..500 {
        let (k, _) = join(&rooms, &name, 100 + n, 16);
        let kp = vec![n as u8; MAX_KEY_PACKAGE_BYTES];
        say(
            &rooms,
            &live,
            &k.id,
            ClientMessage::KeyPackage { key_package: kp },
        );
        rooms.step(
            &live,
            Input::Departed {
                participant: k.id.clone(),
                reason: LeaveReason::Disconnect,
            },
        );
    }
    // One more stays, and is held back from s too.
    let (last, _) = join(&rooms, &name, 99, 16);
    say(
        &rooms,
        &live,
        &last.id,
        ClientMessage::KeyPackage {
            key_package: b"kp-last".to_vec(),
        },
    );
    assert!(!*s.killed.borrow(), "s was not closed");
    assert_eq!(rooms.counts().members, 2);

    // Every left s gets is of a participant it was told of, in order.
    let seen = drain(&mut s);
    let mut told = std::collections::HashSet::new();
    for m in &seen {
        match m {
            ServerMessage::JoinRequest { participant, .. } => {
                told.insert(participant.clone());
            }
            ServerMessage::Left { participant, .. } => {
                assert!(told.contains(participant), "a left out of nowhere");
            }
            _ => {}
        }
    }
    assert!(seen.len() <= 32, "{} queued", seen.len());
    // Caught up: what it missed of those still waiting comes again.
    assert!(s.outbox.take_missed());
    rooms.step(
        &live,
        Input::Resync {
            member: s.id.clone(),
        },
    );
    assert_eq!(
        drain(&mut s),
        vec![ServerMessage::JoinRequest {
            participant: last.id.clone(),
            key_package: b"kp-last".to_vec()
        }]
    );
}

#[test]
fn what_members_send_still_closes_a_member_that_does_not_read() {
    let rooms = rooms();
    let (live, a, s) = room_with_a_slow_member(&rooms);
    for i in 0..40u8 {
        say(
            &rooms,
            &live,
            &a.id,
            ClientMessage::Application { data: vec![i] },
        );
    }
    assert!(
        *s.killed.borrow(),
        "a slow consumer of members' traffic goes"
    );
    assert_eq!(rooms.counts().members, 1);
}
