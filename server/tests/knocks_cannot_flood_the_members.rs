//! Knocking costs every member something: each KeyPackage is stored by the
//! server and relayed to every member (and again to each new member). A
//! stranger with only the room name must not be able to make that cost
//! large: KeyPackages are capped at 4096 bytes (spec §2), and a room
//! holds a bounded number of waiting participants.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{TestServer, test_config, two_members};
use sotto_proto::delivery::MAX_KEY_PACKAGE_BYTES;
use sotto_proto::{ErrorCode, ServerMessage};

const QUIET: Duration = Duration::from_millis(200);

#[tokio::test]
async fn an_oversized_key_package_is_refused_and_reaches_no_member() {
    let server = TestServer::start(test_config()).await;
    let ((mut a, a_id), (mut b, _)) = two_members(&server, "big-knock-room").await;

    let (mut k, k_id, _) = server.join("big-knock-room").await;
    // Well under the message limit (512 KiB), well over the KeyPackage cap.
    k.key_package(&vec![0x5a; 64 * 1024]).await;
    let e = k.expect_error(ErrorCode::MessageTooLarge).await;
    assert!(matches!(
        e,
        ServerMessage::Error { in_reply_to: Some(ref t), .. } if t == "key_package"
    ));
    a.expect_nothing(QUIET).await;
    b.expect_nothing(QUIET).await;

    // The knocker is still there and may send a proper one.
    k.key_package(&[0x5a; MAX_KEY_PACKAGE_BYTES]).await;
    for member in [&mut a, &mut b] {
        match member.recv().await {
            ServerMessage::JoinRequest {
                participant,
                key_package,
            } => {
                assert_eq!(participant, k_id);
                assert_eq!(key_package.len(), MAX_KEY_PACKAGE_BYTES);
            }
            other => panic!("expected the join request, got {other:?}"),
        }
    }
    a.application(b"still here").await;
    b.expect_application(&a_id, b"still here").await;
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_join_beyond_the_waiting_cap_is_told_to_come_back_and_the_room_goes_on() {
    let mut config = test_config();
    config.limits.max_waiting = 2;
    let server = TestServer::start(config).await;
    let ((mut a, _), (mut b, b_id)) = two_members(&server, "queue-room").await;

    let (mut w1, w1_id, _) = server.join("queue-room").await;
    let (_w2, _, _) = server.join("queue-room").await;
    let mut w3 = server.connect().await;
    w3.send_text(r#"{"v":1,"type":"join","room":"queue-room"}"#)
        .await;
    let e = w3.expect_error(ErrorCode::TooManyWaiting).await;
    assert!(matches!(
        e,
        ServerMessage::Error { in_reply_to: Some(ref t), .. } if t == "join"
    ));
    assert_eq!(w3.expect_close().await, Some(1013));
    a.expect_nothing(QUIET).await;
    b.expect_nothing(QUIET).await;

    // Letting one in makes room for the next.
    w1.key_package(b"kp-w1").await;
    assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    assert!(matches!(b.recv().await, ServerMessage::JoinRequest { .. }));
    a.commit(1, &[&w1_id]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 1 });
    assert!(matches!(b.recv().await, ServerMessage::Commit { .. }));
    assert!(matches!(w1.recv().await, ServerMessage::Welcome { .. }));
    let (_w4, _, role) = server.join("queue-room").await;
    assert_eq!(role, sotto_proto::Role::Joiner);
    b.application(b"still here").await;
    a.expect_application(&b_id, b"still here").await;
    server.stop().await.expect("clean stop");
}
