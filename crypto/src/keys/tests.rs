use super::*;

fn id(s: &str) -> ParticipantId {
    ParticipantId::new(s).expect("valid id")
}

fn roster(n: u32) -> Vec<(u32, ParticipantId)> {
    (0..n).map(|i| (i, id(&format!("p{i}")))).collect()
}

fn keys(epoch: u64, key: u8, own: u32, n: u32) -> EpochKeys {
    EpochKeys::new(epoch, [key; 16], own, roster(n))
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

const OPUS: &[u8] = &[0x78, 1, 2, 3, 4, 5];

#[test]
fn frames_travel_between_rings_and_name_their_sender() {
    let mut a = KeyRing::new(KeyRingConfig::default());
    let mut b = KeyRing::new(KeyRingConfig::default());
    a.add_epoch(keys(3, 1, 0, 3), t(0)).expect("add");
    b.add_epoch(keys(3, 1, 2, 3), t(0)).expect("add");
    let wire = a
        .protect(Codec::Opus, TrackSource::ScreenAudio, OPUS)
        .expect("protect");
    let got = b.unprotect(Codec::Opus, &wire).expect("unprotect");
    assert_eq!(got.frame, OPUS);
    assert_eq!(
        got.origin,
        FrameOrigin {
            participant: id("p0"),
            leaf: 0,
            source: TrackSource::ScreenAudio,
            epoch: 3
        }
    );
    assert!(matches!(
        b.unprotect(Codec::Opus, &wire),
        Err(MediaError::Sframe(sframe::Error::Replay { .. }))
    ));
    // A frame reflected back to its own sender is refused.
    assert!(a.unprotect(Codec::Opus, &wire).is_err());
}

#[test]
fn sending_switches_after_every_ack_or_the_timeout() {
    let mut a = KeyRing::new(KeyRingConfig::default());
    a.add_epoch(keys(1, 1, 0, 3), t(0)).expect("add");
    assert_eq!(a.sending_epoch(), Some(1));
    a.add_epoch(keys(2, 2, 0, 3), t(100)).expect("add");
    assert_eq!(a.sending_epoch(), Some(1), "waits for acks");
    assert_eq!(a.poll_timeout(), Some(t(1600)));
    a.acknowledge(2, 1, t(200));
    assert_eq!(a.sending_epoch(), Some(1));
    a.acknowledge(2, 2, t(300));
    assert_eq!(a.sending_epoch(), Some(2), "everyone acknowledged");

    a.add_epoch(keys(3, 3, 0, 3), t(400)).expect("add");
    a.handle_timeout(t(1899));
    assert_eq!(a.sending_epoch(), Some(2));
    a.handle_timeout(t(1900));
    assert_eq!(a.sending_epoch(), Some(3), "timeout");
}

#[test]
fn a_member_gone_is_not_waited_for() {
    let mut a = KeyRing::new(KeyRingConfig::default());
    a.add_epoch(keys(1, 1, 0, 3), t(0)).expect("add");
    a.add_epoch(keys(2, 2, 0, 3), t(100)).expect("add");
    a.acknowledge(2, 1, t(200));
    assert_eq!(a.sending_epoch(), Some(1), "p2 has not acknowledged");
    // p2 was killed: it will never acknowledge.
    a.departed(&id("p2"), t(300));
    assert_eq!(a.sending_epoch(), Some(2), "only p1 was needed");
    // A later epoch that still has p2 (its removal not committed yet) does
    // not wait for it either; it does wait for p1.
    a.add_epoch(keys(3, 3, 0, 3), t(400)).expect("add");
    assert_eq!(a.sending_epoch(), Some(2));
    a.acknowledge(3, 1, t(500));
    assert_eq!(a.sending_epoch(), Some(3));
    // Someone else's departure does not excuse p1.
    a.add_epoch(keys(4, 4, 0, 3), t(600)).expect("add");
    a.departed(&id("p9"), t(700));
    assert_eq!(a.sending_epoch(), Some(3));
    a.handle_timeout(t(2100));
    assert_eq!(a.sending_epoch(), Some(4), "timeout");
}

#[test]
fn a_departure_heard_before_the_first_epoch_counts() {
    // A joiner hears that p2 left while it waits for its Welcome.
    let mut w = KeyRing::new(KeyRingConfig::default());
    w.departed(&id("p2"), t(0));
    w.handle_timeout(t(50));
    // Welcomed into epoch 5, which still has p2 (its removal comes next).
    w.add_epoch(keys(5, 5, 1, 3), t(100)).expect("add");
    w.add_epoch(keys(6, 6, 1, 3), t(200)).expect("add");
    w.acknowledge(6, 0, t(300));
    assert_eq!(w.sending_epoch(), Some(6), "p2 was not waited for");
}

#[test]
fn old_epochs_decrypt_for_the_retention_time_then_go() {
    let mut tx = KeyRing::new(KeyRingConfig::default());
    let mut rx = KeyRing::new(KeyRingConfig::default());
    tx.add_epoch(keys(1, 1, 0, 2), t(0)).expect("add");
    rx.add_epoch(keys(1, 1, 1, 2), t(0)).expect("add");
    let late = tx
        .protect(Codec::Opus, TrackSource::Mic, OPUS)
        .expect("protect");
    rx.add_epoch(keys(2, 2, 1, 2), t(1000)).expect("add");
    rx.switch_sending(2).expect("held");
    rx.handle_timeout(t(10_999));
    assert!(rx.unprotect(Codec::Opus, &late).is_ok(), "still held");
    rx.handle_timeout(t(11_000));
    assert_eq!(rx.epochs().collect::<Vec<_>>(), vec![2]);
    let late2 = tx
        .protect(Codec::Opus, TrackSource::Mic, OPUS)
        .expect("protect");
    assert!(rx.unprotect(Codec::Opus, &late2).is_err());
}

#[test]
fn a_removed_member_is_heard_in_old_epochs_for_the_leaver_grace_only() {
    // p2 is removed by epoch 2; p0 stays. Both keep epoch-1 keys (p2 as
    // an ex-member, p0 because it switches late), and the server relays
    // their frames.
    let mut stayer = KeyRing::new(KeyRingConfig::default());
    let mut leaver = KeyRing::new(KeyRingConfig::default());
    let mut rx = KeyRing::new(KeyRingConfig::default());
    stayer.add_epoch(keys(1, 1, 0, 3), t(0)).expect("add");
    leaver.add_epoch(keys(1, 1, 2, 3), t(0)).expect("add");
    rx.add_epoch(keys(1, 1, 1, 3), t(0)).expect("add");
    let frame = |r: &mut KeyRing| {
        r.protect(Codec::Opus, TrackSource::Mic, OPUS)
            .expect("protect")
    };
    rx.add_epoch(keys(2, 2, 1, 2), t(1000)).expect("add");
    assert_eq!(rx.poll_timeout(), Some(t(2500)), "the switch comes first");
    rx.handle_timeout(t(2999));
    let in_flight = frame(&mut leaver);
    let got = rx.unprotect_on_track(Codec::Opus, &id("p2"), TrackSource::Mic, &in_flight);
    assert!(got.is_ok(), "the leaver's last frames still open");
    assert_eq!(rx.poll_timeout(), Some(t(3000)));
    rx.handle_timeout(t(3000));
    let later = frame(&mut leaver);
    assert_eq!(
        rx.unprotect_on_track(Codec::Opus, &id("p2"), TrackSource::Mic, &later),
        Err(OpenError::Media(MediaError::Sframe(
            sframe::Error::UnknownKeyId(Header::decode(&later[1..]).expect("header").0.kid)
        )))
    );
    // Those who stay are heard in the old epoch for the whole retention.
    rx.handle_timeout(t(10_999));
    let late = frame(&mut stayer);
    assert!(
        rx.unprotect_on_track(Codec::Opus, &id("p0"), TrackSource::Mic, &late)
            .is_ok()
    );
}

#[test]
fn a_frame_moved_to_another_track_is_refused_before_it_is_opened() {
    let mut a = KeyRing::new(KeyRingConfig::default());
    let mut rx = KeyRing::new(KeyRingConfig::default());
    a.add_epoch(keys(1, 1, 0, 3), t(0)).expect("add");
    rx.add_epoch(keys(1, 1, 1, 3), t(0)).expect("add");
    let wire = a
        .protect(Codec::Opus, TrackSource::Mic, OPUS)
        .expect("protect");
    assert_eq!(
        rx.unprotect_on_track(Codec::Opus, &id("p2"), TrackSource::Mic, &wire),
        Err(OpenError::WrongSender(id("p0")))
    );
    assert_eq!(
        rx.unprotect_on_track(Codec::Opus, &id("p0"), TrackSource::ScreenAudio, &wire),
        Err(OpenError::WrongSource(TrackSource::Mic))
    );
    // Its replay slot is still free for the frame on its own track.
    assert_eq!(
        rx.unprotect_on_track(Codec::Opus, &id("p0"), TrackSource::Mic, &wire),
        Ok(OPUS.to_vec())
    );
}

#[test]
fn never_more_than_sixteen_epochs_and_never_an_old_one_again() {
    let mut a = KeyRing::new(KeyRingConfig::default());
    for e in 0..40u64 {
        a.add_epoch(keys(e, e as u8, 0, 2), t(e)).expect("add");
        assert!(a.epochs().count() <= MAX_EPOCHS);
    }
    assert_eq!(a.epochs().next(), Some(24));
    assert_eq!(
        a.add_epoch(keys(39, 0, 0, 2), t(50)),
        Err(KeyError::StaleEpoch {
            epoch: 39,
            newest: 39
        })
    );
}

#[test]
fn frames_from_unknown_leaves_or_epochs_are_refused() {
    let mut a = KeyRing::new(KeyRingConfig::default());
    let mut b = KeyRing::new(KeyRingConfig::default());
    // Leaf 1 is empty in b's view of the epoch: nobody may send from it.
    a.add_epoch(keys(5, 1, 1, 3), t(0)).expect("add");
    let without_leaf_1 = vec![(0, id("p0")), (2, id("p2"))];
    b.add_epoch(EpochKeys::new(5, [1; 16], 0, without_leaf_1), t(0))
        .expect("add");
    let wire = a
        .protect(Codec::Opus, TrackSource::Mic, OPUS)
        .expect("protect");
    assert!(b.unprotect(Codec::Opus, &wire).is_err());
    let mut c = KeyRing::new(KeyRingConfig::default());
    c.add_epoch(keys(6, 1, 0, 4), t(0)).expect("add");
    assert!(c.unprotect(Codec::Opus, &wire).is_err(), "other epoch");
}

#[test]
fn a_ring_without_keys_cannot_send() {
    let mut a = KeyRing::new(KeyRingConfig::default());
    assert_eq!(
        a.protect(Codec::Opus, TrackSource::Mic, OPUS),
        Err(MediaError::Sframe(sframe::Error::NoSendingKey))
    );
}
