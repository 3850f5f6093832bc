//! Members already in a call keep receiving each other's media while
//! others join and leave: each join or leave changes the MLS epoch and
//! renegotiates everyone's `sub` connection, and neither may stop the
//! frames of the tracks that stay. The churn soak only sees stretches that
//! begin with a frame that failed to open; a stretch with no frame at all
//! (a frozen picture, a silent voice) shows here.

use std::time::{Duration, Instant};

use sotto_client::room::{Ended, Event, MediaEvent};
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined, wait_for_all_media};
use sotto_tests::server::{TestServer, new_room};

/// Newcomers that join and leave, one after another.
const VISITS: usize = 3;
/// A stretch without frames that a person would notice as a frozen
/// picture or a drop-out. Measured here: under 100 ms (one or two video
/// frames) for every track, debug build, quiet machine; the margin is for
/// a loaded CI machine.
const FREEZE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn established_members_hear_and_see_each_other_through_joins_and_leaves() {
    let server = TestServer::start().await;
    let (link, _) = new_room(&server.origin(), "comings-and-goings");
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        members.push(Member::join_sending(&link, name).await);
    }
    wait_for_all_media(&members).await;
    let ids: Vec<_> = members.iter().map(|m| m.id().expect("connected")).collect();
    let from = Instant::now();
    let mut marks = Vec::new();
    for visit in 0..VISITS {
        let name = format!("visitor{visit}");
        marks.push((from.elapsed(), format!("{name} joins")));
        let mut visitor = Member::join(&link, Spec::sending(&name));
        visitor.wait_for("joining", PATIENCE, joined).await;
        let vid = visitor.id().expect("connected");
        for m in &members {
            m.wait_for("the visitor's media", PATIENCE, |ev| {
                ev.iter()
                    .filter(|e| matches!(e, Event::Media(MediaEvent::Started { participant, .. }) if *participant == vid))
                    .count()
                    == 2
            })
            .await;
        }
        // And the visitor receives every member's two tracks (its own
        // subscription may come up a little after the others see it).
        let want = 2 * members.len();
        visitor
            .wait_for("every member's media", PATIENCE, |ev| {
                ev.iter()
                    .filter(|e| matches!(e, Event::Media(MediaEvent::Started { .. })))
                    .count()
                    >= want
            })
            .await;
        marks.push((from.elapsed(), format!("{name} leaves")));
        // The visitor's side: from its first frame of each track on.
        let now = Instant::now();
        let silences = visitor.longest_silences(from, now);
        assert_eq!(
            silences.len(),
            2 * members.len(),
            "{name} received every track: {silences:?}"
        );
        for s in silences {
            eprintln!(
                "{name} <- {} {:?}: longest silence {} ms from {} ms",
                s.participant,
                s.source,
                s.longest.as_millis(),
                s.began.duration_since(from).as_millis()
            );
            assert!(s.longest <= FREEZE, "{name}: {s:?}");
        }
        for e in visitor.events() {
            if let Event::Media(MediaEvent::Recovered {
                participant,
                source,
                after,
                failing_for,
                failures,
            }) = e
            {
                eprintln!(
                    "{name} <- {participant} {source:?}: {failures} failed over {} ms, opened after {} ms",
                    failing_for.as_millis(),
                    after.as_millis()
                );
            }
        }
        assert_eq!(visitor.leave().await, Ended::Left);
        for m in &members {
            m.wait_for("the visitor's tracks ending", PATIENCE, |ev| {
                ev.iter()
                    .filter(|e| matches!(e, Event::Media(MediaEvent::Ended { participant, .. }) if *participant == vid))
                    .count()
                    == 2
            })
            .await;
        }
    }
    // Let the last renegotiation settle, inside the window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let to = Instant::now();
    for (at, what) in &marks {
        eprintln!("{:>6} ms  {what}", at.as_millis());
    }
    let mut worst = Duration::ZERO;
    for m in &members {
        let silences = m.longest_silences(from, to);
        for (i, id) in ids.iter().enumerate() {
            if members[i].name == m.name {
                continue;
            }
            for source in [TrackSource::Camera, TrackSource::Mic] {
                let s = silences
                    .iter()
                    .find(|s| s.participant == *id && s.source == source)
                    .unwrap_or_else(|| {
                        panic!(
                            "{} got no {source:?} frame from {}",
                            m.name, members[i].name
                        )
                    });
                eprintln!(
                    "{} <- {} {source:?}: longest silence {} ms from {} ms",
                    m.name,
                    members[i].name,
                    s.longest.as_millis(),
                    s.began.duration_since(from).as_millis()
                );
                worst = worst.max(s.longest);
            }
        }
    }
    eprintln!(
        "longest silence of an established track: {} ms",
        worst.as_millis()
    );
    assert!(
        worst <= FREEZE,
        "an established member's track froze for {worst:?} while others came and went"
    );
    for m in &mut members {
        assert_eq!(m.leave().await, Ended::Left);
    }
    server.stop().await;
}
