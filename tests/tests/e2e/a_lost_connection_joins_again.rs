//! When the signalling connection breaks, a participant joins again as a
//! new participant (spec §4.5: MLS state is not resumed) and the call
//! goes on.

use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined};
use sotto_tests::server::{TestServer, new_room};
use sotto_tests::tap::SignallingTap;

fn connections(ev: &[Event]) -> Vec<sotto_proto::ParticipantId> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Room(RoomEvent::Connected { participant, .. }) => Some(participant.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_members_come_back_with_new_ids_and_media_flows_again() {
    let server = TestServer::start().await;
    let tap = SignallingTap::start(server.addr).await;
    let (link, _) = new_room(&tap.origin(), "lost-connection");
    let mut alice = Member::join(
        &link,
        Spec {
            reconnect: true,
            ..Spec::sending("alice")
        },
    );
    alice.wait_for("joining", PATIENCE, joined).await;
    let mut bob = Member::join(
        &link,
        Spec {
            reconnect: true,
            ..Spec::silent("bob")
        },
    );
    bob.wait_for("alice's video", PATIENCE, |ev| {
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

    tap.cut();
    for m in [&alice, &bob] {
        m.wait_for(
            "reconnecting, then joining as someone new",
            PATIENCE,
            |ev| {
                let reconnecting = ev
                    .iter()
                    .position(|e| matches!(e, Event::Room(RoomEvent::Rejoining { .. })));
                reconnecting.is_some_and(|i| joined(&ev[i..]))
                    && connections(ev).len() == 2
                    && connections(ev)[0] != connections(ev)[1]
            },
        )
        .await;
    }
    let alice_now = connections(&alice.events())[1].clone();
    bob.wait_for("alice's video from her new id", PATIENCE, |ev| {
        ev.iter().any(|e| {
            matches!(e, Event::Media(MediaEvent::Started { participant, source: TrackSource::Camera })
                if *participant == alice_now)
        })
    })
    .await;
    assert_eq!(bob.leave().await, Ended::Left);
    assert_eq!(alice.leave().await, Ended::Left);
    server.stop().await;
}
