//! A member leaves with every media key it held (exported on the way
//! out). Frames sent after the group moved on cannot be opened with them;
//! frames sent before can (so the check itself can succeed).

use std::time::Duration;

use sotto_client::room::{Ended, Event, MediaEvent, RoomEvent, WireFrame};
use sotto_crypto::Instant;
use sotto_crypto::keys::{EpochKeys, KeyRing, KeyRingConfig};
use sotto_crypto::media::Codec;
use sotto_proto::TrackSource;
use sotto_tests::PATIENCE;
use sotto_tests::member::{Member, Spec, joined};
use sotto_tests::server::{TestServer, new_room};

fn ring_of(keys: &[EpochKeys]) -> KeyRing {
    let mut ring = KeyRing::new(KeyRingConfig::default());
    for k in keys {
        ring.add_epoch(k.clone(), Instant::ZERO)
            .expect("epochs in order");
    }
    ring
}

fn codec(frame: &WireFrame) -> Codec {
    match frame.source {
        TrackSource::Mic | TrackSource::ScreenAudio => Codec::Opus,
        _ => Codec::Vp8,
    }
}

fn receiving_both(ev: &[Event]) -> bool {
    ev.iter()
        .filter(|e| matches!(e, Event::Media(MediaEvent::Started { .. })))
        .count()
        >= 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_after_the_next_epoch_do_not_open_with_a_leavers_keys() {
    let server = TestServer::start().await;
    let (link, _) = new_room(&server.origin(), "leaver-keys");
    let alice = Member::join(&link, Spec::sending("alice"));
    alice.wait_for("joining", PATIENCE, joined).await;
    let mut bob = Member::join(&link, Spec::silent("bob"));
    let mut carol = Member::join(&link, Spec::silent("carol"));
    bob.wait_for("alice's media", PATIENCE, receiving_both)
        .await;
    carol
        .wait_for("alice's media", PATIENCE, receiving_both)
        .await;

    let carols_epoch = carol.epoch().expect("a member");
    let carols_keys = carol.held_keys().await;
    assert!(!carols_keys.is_empty());
    assert_eq!(carol.leave().await, Ended::Left);

    // The others remove her: a new epoch.
    for m in [&alice, &bob] {
        m.wait_for("the epoch after carol left", PATIENCE, |ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Room(RoomEvent::EpochChanged { epoch, .. }) if *epoch > carols_epoch))
        })
        .await;
    }
    // Alice switches to the new epoch once bob acknowledged it; give the
    // new epoch a second of media.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let bobs_keys = bob.held_keys().await;
    assert_eq!(bob.leave().await, Ended::Left);

    // Sort what bob received from alice by the epoch that sealed it.
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut bobs_ring = ring_of(&bobs_keys);
    for frame in bob.wire() {
        if let Ok(opened) = bobs_ring.unprotect(codec(&frame), &frame.data) {
            if opened.origin.epoch > carols_epoch {
                after.push(frame);
            } else {
                before.push(frame);
            }
        }
    }
    assert!(after.len() >= 20, "{} frames after carol left", after.len());

    let mut carols_ring = ring_of(&carols_keys);
    let opened_before = before
        .iter()
        .filter(|f| carols_ring.unprotect(codec(f), &f.data).is_ok())
        .count();
    assert!(
        opened_before > 0,
        "carol's keys open none of the {} frames of her epochs",
        before.len()
    );
    for frame in &after {
        assert!(
            carols_ring.unprotect(codec(frame), &frame.data).is_err(),
            "carol's keys opened a frame of a later epoch"
        );
    }
    server.stop().await;
}
