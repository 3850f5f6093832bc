//! Spec §5: every error code a client can trigger, over a real WebSocket,
//! while the other participants of the room carry on undisturbed.
//! (`internal` is a server bug and cannot be triggered on purpose.)

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{Client, TestServer, test_config, two_members};
use sotto_proto::{
    ClientMessage, ErrorCode, LeaveReason, ParticipantId, PcKind, SdpKind, ServerMessage,
};

const QUIET: Duration = Duration::from_millis(200);

/// `in_reply_to` of an error.
fn in_reply_to(message: &ServerMessage) -> Option<&str> {
    match message {
        ServerMessage::Error { in_reply_to, .. } => in_reply_to.as_deref(),
        _ => None,
    }
}

/// a and b still talk to each other and commit at the epoch they expect.
async fn still_working(
    a: &mut Client,
    a_id: &sotto_proto::ParticipantId,
    b: &mut Client,
    epoch: u64,
) {
    a.application(b"still here").await;
    b.expect_application(a_id, b"still here").await;
    a.commit(epoch, &[]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch });
    assert!(matches!(b.recv().await, ServerMessage::Commit { .. }));
}

#[tokio::test]
async fn non_fatal_errors_keep_the_connection_and_disturb_nobody() {
    let mut config = test_config();
    config.limits.max_message_bytes = 4096;
    let server = TestServer::start(config).await;
    let ((mut a, a_id), (mut b, _)) = two_members(&server, "error-room").await;

    // m becomes a member at epoch 1 -> 2.
    let (mut m, m_id, _) = server.join("error-room").await;
    m.key_package(b"kp-m").await;
    assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    assert!(matches!(b.recv().await, ServerMessage::JoinRequest { .. }));
    a.commit(1, &[&m_id]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 1 });
    assert!(matches!(b.recv().await, ServerMessage::Commit { .. }));
    assert!(matches!(
        m.recv().await,
        ServerMessage::Welcome { epoch: 2, .. }
    ));

    // bad_message, in each of its forms.
    for text in [
        "not json",
        "[1,2,3]",
        r#"{"v":1,"type":"no_such_type"}"#,
        r#"{"v":1,"type":"commit","epoch":"2","commit":"AAAA"}"#,
        r#"{"v":1,"type":"application","data":"!!not base64!!"}"#,
        r#"{"v":1,"type":"commit","epoch":2,"commit":"AAAA","welcome_to":["x"]}"#,
    ] {
        m.send_text(text).await;
        m.expect_error(ErrorCode::BadMessage).await;
    }
    m.send_binary(b"\x00\x01binary").await;
    m.expect_error(ErrorCode::BadMessage).await;

    // message_too_large, and the connection goes on.
    let big = format!(
        r#"{{"v":1,"type":"application","data":"{}"}}"#,
        "A".repeat(8000)
    );
    m.send_text(&big).await;
    m.expect_error(ErrorCode::MessageTooLarge).await;

    // already_joined.
    m.send_text(r#"{"v":1,"type":"join","room":"error-room"}"#)
        .await;
    let e = m.expect_error(ErrorCode::AlreadyJoined).await;
    assert_eq!(in_reply_to(&e), Some("join"));
    m.send_text(r#"{"v":1,"type":"join","room":"Other Room"}"#)
        .await;
    m.expect_error(ErrorCode::AlreadyJoined).await;

    // stale_epoch, with the current epoch.
    m.commit(7, &[]).await;
    let e = m.expect_error(ErrorCode::StaleEpoch).await;
    assert!(matches!(
        e,
        ServerMessage::Error {
            current_epoch: Some(2),
            ..
        }
    ));

    // unknown_participant.
    m.send(&ClientMessage::RefuseKnock {
        participant: ParticipantId::new("nobody-at-all-xx").expect("valid id"),
    })
    .await;
    m.expect_error(ErrorCode::UnknownParticipant).await;

    // out_of_order: a member's key package; an offer on sub; an answer on pub.
    m.key_package(b"again").await;
    m.expect_error(ErrorCode::OutOfOrder).await;
    for (pc, kind) in [
        (PcKind::Sub, SdpKind::Offer),
        (PcKind::Pub, SdpKind::Answer),
    ] {
        m.send(&ClientMessage::Sdp {
            pc,
            kind,
            sdp: "v=0\r\n".into(),
            tracks: vec![],
        })
        .await;
        let e = m.expect_error(ErrorCode::OutOfOrder).await;
        assert_eq!(in_reply_to(&e), Some("sdp"));
    }

    // not_a_member from a waiting participant; a second key package from it
    // is out_of_order.
    let (mut w, _, _) = server.join("error-room").await;
    w.key_package(b"kp-w").await;
    for member in [&mut a, &mut b, &mut m] {
        assert!(matches!(
            member.recv().await,
            ServerMessage::JoinRequest { .. }
        ));
    }
    w.application(b"sneaky").await;
    let e = w.expect_error(ErrorCode::NotAMember).await;
    assert_eq!(in_reply_to(&e), Some("application"));
    w.commit(2, &[]).await;
    w.expect_error(ErrorCode::NotAMember).await;
    w.key_package(b"kp-w-again").await;
    w.expect_error(ErrorCode::OutOfOrder).await;

    // Nobody else heard any of it, and the room works at epoch 2.
    a.expect_nothing(QUIET).await;
    b.expect_nothing(QUIET).await;
    still_working(&mut a, &a_id, &mut b, 2).await;
    assert!(matches!(m.recv().await, ServerMessage::Application { .. }));
    assert!(matches!(
        m.recv().await,
        ServerMessage::Commit { epoch: 2, .. }
    ));
    // m is still connected and a member.
    m.application(b"m is fine").await;
    assert!(matches!(a.recv().await, ServerMessage::Application { .. }));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn not_joined_until_join() {
    let server = TestServer::start(test_config()).await;
    let mut c = server.connect().await;
    c.key_package(b"too early").await;
    let e = c.expect_error(ErrorCode::NotJoined).await;
    assert_eq!(in_reply_to(&e), Some("key_package"));
    c.join("late-joiner").await;
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn fatal_errors_close_the_connection_and_the_room_hears_policy() {
    let mut config = test_config();
    config.limits.max_message_bytes = 4096;
    let server = TestServer::start(config).await;
    let ((mut a, a_id), (mut b, _)) = two_members(&server, "fatal-room").await;

    // version_mismatch before join, and from a joined participant.
    let mut c = server.connect().await;
    c.send_text(r#"{"v":2,"type":"join","room":"fatal-room"}"#)
        .await;
    c.expect_error(ErrorCode::VersionMismatch).await;
    assert_eq!(c.expect_close().await, Some(1008));

    let (mut w, w_id, _) = server.join("fatal-room").await;
    w.send_text(r#"{"type":"leave"}"#).await;
    w.expect_error(ErrorCode::VersionMismatch).await;
    assert_eq!(w.expect_close().await, Some(1008));
    assert_eq!(
        a.recv().await,
        ServerMessage::Left {
            participant: w_id.clone(),
            reason: LeaveReason::Policy
        }
    );
    assert!(matches!(b.recv().await, ServerMessage::Left { .. }));

    // bad_room_name.
    let mut c = server.connect().await;
    c.send_text(r#"{"v":1,"type":"join","room":"Bad Room!"}"#)
        .await;
    c.expect_error(ErrorCode::BadRoomName).await;
    assert_eq!(c.expect_close().await, Some(1008));

    // Above 4x the limit: closed with 1009, and announced.
    let (mut big, big_id, _) = server.join("fatal-room").await;
    let huge = format!(
        r#"{{"v":1,"type":"application","data":"{}"}}"#,
        "A".repeat(20_000)
    );
    big.send_text(&huge).await;
    assert_eq!(big.expect_close().await, Some(1009));
    assert_eq!(
        a.recv().await,
        ServerMessage::Left {
            participant: big_id,
            reason: LeaveReason::Policy
        }
    );
    assert!(matches!(b.recv().await, ServerMessage::Left { .. }));

    a.expect_nothing(QUIET).await;
    still_working(&mut a, &a_id, &mut b, 1).await;
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn room_full_and_too_many_rooms_refuse_and_close() {
    let mut config = test_config();
    config.limits.max_participants = 2;
    config.limits.max_rooms = 2;
    let server = TestServer::start(config).await;
    let ((mut a, a_id), (mut b, _)) = two_members(&server, "full-room").await;

    let mut c = server.connect().await;
    c.send_text(r#"{"v":1,"type":"join","room":"full-room"}"#)
        .await;
    c.expect_error(ErrorCode::RoomFull).await;
    assert_eq!(c.expect_close().await, Some(1013));

    let (_other, _, _) = server.join("second-room").await;
    let mut d = server.connect().await;
    d.send_text(r#"{"v":1,"type":"join","room":"third-room"}"#)
        .await;
    d.expect_error(ErrorCode::TooManyRooms).await;
    assert_eq!(d.expect_close().await, Some(1013));

    a.expect_nothing(QUIET).await;
    still_working(&mut a, &a_id, &mut b, 1).await;
    assert_eq!(server.metric("sotto_rooms").await, 2);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_disconnected_as_policy() {
    let mut config = test_config();
    config.limits.messages_per_second = 5; // bursts of 10
    let server = TestServer::start(config).await;
    let ((mut a, a_id), (mut b, b_id)) = two_members(&server, "flood-room").await;

    // Within the burst: everything passes.
    for i in 0..5u8 {
        b.application(&[i]).await;
    }
    for i in 0..5u8 {
        a.expect_application(&b_id, &[i]).await;
    }
    // Beyond it: rate_limited, message dropped, connection kept.
    for i in 0..20u8 {
        b.application(&[100 + i]).await;
    }
    // After a pause that refills the bucket, a marker passes and a probe
    // draws a known error: everything before them has been answered.
    tokio::time::sleep(Duration::from_millis(600)).await;
    b.application(b"marker").await;
    b.key_package(b"probe").await;
    let mut limited = 0;
    loop {
        match b.recv().await {
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                in_reply_to,
                ..
            } => {
                assert_eq!(in_reply_to.as_deref(), Some("application"));
                limited += 1;
            }
            ServerMessage::Error {
                code: ErrorCode::OutOfOrder,
                ..
            } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut relayed = 0;
    loop {
        match a.recv().await {
            ServerMessage::Application { data, .. } if data == b"marker" => break,
            ServerMessage::Application { .. } => relayed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(limited + relayed, 20);
    assert!(limited >= 10, "{limited} limited");

    // Keep flooding: 50 drops within 10 s close the connection with 1008.
    for i in 0..80u8 {
        if b.ws_send_quietly(&ClientMessage::Application { data: vec![i] })
            .await
            .is_err()
        {
            break;
        }
    }
    let code = loop {
        match b.next().await {
            harness::Received::Message(ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => continue,
            harness::Received::Message(other) => panic!("unexpected {other:?}"),
            harness::Received::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(1008));
    loop {
        match a.recv().await {
            ServerMessage::Application { .. } => continue,
            ServerMessage::Left {
                participant,
                reason,
            } => {
                assert_eq!(participant, b_id);
                assert_eq!(reason, LeaveReason::Policy);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // a is alone and fine.
    a.commit(1, &[]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 1 });
    let _ = a_id;
    assert!(
        server
            .metric("sotto_signalling_errors_total{code=\"rate_limited\"}")
            .await
            >= 10
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_tells_everyone_shutting_down_and_closes_with_1001() {
    let server = TestServer::start(test_config()).await;
    let ((mut a, _), (mut b, _)) = two_members(&server, "shutdown-room").await;
    let (mut w, _, _) = server.join("shutdown-room").await;
    let mut unjoined = server.connect().await;
    // Make sure the unjoined connection is being served before stopping.
    unjoined.send_text("{}").await;
    unjoined.expect_error(ErrorCode::VersionMismatch).await;
    let mut unjoined = server.connect().await;
    unjoined.send_text(r#"{"v":1,"type":"leave"}"#).await;
    unjoined.expect_error(ErrorCode::NotJoined).await;

    let stopping = tokio::spawn(server.stop());
    for client in [&mut a, &mut b, &mut w, &mut unjoined] {
        let e = client.expect_error(ErrorCode::ShuttingDown).await;
        assert!(matches!(e, ServerMessage::Error { .. }));
        assert_eq!(client.expect_close().await, Some(1001));
    }
    stopping
        .await
        .expect("no panic")
        .expect("the server stops cleanly");
}
