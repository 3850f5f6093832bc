//! Spec §4.3: of two commits for the same epoch exactly one wins; the
//! other author gets stale_epoch with the current epoch, and receives the
//! winner.

#[path = "support/harness.rs"]
mod harness;

use harness::{TestServer, test_config, two_members};
use sotto_proto::{ErrorCode, ServerMessage};

#[tokio::test]
async fn exactly_one_of_two_competing_commits_wins() {
    let server = TestServer::start(test_config()).await;
    let ((mut a, a_id), (mut b, b_id)) = two_members(&server, "commit-race").await;

    // Both commit for epoch 1 at once.
    tokio::join!(a.commit(1, &[]), b.commit(1, &[]));

    // Each sees either its own acceptance, or the other's commit and a
    // stale_epoch (in either order).
    let mut outcomes = Vec::new();
    for (client, other) in [(&mut a, &b_id), (&mut b, &a_id)] {
        let first = client.recv().await;
        let won = first == ServerMessage::CommitAccepted { epoch: 1 };
        if won {
            outcomes.push(true);
            continue;
        }
        let second = client.recv().await;
        let (stale, commit) = match (&first, &second) {
            (ServerMessage::Error { .. }, _) => (first.clone(), second.clone()),
            _ => (second.clone(), first.clone()),
        };
        match stale {
            ServerMessage::Error {
                code: ErrorCode::StaleEpoch,
                current_epoch,
                in_reply_to,
                ..
            } => {
                assert_eq!(current_epoch, Some(2));
                assert_eq!(in_reply_to.as_deref(), Some("commit"));
            }
            other => panic!("expected stale_epoch, got {other:?}"),
        }
        assert_eq!(
            commit,
            ServerMessage::Commit {
                from: other.clone(),
                epoch: 1,
                commit: b"commit-1".to_vec()
            }
        );
        outcomes.push(false);
    }
    assert_eq!(outcomes.iter().filter(|w| **w).count(), 1, "{outcomes:?}");

    // The room is at epoch 2: a commit for 2 wins, a replay of 1 loses.
    a.commit(2, &[]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 2 });
    assert!(matches!(
        b.recv().await,
        ServerMessage::Commit { epoch: 2, .. }
    ));
    b.commit(1, &[]).await;
    let stale = b.expect_error(ErrorCode::StaleEpoch).await;
    assert!(matches!(
        stale,
        ServerMessage::Error {
            current_epoch: Some(3),
            ..
        }
    ));
    assert_eq!(
        server
            .metric("sotto_signalling_errors_total{code=\"stale_epoch\"}")
            .await,
        2
    );
    server.stop().await.expect("clean stop");
}
