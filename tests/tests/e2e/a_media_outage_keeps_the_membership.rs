//! Media that cannot get through is not a reason to leave the room. The
//! path between the participants and the SFU goes dead (both ways, every
//! datagram) while the WebSockets stay up: the SFU notices (5 s without a
//! word from a member, then 10 s more, spec §6), tells each member
//! `media_failed` and forgets their peer connections; each member opens new
//! ones at once. Nobody leaves the group: the same participant ids, the
//! same epoch and room code, no rejoin. Once the path is back, the new
//! connections carry alice's video to bob again, frame for frame what she
//! sent.

use std::time::{Duration, Instant};

use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent};
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::dice::Dice;
use sotto_tests::frames::{recordings_of, sent_on};
use sotto_tests::lossy::{Impairment, server_behind};
use sotto_tests::member::{Member, Spec, joined, room_code};
use sotto_tests::server::{metric, new_room};

/// How many `Started` of alice's camera `events` hold.
fn camera_starts(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Media(MediaEvent::Started {
                    source: TrackSource::Camera,
                    ..
                })
            )
        })
        .count()
}

fn media_failures(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Room(RoomEvent::MediaFailed { .. })))
        .count()
}

fn rejoins(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Room(RoomEvent::Rejoining { .. })))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_starts_over_without_leaving_the_group() {
    let clean = Impairment {
        loss: 0.0,
        jitter: Duration::ZERO,
    };
    let (server, path) = server_behind(clean, Dice::seed_from_clock()).await;
    path.impair(false);
    let (link, _) = new_room(&server.origin(), "outage");
    let mut alice = Member::join(&link, Spec::sending("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let mut bob = Member::join(&link, Spec::silent("bob"));
    bob.wait_for("alice's video", PATIENCE, |ev| camera_starts(ev) == 1)
        .await;
    let (alice_id, bob_id) = (alice.id_now(), bob.id_now());
    let code = room_code(&bob).expect("bob is a member");
    assert_eq!(room_code(&alice), Some(code.clone()));

    // The path goes dead; the WebSockets do not.
    path.outage(true);
    let dead = Instant::now();
    for m in [&alice, &bob] {
        m.wait_for("media_failed", Duration::from_secs(40), |ev| {
            media_failures(ev) >= 1
        })
        .await;
    }
    let noticed = dead.elapsed();
    path.outage(false);
    let back = Instant::now();
    let sent_when_back = sent_on(&alice.sent(), TrackSource::Camera).len();
    // At once, usually; but connections opened while the path was still
    // dead may have given up their checks, and wait for the SFU's connect
    // timeout (20 s) to be opened again.
    bob.wait_for("alice's video again", Duration::from_secs(50), |ev| {
        camera_starts(ev) >= 2
    })
    .await;
    let recovered = back.elapsed();
    // A few seconds of video on the new connections.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = server.metrics().await;
    let (alice_events, bob_events) = (alice.events(), bob.events());
    assert_eq!(bob.leave().await, Ended::Left);
    assert_eq!(alice.leave().await, Ended::Left);
    println!(
        "the dead path was noticed after {:.1} s; video was back {:.1} s after the path; \
         media_failed: alice {}, bob {}; sotto_media_failures_total {:?}",
        noticed.as_secs_f64(),
        recovered.as_secs_f64(),
        media_failures(&alice_events),
        media_failures(&bob_events),
        metric(&metrics, "sotto_media_failures_total"),
    );

    // The SFU's rule (15 s) plus a second of slack, not the rejoin's.
    assert!(
        noticed < Duration::from_secs(17),
        "noticed after {noticed:?}"
    );
    // Nobody left the group, nobody joined it again.
    assert_eq!(alice.id_now(), alice_id);
    assert_eq!(bob.id_now(), bob_id);
    assert_eq!(room_code(&alice), Some(code.clone()));
    assert_eq!(room_code(&bob), Some(code));
    assert_eq!(rejoins(&alice_events) + rejoins(&bob_events), 0);
    assert!(
        !bob_events.iter().any(|e| matches!(
            e,
            Event::Room(RoomEvent::MemberRemoved { .. } | RoomEvent::Departed { .. })
        )),
        "bob saw alice leave: {bob_events:#?}"
    );
    assert!(metric(&metrics, "sotto_media_failures_total").is_some_and(|n| n >= 2));
    // What bob recorded on the new connection (its own recording) is what
    // alice sent after the path came back, byte for byte, in order.
    let sent = sent_on(&alice.sent(), TrackSource::Camera);
    let recordings = recordings_of(bob.record_dir(), &alice_id, TrackSource::Camera);
    assert!(
        recordings.len() >= 2,
        "one recording per connection that carried video"
    );
    let after = recordings.last().expect("recordings");
    let mut at = sent_when_back.saturating_sub(30);
    for frame in after {
        at += 1 + sent[at..]
            .iter()
            .position(|s| s == frame)
            .expect("every frame bob recorded is one alice sent, in order");
    }
    assert!(
        after.len() >= 15,
        "bob recorded {} frames on the new connection",
        after.len()
    );
    server.stop().await;
}
