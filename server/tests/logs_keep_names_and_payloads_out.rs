//! No log line, at any level, carries an MLS payload (chat), a key
//! package or a TURN credential; room names and participant ids appear only
//! below info; SDP bodies only at trace. Captures the server's tracing
//! output in-process at trace level while a room goes through its life.

#[path = "support/harness.rs"]
mod harness;

use std::io::Write;
use std::sync::{Arc, Mutex};

use harness::{TestServer, test_config, two_members};
use sotto_proto::{ClientMessage, IceServer, PcKind, SdpKind, ServerMessage, b64};

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
const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=sdp-body-marker\r\nt=0 0\r\n";

#[tokio::test]
async fn logs_never_carry_secrets_payloads_or_names_at_info() {
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
    ];
    let names = [ROOM.to_owned(), a_id.0, b_id.0, k_id.0];
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
