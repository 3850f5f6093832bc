//! A browser page from another site cannot open the signalling WebSocket:
//! a handshake whose `Origin` is not this server's is refused with 403;
//! the server's own pages (same host, any scheme) and clients that send
//! no `Origin` (the native client) get through.

#[path = "support/harness.rs"]
mod harness;

use harness::{PATIENCE, TestServer, test_config};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The handshake's HTTP status with this `Origin` (none if `None`).
async fn handshake(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .expect("request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).expect("header"));
    }
    let result = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("an answer in time");
    match result {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_the_own_origin_or_none_upgrades() {
    let server = TestServer::start(test_config()).await;
    let own = format!("http://{}", server.addr);
    let own_behind_tls = format!("https://{}", server.addr);
    assert_eq!(handshake(&server, None).await, 101, "no Origin");
    assert_eq!(handshake(&server, Some(&own)).await, 101, "{own}");
    assert_eq!(
        handshake(&server, Some(&own_behind_tls)).await,
        101,
        "{own_behind_tls}"
    );
    for foreign in [
        "https://evil.example",
        "http://localhost:1",
        "null",
        &format!("http://{}.evil.example", server.addr.ip()),
    ] {
        assert_eq!(handshake(&server, Some(foreign)).await, 403, "{foreign}");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn configured_public_origins_are_the_only_foreign_ones_allowed() {
    let mut config = test_config();
    config.public_origins = vec!["https://call.example".into()];
    let server = TestServer::start(config).await;
    assert_eq!(handshake(&server, Some("https://call.example")).await, 101);
    assert_eq!(handshake(&server, None).await, 101);
    // The Host header no longer decides (a proxy may rewrite it).
    let own = format!("http://{}", server.addr);
    assert_eq!(handshake(&server, Some(&own)).await, 403);
    assert_eq!(handshake(&server, Some("https://evil.example")).await, 403);
    server.stop().await.expect("clean stop");
}
