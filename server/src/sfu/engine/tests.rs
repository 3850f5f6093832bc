//! Engine behaviour that needs no network: refusals and garbage.

use std::sync::atomic::Ordering;

use super::*;

fn room() -> RoomName {
    RoomName::parse("quiet-otter-lamp-42").expect("valid room")
}

fn who(name: &str) -> ParticipantId {
    ParticipantId::from(name)
}

fn engine() -> (Engine, Arc<MediaStats>) {
    let stats = Arc::new(MediaStats::default());
    let engine = Engine::new(
        vec![SocketAddr::from(([127, 0, 0, 1], 10_000))],
        stats.clone(),
    );
    (engine, stats)
}

fn errors(engine: &mut Engine) -> Vec<ErrorCode> {
    std::iter::from_fn(|| engine.poll_event())
        .filter_map(|e| match e {
            MediaEvent::Signal {
                message: ServerMessage::Error { code, .. },
                ..
            } => Some(code),
            _ => None,
        })
        .collect()
}

fn sdp(pc: PcKind, kind: sotto_proto::SdpKind) -> ClientMessage {
    serde_json::from_value(serde_json::json!({
        "type": "sdp", "pc": pc, "kind": kind, "sdp": "v=0\r\n"
    }))
    .expect("sdp message")
}

#[test]
fn garbage_datagrams_are_dropped_and_counted_without_disturbing_anything() {
    let (mut engine, stats) = engine();
    let now = Instant::now();
    engine.handle_command(now, Command::AddMember(room(), who("kq4pZsWm0cB2v9Ae")));
    let local = SocketAddr::from(([127, 0, 0, 1], 10_000));
    let junk: [&[u8]; 6] = [
        &[],
        &[0xff; 100],
        &[0x80; 12],
        &[22, 254, 253, 0],
        &[0, 1, 0, 0],
        &[64; 1500],
    ];
    for (i, datagram) in junk.iter().enumerate() {
        let from = SocketAddr::from(([203, 0, 113, 7], 40_000 + i as u16));
        engine.handle_datagram(now, from, local, datagram);
    }
    assert_eq!(
        stats.dropped_packets.load(Ordering::Relaxed),
        junk.len() as u64
    );
    assert_eq!(stats.forwarded_packets.load(Ordering::Relaxed), 0);
    assert_eq!(engine.routes(), 0);
    assert!(engine.poll_transmit().is_none());
    assert!(engine.poll_event().is_none());
    // The member is still there and can negotiate.
    engine.handle_command(
        now,
        Command::Signal(
            room(),
            who("kq4pZsWm0cB2v9Ae"),
            sdp(PcKind::Pub, sotto_proto::SdpKind::Answer),
        ),
    );
    assert_eq!(errors(&mut engine), vec![ErrorCode::OutOfOrder]);
}

#[test]
fn media_signalling_from_a_non_member_is_refused() {
    let (mut engine, _) = engine();
    let now = Instant::now();
    engine.handle_command(
        now,
        Command::Signal(
            room(),
            who("AAAAAAAAAAAAAAAA"),
            sdp(PcKind::Pub, sotto_proto::SdpKind::Offer),
        ),
    );
    assert_eq!(errors(&mut engine), vec![ErrorCode::NotAMember]);
}

#[test]
fn wrong_directions_and_unsolicited_answers_are_out_of_order() {
    let (mut engine, _) = engine();
    let now = Instant::now();
    let p = who("kq4pZsWm0cB2v9Ae");
    engine.handle_command(now, Command::AddMember(room(), p.clone()));
    for message in [
        sdp(PcKind::Pub, sotto_proto::SdpKind::Answer),
        sdp(PcKind::Sub, sotto_proto::SdpKind::Offer),
        sdp(PcKind::Sub, sotto_proto::SdpKind::Answer),
    ] {
        engine.handle_command(now, Command::Signal(room(), p.clone(), message));
    }
    assert_eq!(errors(&mut engine), vec![ErrorCode::OutOfOrder; 3]);
}

#[test]
fn a_malformed_offer_is_a_bad_message() {
    let (mut engine, _) = engine();
    let now = Instant::now();
    let p = who("kq4pZsWm0cB2v9Ae");
    engine.handle_command(now, Command::AddMember(room(), p.clone()));
    let offer = serde_json::from_value(serde_json::json!({
        "type": "sdp", "pc": "pub", "kind": "offer", "sdp": "not sdp at all",
        "tracks": [{"mid": "0", "source": "mic"}]
    }))
    .expect("sdp message");
    engine.handle_command(now, Command::Signal(room(), p, offer));
    assert_eq!(errors(&mut engine), vec![ErrorCode::BadMessage]);
}

#[test]
fn members_without_media_cost_no_connection() {
    let (mut engine, _) = engine();
    let now = Instant::now();
    engine.handle_command(now, Command::AddMember(room(), who("kq4pZsWm0cB2v9Ae")));
    engine.handle_command(now, Command::AddMember(room(), who("AAAAAAAAAAAAAAAA")));
    assert!(
        engine.poll_event().is_none(),
        "no sub offer while nothing is published"
    );
    assert_eq!(engine.poll_timeout(), None);
    engine.handle_command(now, Command::RemoveMember(room(), who("kq4pZsWm0cB2v9Ae")));
    engine.handle_command(now, Command::Shutdown);
    assert!(engine.members.is_empty() && engine.rooms.is_empty());
}

/// A real `pub` offer with one Opus section (mid "0"), from an `rtc` peer
/// connection that never touches a network.
fn client_offer(now: Instant) -> String {
    use rtc::media_stream::MediaStreamTrack;
    use rtc::peer_connection::RTCPeerConnectionBuilder;
    use rtc::peer_connection::configuration::media_engine::MediaEngine;
    use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};

    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(media)
        .build(now)
        .expect("pc");
    let track = MediaStreamTrack::new(
        "me".to_owned(),
        "mic".to_owned(),
        "mic".to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(1234),
                ..Default::default()
            },
            codec: crate::sfu::peer::codec_for(RtpCodecKind::Audio),
            ..Default::default()
        }],
    );
    pc.add_track(track).expect("track");
    let offer = pc.create_offer(None).expect("offer");
    pc.set_local_description(now, offer.clone()).expect("local");
    offer.sdp
}

#[test]
fn a_connection_that_never_connects_fails_the_member_after_the_grace_time() {
    let (mut engine, _) = engine();
    let t0 = Instant::now();
    let p = who("kq4pZsWm0cB2v9Ae");
    engine.handle_command(t0, Command::AddMember(room(), p.clone()));
    let offer = serde_json::from_value(serde_json::json!({
        "type": "sdp", "pc": "pub", "kind": "offer", "sdp": client_offer(t0),
        "tracks": [{"mid": "0", "source": "mic"}]
    }))
    .expect("sdp message");
    engine.handle_command(t0, Command::Signal(room(), p.clone(), offer));
    let answer = engine.poll_event();
    assert!(
        matches!(&answer, Some(MediaEvent::Signal { message: ServerMessage::Sdp { pc: PcKind::Pub, kind: sotto_proto::SdpKind::Answer, sdp, .. }, .. }) if sdp.contains("a=ice-lite") && sdp.contains("a=recvonly")),
        "{answer:?}"
    );
    // Drive the clock in virtual time: nothing is reported before the grace
    // time, the failure exactly once after it.
    let mut now = t0;
    let mut failed_at = None;
    while now < t0 + CONNECT_WITHIN + Duration::from_secs(5) {
        now = engine
            .poll_timeout()
            .map_or(now + Duration::from_secs(1), |d| {
                d.max(now + Duration::from_millis(1))
            });
        engine.handle_timeout(now);
        while let Some(event) = engine.poll_event() {
            if let MediaEvent::Failed { participant, .. } = event {
                assert_eq!(participant, p);
                assert!(failed_at.is_none(), "reported twice");
                failed_at = Some(now);
            }
        }
    }
    let failed_at = failed_at.expect("the member is reported");
    assert!(failed_at >= t0 + CONNECT_WITHIN);
    assert!(failed_at < t0 + CONNECT_WITHIN + Duration::from_secs(1));
}
