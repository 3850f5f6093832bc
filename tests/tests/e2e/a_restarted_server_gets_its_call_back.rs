//! The server restarts in the middle of a call and forgets every room.
//! The participants reconnect by themselves, build a new MLS group in the
//! new server's empty room (one of them creates it, the other is added),
//! see each other again, and their media opens again.

use std::time::Duration;

use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::{ParticipantId, TrackSource};
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined};
use sotto_tests::server::{TestServer, new_room};

/// Participant ids we were given, in order.
fn connections(ev: &[Event]) -> Vec<ParticipantId> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Room(RoomEvent::Connected { participant, .. }) => Some(participant.clone()),
            _ => None,
        })
        .collect()
}

/// What happened since the last `Reconnecting`.
fn since_reconnecting(ev: &[Event]) -> &[Event] {
    match ev
        .iter()
        .rposition(|e| matches!(e, Event::Room(RoomEvent::Rejoining { .. })))
    {
        Some(i) => &ev[i..],
        None => &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_rejoin_a_new_group_and_see_and_hear_each_other() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let (link, _) = new_room(&server.origin(), "restart");
    let spec = |name| Spec {
        reconnect: true,
        ..Spec::sending(name)
    };
    let alice = Member::join(&link, spec("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let bob = Member::join(&link, spec("bob"));
    let mut members = [alice, bob];
    for m in &members {
        m.wait_for("the other's video", PATIENCE, |ev| {
            ev.iter().any(|e| {
                matches!(
                    e,
                    Event::Media(MediaEvent::Started {
                        source: TrackSource::Camera,
                        ..
                    })
                )
            })
        })
        .await;
    }

    // A restart: the old server tells everyone it is going (spec §5,
    // `shutting_down`), is down for a second, and comes back empty on the
    // same address.
    server.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarted = tokio::time::Instant::now();
    let server = TestServer::start_on(addr).await;

    for m in &members {
        m.wait_for("joining the new server's room", PATIENCE, |ev| {
            joined(since_reconnecting(ev))
        })
        .await;
    }
    let ids: Vec<ParticipantId> = members
        .iter()
        .map(|m| connections(&m.events()).last().cloned().expect("connected"))
        .collect();
    for (i, m) in members.iter().enumerate() {
        let other = &ids[1 - i];
        m.wait_for("the other as a member again, and its video", PATIENCE, |ev| {
            let now = since_reconnecting(ev);
            now.iter().any(|e| matches!(e, Event::Room(RoomEvent::MemberAdded { participant, .. }) if participant == other))
                && now.iter().any(|e| matches!(e, Event::Media(MediaEvent::Started { participant, source: TrackSource::Camera }) if participant == other))
                && now.iter().any(|e| matches!(e, Event::Media(MediaEvent::Started { participant, source: TrackSource::Mic }) if participant == other))
        })
        .await;
    }
    println!(
        "media open again {:?} after the server came back",
        restarted.elapsed()
    );
    // One new group: both are in the same epoch with the same room code.
    let start = tokio::time::Instant::now();
    loop {
        let states: Vec<_> = members
            .iter()
            .map(|m| {
                since_reconnecting(&m.events())
                    .iter()
                    .rev()
                    .find_map(|e| match e {
                        Event::Room(RoomEvent::Joined {
                            epoch, room_code, ..
                        })
                        | Event::Room(RoomEvent::EpochChanged { epoch, room_code }) => {
                            Some((*epoch, room_code.to_string()))
                        }
                        _ => None,
                    })
            })
            .collect();
        if states[0].is_some() && states[0] == states[1] {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no common epoch after the restart: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing failed to open on the way: every frame that arrived from the
    // other's new id opened (a failure would be reported).
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (i, m) in members.iter().enumerate() {
        let failures: Vec<_> = m
            .events()
            .into_iter()
            .filter(|e| matches!(e, Event::Media(MediaEvent::DecryptFailures { participant, .. }) if *participant == ids[1 - i]))
            .collect();
        assert!(failures.is_empty(), "{}: {failures:?}", m.name);
    }
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
