//! Spec §4.4: departures (leave, dropped socket, refused knock, timeout)
//! are announced with `left`; the longest-waiting participant becomes
//! creator when the last member leaves; an empty room is gone.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{TestServer, test_config, two_members};
use sotto_proto::{ClientMessage, LeaveReason, Role, ServerMessage};

fn left(participant: &sotto_proto::ParticipantId, reason: LeaveReason) -> ServerMessage {
    ServerMessage::Left {
        participant: participant.clone(),
        reason,
    }
}

#[tokio::test]
async fn a_clean_leave_is_announced_and_the_socket_closed() {
    let server = TestServer::start(test_config()).await;
    let ((mut a, _), (mut b, b_id)) = two_members(&server, "leave-room").await;
    b.leave().await;
    assert_eq!(b.expect_close().await, Some(1000));
    assert_eq!(a.recv().await, left(&b_id, LeaveReason::Leave));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_dropped_socket_is_announced_as_disconnect() {
    let server = TestServer::start(test_config()).await;
    let ((mut a, _), (b, b_id)) = two_members(&server, "drop-room").await;
    drop(b);
    assert_eq!(a.recv().await, left(&b_id, LeaveReason::Disconnect));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_refused_knocker_is_told_closed_and_announced() {
    let server = TestServer::start(test_config()).await;
    let ((mut a, _), (mut b, _)) = two_members(&server, "knock-room").await;
    let (mut k, k_id, role) = server.join("knock-room").await;
    assert_eq!(role, Role::Joiner);
    k.key_package(b"no admission tag").await;
    assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    assert!(matches!(b.recv().await, ServerMessage::JoinRequest { .. }));

    a.send(&ClientMessage::RefuseKnock {
        participant: k_id.clone(),
    })
    .await;
    assert_eq!(k.recv().await, ServerMessage::Refused {});
    assert_eq!(k.expect_close().await, Some(1000));
    assert_eq!(a.recv().await, left(&k_id, LeaveReason::Refused));
    assert_eq!(b.recv().await, left(&k_id, LeaveReason::Refused));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_silent_connection_times_out() {
    let mut config = test_config();
    config.timing.ping_interval = Duration::from_millis(200);
    config.timing.idle_timeout = Duration::from_secs(1);
    let server = TestServer::start(config).await;
    let (mut a, _, _) = server.join("timeout-room").await;
    // b joins and is never read again, so it never answers a ping.
    let (_b, b_id, _) = server.join("timeout-room").await;
    // a, read continuously, answers pings and stays.
    assert_eq!(a.recv().await, left(&b_id, LeaveReason::Timeout));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_longest_waiting_becomes_creator_when_the_last_member_leaves() {
    let server = TestServer::start(test_config()).await;
    let (mut a, a_id, _) = server.join("handover-room").await;
    let (mut w1, w1_id, _) = server.join("handover-room").await;
    w1.key_package(b"kp-w1").await;
    let (mut w2, w2_id, _) = server.join("handover-room").await;
    w2.key_package(b"kp-w2").await;
    for _ in 0..2 {
        assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    }

    a.leave().await;
    assert_eq!(w1.recv().await, left(&a_id, LeaveReason::Leave));
    assert_eq!(w1.recv().await, ServerMessage::BecomeCreator {});
    assert_eq!(
        w1.recv().await,
        ServerMessage::JoinRequest {
            participant: w2_id.clone(),
            key_package: b"kp-w2".to_vec()
        }
    );
    assert_eq!(w2.recv().await, left(&a_id, LeaveReason::Leave));

    // The new group starts at epoch 0.
    w1.commit(0, &[&w2_id]).await;
    assert_eq!(w1.recv().await, ServerMessage::CommitAccepted { epoch: 0 });
    assert_eq!(
        w2.recv().await,
        ServerMessage::Welcome {
            from: w1_id.clone(),
            epoch: 1,
            welcome: b"welcome".to_vec()
        }
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_empty_room_is_deleted_and_its_name_starts_over() {
    let server = TestServer::start(test_config()).await;
    let ((mut a, _), (mut b, _)) = two_members(&server, "empty-room").await;
    assert_eq!(server.metric("sotto_rooms").await, 1);
    a.leave().await;
    assert_eq!(a.expect_close().await, Some(1000));
    assert!(matches!(b.recv().await, ServerMessage::Left { .. }));
    b.leave().await;
    assert_eq!(b.expect_close().await, Some(1000));
    let deadline = tokio::time::Instant::now() + harness::PATIENCE;
    while server.metric("sotto_rooms").await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "room not deleted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_c, _, role) = server.join("empty-room").await;
    assert_eq!(role, Role::Creator, "a new room, a new group");
    server.stop().await.expect("clean stop");
}
