//! Spec §4.1 over a real WebSocket: creator, joiner's key package relayed
//! as join_request, the commit that welcomes it, and the replay of pending
//! join requests to the new member.

#[path = "support/harness.rs"]
mod harness;

use harness::{TestServer, test_config};
use sotto_proto::{Role, ServerMessage};

#[tokio::test]
async fn a_joiner_is_announced_committed_and_welcomed() {
    let server = TestServer::start(test_config()).await;
    let (mut a, a_id, role) = server.join("join-flow").await;
    assert_eq!(role, Role::Creator);

    let (mut b, b_id, role) = server.join("join-flow").await;
    assert_eq!(role, Role::Joiner);
    b.key_package(b"kp-b").await;
    assert_eq!(
        a.recv().await,
        ServerMessage::JoinRequest {
            participant: b_id.clone(),
            key_package: b"kp-b".to_vec()
        }
    );

    // c waits with a key package while b is being admitted.
    let (mut c, c_id, _) = server.join("join-flow").await;
    c.key_package(b"kp-c").await;
    assert_eq!(
        a.recv().await,
        ServerMessage::JoinRequest {
            participant: c_id.clone(),
            key_package: b"kp-c".to_vec()
        }
    );

    a.commit(0, &[&b_id]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 0 });
    assert_eq!(
        b.recv().await,
        ServerMessage::Welcome {
            from: a_id.clone(),
            epoch: 1,
            welcome: b"welcome".to_vec()
        }
    );
    // Right after its welcome, b hears of c, still waiting.
    assert_eq!(
        b.recv().await,
        ServerMessage::JoinRequest {
            participant: c_id.clone(),
            key_package: b"kp-c".to_vec()
        }
    );

    // b commits c at epoch 1: a gets the commit, c the welcome.
    b.commit(1, &[&c_id]).await;
    assert_eq!(b.recv().await, ServerMessage::CommitAccepted { epoch: 1 });
    assert_eq!(
        a.recv().await,
        ServerMessage::Commit {
            from: b_id.clone(),
            epoch: 1,
            commit: b"commit-1".to_vec()
        }
    );
    assert_eq!(
        c.recv().await,
        ServerMessage::Welcome {
            from: b_id.clone(),
            epoch: 2,
            welcome: b"welcome".to_vec()
        }
    );

    // Application messages reach every other member, unchanged.
    c.application(b"opaque mls bytes").await;
    a.expect_application(&c_id, b"opaque mls bytes").await;
    b.expect_application(&c_id, b"opaque mls bytes").await;

    assert_eq!(
        server.metric("sotto_participants{state=\"member\"}").await,
        3
    );
    server.stop().await.expect("clean stop");
}
