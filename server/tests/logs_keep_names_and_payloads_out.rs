//! No log line, at any level, carries an MLS payload (chat, display name),
//! a key package, a commit, a Welcome, the link secret or a TURN
//! credential, not even when they arrive in malformed messages (wrong
//! types, bad base64, unknown versions, a room name with the link's
//! fragment still attached); room names and participant ids appear only
//! below info; SDP bodies only at trace. Captures the server's tracing
//! output in-process at trace level while a room goes through its life.

#[path = "support/harness.rs"]
mod harness;

use std::io::Write;
use std::sync::{Arc, Mutex};

use harness::{TestServer, test_config, two_members};
use sotto_proto::{ClientMessage, ErrorCode, IceServer, PcKind, SdpKind, ServerMessage, b64};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const ROOM: &str = "confidential-board-meeting";
const CHAT: &[u8] = b"chat-payload-marker: the merger is off";
const KEY_PACKAGE: &[u8] = b"key-package-marker-0123456789";
const TURN_SECRET: &str = "turn-credential-marker-hunter2";
const COMMIT: &[u8] = b"commit-marker: path secrets of epoch 1";
const WELCOME: &[u8] = b"welcome-marker: group secrets for the joiner";
const DISPLAY_NAME: &[u8] = br#"{"type":"profile","name":"Display-Name-Marker Zoe"}"#;
/// What a link's fragment looks like (22 characters of base64url).
const LINK_SECRET: &str = "LinkSecretMarker0123ab";
const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=sdp-body-marker\r\nt=0 0\r\n";

#[tokio::test]
async fn no_log_line_carries_secrets_or_payloads_and_names_stay_below_info() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut config = test_config();
    config.ice_servers = vec![IceServer {
        urls: vec!["turn:turn.example.org:3478".into()],
        username: Some("sotto".into()),
        credential: Some(TURN_SECRET.into()),
    }];
    let server = TestServer::start(config).await;
    let ((mut a, a_id), (mut b, b_id)) = two_members(&server, ROOM).await;
    let (mut k, k_id, _) = server.join(ROOM).await;
    k.key_package(KEY_PACKAGE).await;
    assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    assert!(matches!(b.recv().await, ServerMessage::JoinRequest { .. }));
    a.application(CHAT).await;
    b.expect_application(&a_id, CHAT).await;
    a.send(&ClientMessage::Sdp {
        pc: PcKind::Pub,
        kind: SdpKind::Offer,
        sdp: SDP.into(),
        tracks: vec![],
    })
    .await;
    // An error on a chat message must not log it either.
    k.application(CHAT).await;
    k.recv().await;
    a.send(&ClientMessage::RefuseKnock {
        participant: k_id.clone(),
    })
    .await;
    assert_eq!(k.recv().await, ServerMessage::Refused {});
    assert!(matches!(b.recv().await, ServerMessage::Left { .. }));

    // j joins through a commit and a Welcome, and hears a display name.
    // (a may still have the answer to its SDP and k's departure queued.)
    let _ = a.drain(std::time::Duration::from_millis(300)).await;
    let (mut j, j_id, _) = server.join(ROOM).await;
    j.key_package(b"kp-j").await;
    assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    assert!(matches!(b.recv().await, ServerMessage::JoinRequest { .. }));
    a.send(&ClientMessage::Commit {
        epoch: 1,
        commit: COMMIT.to_vec(),
        welcome: Some(WELCOME.to_vec()),
        welcome_to: vec![j_id.clone()],
    })
    .await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 1 });
    assert!(matches!(b.recv().await, ServerMessage::Commit { .. }));
    assert!(matches!(j.recv().await, ServerMessage::Welcome { .. }));
    a.application(DISPLAY_NAME).await;
    b.expect_application(&a_id, DISPLAY_NAME).await;
    j.expect_application(&a_id, DISPLAY_NAME).await;

    // Secrets inside malformed messages: refused, and not logged either.
    let chat_text = String::from_utf8_lossy(CHAT).into_owned();
    for text in [
        format!(r#"{{"v":1,"type":"commit","epoch":"{chat_text}","commit":"AAAA"}}"#),
        format!(r#"{{"v":1,"type":"application","data":"{LINK_SECRET}!"}}"#),
        format!(r#"{{"v":1,"type":"{LINK_SECRET}"}}"#),
        format!(r#"{{"v":1,"type":"refuse_knock","participant":["{chat_text}"]}}"#),
        format!("not json {LINK_SECRET} {chat_text}"),
    ] {
        j.send_text(&text).await;
        j.expect_error(ErrorCode::BadMessage).await;
    }
    j.send_text(&format!(
        r#"{{"v":7,"type":"application","data":"{}","note":"{LINK_SECRET}"}}"#,
        b64::encode(CHAT)
    ))
    .await;
    j.expect_error(ErrorCode::VersionMismatch).await;
    assert_eq!(j.expect_close().await, Some(1008));
    assert!(matches!(a.recv().await, ServerMessage::Left { .. }));
    assert!(matches!(b.recv().await, ServerMessage::Left { .. }));
    // A client that forgot to cut the fragment off the room name.
    let mut c = server.connect().await;
    c.send_text(&format!(
        r#"{{"v":1,"type":"join","room":"{ROOM}#{LINK_SECRET}"}}"#
    ))
    .await;
    c.expect_error(ErrorCode::BadRoomName).await;
    assert_eq!(c.expect_close().await, Some(1008));

    b.leave().await;
    b.expect_close().await;
    server.stop().await.expect("clean stop");

    let text = String::from_utf8(
        capture
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    )
    .expect("utf-8 logs");
    assert!(text.contains("INFO"), "logs were captured:\n{text}");
    assert!(text.contains("joined"), "joins are logged:\n{text}");
    assert!(
        text.contains("sdp-body-marker"),
        "trace lines are captured too, so the checks below are not vacuous"
    );

    let never = [
        String::from_utf8_lossy(CHAT).into_owned(),
        b64::encode(CHAT),
        String::from_utf8_lossy(KEY_PACKAGE).into_owned(),
        b64::encode(KEY_PACKAGE),
        TURN_SECRET.to_owned(),
        String::from_utf8_lossy(COMMIT).into_owned(),
        b64::encode(COMMIT),
        String::from_utf8_lossy(WELCOME).into_owned(),
        b64::encode(WELCOME),
        "Display-Name-Marker".to_owned(),
        b64::encode(DISPLAY_NAME),
        LINK_SECRET.to_owned(),
    ];
    let names = [
        ROOM.to_owned(),
        a_id.to_string(),
        b_id.to_string(),
        k_id.to_string(),
        j_id.to_string(),
    ];
    for line in text.lines() {
        for secret in &never {
            assert!(!line.contains(secret.as_str()), "secret in log: {line}");
        }
        let level = line.split_whitespace().nth(1).unwrap_or("");
        if matches!(level, "INFO" | "WARN" | "ERROR") {
            for name in &names {
                assert!(!line.contains(name.as_str()), "name at {level}: {line}");
            }
        }
        if line.contains("sdp-body-marker") {
            assert_eq!(level, "TRACE", "SDP body above trace: {line}");
        }
    }
}
