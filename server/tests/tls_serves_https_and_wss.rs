//! With a certificate and key configured, the server speaks TLS itself:
//! `/healthz` over HTTPS and the signalling WebSocket over WSS, and every
//! response tells browsers to come back over HTTPS only (HSTS).

#[path = "support/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use harness::{TestServer, parse_http, test_config};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use sotto_proto::{Role, ServerMessage, decode_server};
use sotto_server::config::TlsFiles;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn connector() -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(fixture("ca.pem")).expect("ca") {
        roots.add(cert.expect("pem")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

fn tls_config() -> sotto_server::config::Config {
    let mut config = test_config();
    config.tls = Some(TlsFiles {
        cert: fixture("cert.pem"),
        key: fixture("key.pem"),
    });
    config
}

/// `GET path` over HTTPS: (status, lower-cased header block, body).
async fn https_get(server: &TestServer, path: &str) -> (u16, String, Vec<u8>) {
    let name = ServerName::try_from("localhost").expect("name");
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("tcp");
    let mut tls = connector().connect(name, tcp).await.expect("handshake");
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut response = Vec::new();
    // A peer closing without close_notify is fine for these checks.
    let _ = tls.read_to_end(&mut response).await;
    parse_http(&response)
}

#[tokio::test]
async fn every_https_response_carries_hsts() {
    let server = TestServer::start(tls_config()).await;
    for (path, expected) in [("/healthz", 200), ("/", 200), ("/no/such/page", 404)] {
        let (status, head, _) = https_get(&server, path).await;
        assert_eq!(status, expected, "{path}");
        assert!(
            head.contains("\r\nstrict-transport-security: max-age=31536000\r\n")
                || head.ends_with("\r\nstrict-transport-security: max-age=31536000"),
            "{path}: {head}"
        );
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn https_and_wss_work_with_a_configured_certificate() {
    let server = TestServer::start(tls_config()).await;
    let name = ServerName::try_from("localhost").expect("name");

    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("tcp");
    let mut tls = connector()
        .connect(name.clone(), tcp)
        .await
        .expect("handshake");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    // A peer closing without close_notify is fine for this check.
    let _ = tls.read_to_end(&mut response).await;
    let (status, _, body) = parse_http(&response);
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));

    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("tcp");
    let tls = connector().connect(name, tcp).await.expect("handshake");
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://localhost:{}/ws", server.addr.port()), tls)
            .await
            .expect("websocket over TLS");
    ws.send(Message::text(r#"{"v":1,"type":"join","room":"tls-room"}"#))
        .await
        .expect("send");
    let joined = loop {
        match ws.next().await.expect("a frame").expect("ok") {
            Message::Text(text) => break decode_server(text.as_str()).expect("decodes"),
            _ => continue,
        }
    };
    assert!(matches!(
        joined,
        ServerMessage::Joined {
            role: Role::Creator,
            ..
        }
    ));
    server.stop().await.expect("clean stop");
}
