//! Spec §2: the server holds at most so many signalling WebSockets, in all
//! and per client address; a handshake beyond that gets HTTP 429, and a
//! closed connection frees its place. (Per-address counting is in
//! `signal::connections`'s unit tests: every peer here is loopback, which
//! is not counted per address, as a reverse proxy on the same host is not.)

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{Client, PATIENCE, TestServer, test_config};

/// The handshake's status, and the client if it upgraded.
async fn try_connect(server: &TestServer) -> (u16, Option<Client>) {
    let url = format!("ws://{}/ws", server.addr);
    let result = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
        .await
        .expect("an answer in time");
    match result {
        Ok((ws, response)) => (response.status().as_u16(), Some(Client { ws })),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            (response.status().as_u16(), None)
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

#[tokio::test]
async fn a_websocket_beyond_the_limit_gets_429_until_one_closes() {
    let mut config = test_config();
    config.limits.max_connections = 2;
    config.limits.max_connections_per_ip = 1;
    let server = TestServer::start(config).await;

    // Two from loopback, although one address may have only one.
    let (status, first) = try_connect(&server).await;
    assert_eq!(status, 101);
    let (mut second, _, _) = server.join("limit-room").await;
    let (status, refused) = try_connect(&server).await;
    assert_eq!(status, 429);
    assert!(refused.is_none());
    // Plain HTTP is not counted.
    assert_eq!(server.get("/healthz").await.0, 200);

    // The open ones work; closing one lets the next in.
    second.leave().await;
    assert_eq!(second.expect_close().await, Some(1000));
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut third = loop {
        match try_connect(&server).await {
            (101, Some(client)) => break client,
            (429, None) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (status, _) => panic!("status {status} after a close"),
        }
    };
    third.join("limit-room").await;
    server.stop().await.expect("clean stop");
}
