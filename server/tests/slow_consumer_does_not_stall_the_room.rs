//! A participant whose WebSocket never reads must not slow down its room:
//! its bounded outbox fills, it is closed (policy), and the others keep
//! receiving everything, in order, in bounded time.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{TestServer, test_config, two_members};
use sotto_proto::{LeaveReason, ServerMessage};

#[tokio::test]
async fn a_websocket_that_never_reads_does_not_stall_the_others() {
    let mut config = test_config();
    config.limits.messages_per_second = 10_000;
    config.limits.max_message_bytes = 128 * 1024;
    config.timing.outbox_bytes = 512 * 1024;
    config.timing.outbox_messages = 64;
    let server = TestServer::start(config).await;
    let ((mut a, a_id), (mut b, b_id)) = two_members(&server, "slow-room").await;

    // s becomes a member, then never reads again.
    let (mut s, s_id, _) = server.join("slow-room").await;
    s.key_package(b"kp-s").await;
    assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    assert!(matches!(b.recv().await, ServerMessage::JoinRequest { .. }));
    a.commit(1, &[&s_id]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 1 });
    assert!(matches!(b.recv().await, ServerMessage::Commit { .. }));
    let _never_read = s;

    // a sends 64 KB application messages (87 KB of base64), up to 400
    // (35 MB): far more
    // than loopback socket buffers plus the outbox hold. b reads each one,
    // in order; at some point the server gives up on s.
    let payload = |i: u32| {
        let mut data = vec![(i % 251) as u8; 64 * 1024];
        data[..4].copy_from_slice(&i.to_be_bytes());
        data
    };
    let run = async {
        let mut s_gone = false;
        for i in 0..400u32 {
            a.application(&payload(i)).await;
            loop {
                match b.recv().await {
                    ServerMessage::Application { from, data } => {
                        assert_eq!(from, a_id);
                        assert_eq!(data, payload(i), "message {i} in order");
                        break;
                    }
                    ServerMessage::Left {
                        participant,
                        reason,
                    } => {
                        assert_eq!(participant, s_id);
                        assert_eq!(reason, LeaveReason::Policy);
                        s_gone = true;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            if s_gone {
                return i;
            }
        }
        panic!("the slow consumer was never closed");
    };
    let sent = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the room kept moving");
    assert!(sent > 0);
    // a heard of it too (after its own relays), and the room goes on.
    assert_eq!(
        a.recv().await,
        ServerMessage::Left {
            participant: s_id.clone(),
            reason: LeaveReason::Policy
        }
    );
    b.application(b"after").await;
    a.expect_application(&b_id, b"after").await;
    server.stop().await.expect("clean stop");
}
