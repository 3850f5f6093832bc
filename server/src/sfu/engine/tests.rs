//! Engine behaviour that needs no network: refusals and garbage.

use std::sync::atomic::Ordering;

use super::*;

fn room() -> RoomName {
    RoomName::parse("quiet-otter-lamp-42").expect("valid room")
}

fn who(name: &str) -> ParticipantId {
    ParticipantId::new(name).expect("valid id")
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
            codec: sotto_peer::opus(),
            ..Default::default()
        }],
    );
    pc.add_track(track).expect("track");
    let offer = pc.create_offer(None).expect("offer");
    pc.set_local_description(now, offer.clone()).expect("local");
    offer.sdp
}

/// A `pub` offer message with `sdp` and one mic on mid "0".
fn pub_offer(sdp: &str) -> ClientMessage {
    serde_json::from_value(serde_json::json!({
        "type": "sdp", "pc": "pub", "kind": "offer", "sdp": sdp,
        "tracks": [{"mid": "0", "source": "mic"}]
    }))
    .expect("sdp message")
}

#[test]
fn an_offer_too_big_or_with_too_many_sections_is_refused_before_parsing() {
    let (mut engine, _) = engine();
    let now = Instant::now();
    let p = who("kq4pZsWm0cB2v9Ae");
    engine.handle_command(now, Command::AddMember(room(), p.clone()));
    let real = client_offer(now);
    let section = &real[real.find("m=").expect("a media section")..];
    // 17 copies of the real section: a valid offer, one over the cap.
    let head = &real[..real.find("m=").expect("a media section")];
    let many = format!(
        "{head}{}",
        (0..=crate::sfu::sdp_bounds::MAX_PUB_SECTIONS)
            .map(|i| section.replace("a=mid:0", &format!("a=mid:{i}")))
            .collect::<String>()
    );
    let padded = format!(
        "{real}a=x-padding:{}\r\n",
        "x".repeat(crate::sfu::sdp_bounds::MAX_SDP_BYTES)
    );
    for offer in [many, padded] {
        engine.handle_command(now, Command::Signal(room(), p.clone(), pub_offer(&offer)));
        assert_eq!(errors(&mut engine), vec![ErrorCode::MessageTooLarge]);
        let m = &engine.members[&engine.ids[&(room(), p.clone())]];
        assert!(m.publisher.is_none(), "no connection was built for it");
    }
    // The member goes on: a proper offer is answered.
    engine.handle_command(now, Command::Signal(room(), p.clone(), pub_offer(&real)));
    let answer = engine.poll_event();
    assert!(
        matches!(
            &answer,
            Some(MediaEvent::Signal {
                message: ServerMessage::Sdp {
                    pc: PcKind::Pub,
                    kind: sotto_proto::SdpKind::Answer,
                    ..
                },
                ..
            })
        ),
        "{answer:?}"
    );
}

#[test]
fn a_sub_answer_with_more_sections_than_the_offer_is_refused() {
    let (mut engine, _) = engine();
    let now = Instant::now();
    let p = who("kq4pZsWm0cB2v9Ae");
    engine.handle_command(now, Command::AddMember(room(), p.clone()));
    // No offer was made: not even one section may come back.
    let answer = serde_json::from_value(serde_json::json!({
        "type": "sdp", "pc": "sub", "kind": "answer",
        "sdp": "v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    }))
    .expect("sdp message");
    engine.handle_command(now, Command::Signal(room(), p, answer));
    assert_eq!(errors(&mut engine), vec![ErrorCode::MessageTooLarge]);
}

#[test]
fn a_connection_that_never_connects_starts_the_members_media_over_after_the_grace_time() {
    let (mut engine, stats) = engine();
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
    // time, `media_failed` exactly once after it (the member has no
    // connection left to fail).
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
            let MediaEvent::Signal {
                participant,
                message,
                ..
            } = event;
            if let ServerMessage::Error { code, .. } = message {
                assert_eq!(code, ErrorCode::MediaFailed);
                assert_eq!(participant, p);
                assert!(failed_at.is_none(), "reported twice");
                failed_at = Some(now);
            }
        }
    }
    let failed_at = failed_at.expect("the member is told");
    assert!(failed_at >= t0 + CONNECT_WITHIN);
    assert!(failed_at < t0 + CONNECT_WITHIN + Duration::from_secs(1));
    assert_eq!(stats.media_failures.load(Ordering::Relaxed), 1);
    // Still a media member, with nothing left of the failed connection: a
    // new `pub` offer is answered as a first one.
    let m = &engine.members[&engine.ids[&(room(), p.clone())]];
    assert!(m.publisher.is_none() && m.published.is_empty());
    let offer = serde_json::from_value(serde_json::json!({
        "type": "sdp", "pc": "pub", "kind": "offer", "sdp": client_offer(now),
        "tracks": [{"mid": "0", "source": "mic"}]
    }))
    .expect("sdp message");
    engine.handle_command(now, Command::Signal(room(), p, offer));
    assert!(
        matches!(
            engine.poll_event(),
            Some(MediaEvent::Signal {
                message: ServerMessage::Sdp {
                    pc: PcKind::Pub,
                    kind: sotto_proto::SdpKind::Answer,
                    ..
                },
                ..
            })
        ),
        "the new offer is answered"
    );
}

/// One `a=<attribute>:` value of an SDP.
fn sdp_attribute<'a>(sdp: &'a str, attribute: &str) -> &'a str {
    sdp.lines()
        .find_map(|l| l.strip_prefix(&format!("a={attribute}:")))
        .expect("the SDP has the attribute")
        .trim()
}

/// What a browser, the ICE controlling agent, sends and answers: STUN
/// built with `rtc`'s own STUN types, keyed with the ICE passwords of both
/// sides' SDP.
struct Controlling {
    /// The server's ufrag and password (from its answer).
    server: (String, String),
    /// Ours (from our offer).
    client: (String, String),
    crypto: Arc<dyn rtc::crypto::RTCCryptoProvider>,
}

impl Controlling {
    /// A connectivity check, nominating when `nominate`.
    fn check(&self, nominate: bool) -> Vec<u8> {
        use rtc::ice::attributes::control::AttrControlling;
        use rtc::ice::attributes::priority::PriorityAttr;
        use rtc::ice::attributes::use_candidate::UseCandidateAttr;
        use rtc::stun::attributes::ATTR_USERNAME;
        use rtc::stun::fingerprint::FINGERPRINT;
        use rtc::stun::integrity::MessageIntegrity;
        use rtc::stun::message::{BINDING_REQUEST, Message, Setter, TransactionId};
        use rtc::stun::textattrs::Username;

        let username = format!("{}:{}", self.server.0, self.client.0);
        let mut setters: Vec<Box<dyn Setter + '_>> = vec![
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(Username::new(ATTR_USERNAME, username)),
            Box::new(AttrControlling(7)),
            Box::new(PriorityAttr(2_130_706_431)),
        ];
        if nominate {
            setters.push(Box::new(UseCandidateAttr::new()));
        }
        setters.push(Box::new(
            MessageIntegrity::new_short_term_integrity_with_provider(
                self.server.1.clone(),
                self.crypto.crypto(),
            ),
        ));
        setters.push(Box::new(FINGERPRINT));
        let mut m = Message::new();
        m.build(&setters).expect("a binding request");
        m.raw
    }

    /// The answer to the server's own check `request`, sent to `to`, if it
    /// is one.
    fn answer(&self, request: &[u8], to: SocketAddr) -> Option<Vec<u8>> {
        use rtc::stun::fingerprint::FINGERPRINT;
        use rtc::stun::integrity::MessageIntegrity;
        use rtc::stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Message};
        use rtc::stun::xoraddr::XorMappedAddress;

        let mut req = Message::new();
        req.unmarshal_binary(request).ok()?;
        if req.typ != BINDING_REQUEST {
            return None;
        }
        let mut m = Message::new();
        m.build(&[
            Box::new(BINDING_SUCCESS),
            Box::new(req.transaction_id),
            Box::new(XorMappedAddress {
                ip: to.ip(),
                port: to.port(),
            }),
            Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
                self.client.1.clone(),
                self.crypto.crypto(),
            )),
            Box::new(FINGERPRINT),
        ])
        .expect("a binding response");
        Some(m.raw)
    }
}

/// Delivers what the engine sends: the test's side answers the server's
/// connectivity checks (on whichever of its addresses they reach).
fn answer_checks(engine: &mut Engine, client: &Controlling, now: Instant, local: SocketAddr) {
    for _ in 0..100 {
        let Some(out) = engine.poll_transmit() else {
            return;
        };
        if let Some(answer) = client.answer(&out.payload, out.destination) {
            engine.handle_datagram(now, out.destination, local, &answer);
        }
    }
}

/// Whether the member's `pub` connection is in trouble (disconnected or
/// failed), as the engine sees it, or was dropped as failed
/// (`media_failed`: the member has no `pub` connection any more).
fn pub_troubled(engine: &Engine, stats: &MediaStats, p: &ParticipantId) -> bool {
    let id = engine.ids[&(room(), p.clone())];
    match engine.members[&id].publisher.as_ref() {
        Some(publisher) => publisher.troubled_since.is_some(),
        None => stats.media_failures.load(Ordering::Relaxed) == 1,
    }
}

/// Chrome with two host candidates that reach the server (loopback and a
/// LAN address; Wi-Fi and Ethernet) nominates the pair that answered first,
/// then switches to the one it prefers, nominates it and sends its consent
/// checks there only. The server's ICE-lite agent must follow (RFC 8445
/// §8.1.1; vendor/README.md): it used to keep the first pair, see no traffic
/// on it, and call a live connection disconnected after 5 s and failed
/// after 15 s (the browser test's members were dropped and rejoined).
/// `checks_from_b` false is the control: a peer that goes silent is still
/// seen in trouble.
fn renomination(checks_from_b: bool) -> bool {
    let (mut engine, stats) = engine();
    let t0 = Instant::now();
    let p = who("kq4pZsWm0cB2v9Ae");
    engine.handle_command(t0, Command::AddMember(room(), p.clone()));
    let offer_sdp = client_offer(t0);
    let offer = serde_json::from_value(serde_json::json!({
        "type": "sdp", "pc": "pub", "kind": "offer", "sdp": offer_sdp,
        "tracks": [{"mid": "0", "source": "mic"}]
    }))
    .expect("sdp message");
    engine.handle_command(t0, Command::Signal(room(), p.clone(), offer));
    let Some(MediaEvent::Signal {
        message: ServerMessage::Sdp { sdp: answer, .. },
        ..
    }) = engine.poll_event()
    else {
        panic!("no answer");
    };
    let client = Controlling {
        server: (
            sdp_attribute(&answer, "ice-ufrag").to_owned(),
            sdp_attribute(&answer, "ice-pwd").to_owned(),
        ),
        client: (
            sdp_attribute(&offer_sdp, "ice-ufrag").to_owned(),
            sdp_attribute(&offer_sdp, "ice-pwd").to_owned(),
        ),
        crypto: rtc::crypto::default_provider().expect("a crypto provider"),
    };
    let local = SocketAddr::from(([127, 0, 0, 1], 10_000));
    let a = SocketAddr::from(([127, 0, 0, 1], 50_001));
    let b = SocketAddr::from(([192, 0, 2, 2], 50_002));
    let mut now = t0;
    // Pair A: checked both ways, then nominated; then pair B the same way.
    for (from, nominate) in [
        (a, false),
        (a, true),
        (a, true),
        (b, false),
        (b, true),
        (b, true),
    ] {
        now += Duration::from_millis(50);
        engine.handle_datagram(now, from, local, &client.check(nominate));
        answer_checks(&mut engine, &client, now, local);
        engine.handle_timeout(now);
        answer_checks(&mut engine, &client, now, local);
    }
    // Then consent checks on B only (Chrome: every 2.5 s or so, nominating
    // the pair it uses), for longer than the server's disconnect (5 s) and
    // fail (15 s) timeouts, and less than its connect timeout (20 s: no
    // DTLS runs here, so the connection never counts as connected).
    let end = t0 + CONNECT_WITHIN - Duration::from_millis(500);
    let mut next_check = if checks_from_b { now } else { end };
    while now < end {
        if now >= next_check {
            engine.handle_datagram(now, b, local, &client.check(true));
            next_check = now + Duration::from_millis(2_500);
        }
        answer_checks(&mut engine, &client, now, local);
        let due = engine.poll_timeout().unwrap_or(end);
        now = due.min(next_check).max(now + Duration::from_millis(1));
        engine.handle_timeout(now);
    }
    pub_troubled(&engine, &stats, &p)
}

#[test]
fn a_lite_connection_follows_the_browsers_renomination() {
    assert!(
        !renomination(true),
        "consent checks on the renominated pair keep the connection up"
    );
}

#[test]
fn a_connection_whose_peer_goes_silent_is_still_seen_in_trouble() {
    assert!(renomination(false));
}

#[test]
fn a_members_media_restart_starts_its_media_over_at_most_every_five_seconds() {
    let (mut engine, stats) = engine();
    let t0 = Instant::now();
    let p = who("kq4pZsWm0cB2v9Ae");
    engine.handle_command(t0, Command::AddMember(room(), p.clone()));
    let restart = || {
        serde_json::from_value(serde_json::json!({"type": "media_restart"})).expect("media_restart")
    };
    let first = engine.ids[&(room(), p.clone())];
    engine.handle_command(t0, Command::Signal(room(), p.clone(), restart()));
    assert_eq!(errors(&mut engine), vec![ErrorCode::MediaFailed]);
    let second = engine.ids[&(room(), p.clone())];
    assert_ne!(first, second, "the member's media was started over");
    // Again at once, and 4 s later: ignored (each start builds connections).
    for later in [Duration::ZERO, Duration::from_secs(4)] {
        engine.handle_command(t0 + later, Command::Signal(room(), p.clone(), restart()));
        assert_eq!(errors(&mut engine), vec![]);
    }
    assert_eq!(engine.ids[&(room(), p.clone())], second);
    // After 5 s: acted on.
    engine.handle_command(
        t0 + RESTART_EVERY,
        Command::Signal(room(), p.clone(), restart()),
    );
    assert_eq!(errors(&mut engine), vec![ErrorCode::MediaFailed]);
    assert_eq!(stats.media_failures.load(Ordering::Relaxed), 2);
}
