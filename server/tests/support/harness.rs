//! A real server on 127.0.0.1:0 and raw WebSocket clients for it.
//! Included by each test file with `#[path = "support/harness.rs"] mod harness;`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sotto_proto::{
    ClientMessage, ErrorCode, ParticipantId, Role, RoomName, ServerMessage, decode_server, encode,
};
use sotto_server::config::Config;
use sotto_server::server::{Media, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A config for tests: an ephemeral port and short timers.
pub fn test_config() -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Config::default()
    };
    config.timing.shutdown_grace = Duration::from_secs(2);
    config
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Where `/metrics` is, when it has a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        TestServer::start_with_media(config, Media::none()).await
    }

    pub async fn start_with_media(config: Config, media: Media) -> TestServer {
        let server = Server::bind(&config, media).await.expect("bind");
        let addr = server.local_addr();
        let metrics_addr = server.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn connect(&self) -> Client {
        let url = format!("ws://{}/ws", self.addr);
        let (ws, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Client { ws }
    }

    /// Connects and joins `room`; returns the client, its id and role.
    pub async fn join(&self, room: &str) -> (Client, ParticipantId, Role) {
        let mut client = self.connect().await;
        let (id, role) = client.join(room).await;
        (client, id, role)
    }

    /// `GET path` over HTTP/1.1: (status, lower-cased header block, body).
    pub async fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    pub async fn request(&self, raw: &str) -> (u16, String, Vec<u8>) {
        request_at(self.addr, raw).await
    }

    /// The value of one metric line, e.g. `sotto_rooms` or
    /// `sotto_signalling_errors_total{code="bad_message"}`, from wherever
    /// `/metrics` is served.
    pub async fn metric(&self, series: &str) -> u64 {
        let (status, _, body) = get_at(self.metrics_addr.unwrap_or(self.addr), "/metrics").await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).expect("utf-8");
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .expect("a number")
    }

    /// Stops the server as SIGTERM would, and waits for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("stops in time")
            .expect("no panic")
    }
}

/// `GET path` over HTTP/1.1 at `addr`.
pub async fn get_at(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    request_at(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// A raw HTTP/1.1 request to `addr`, read to its end.
pub async fn request_at(addr: SocketAddr, raw: &str) -> (u16, String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.expect("tcp");
    tcp.write_all(raw.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    parse_http(&response)
}

pub fn parse_http(response: &[u8]) -> (u16, String, Vec<u8>) {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head, response[split + 4..].to_vec())
}

/// A raw signalling client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What came from the server.
#[derive(Debug)]
pub enum Received {
    Message(ServerMessage),
    Closed(Option<u16>),
}

impl Client {
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send(&mut self, message: &ClientMessage) {
        self.send_text(&encode(message)).await;
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send");
    }

    /// The next message or close, skipping pings and pongs.
    pub async fn next(&mut self) -> Received {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("something arrives in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message = decode_server(text.as_str())
                        .unwrap_or_else(|e| panic!("server sent {text}: {e}"));
                    return Received::Message(message);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Received::Closed(frame.map(|f: CloseFrame| u16::from(f.code)));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
                Some(Err(_)) | None => return Received::Closed(None),
            }
        }
    }

    pub async fn recv(&mut self) -> ServerMessage {
        match self.next().await {
            Received::Message(m) => m,
            Received::Closed(code) => panic!("closed ({code:?}) while waiting for a message"),
        }
    }

    /// Expects an error with `code`; returns the whole message.
    pub async fn expect_error(&mut self, code: ErrorCode) -> ServerMessage {
        let message = self.recv().await;
        match &message {
            ServerMessage::Error { code: got, .. } if *got == code => message,
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Expects the connection to close; returns the close code.
    pub async fn expect_close(&mut self) -> Option<u16> {
        match self.next().await {
            Received::Closed(code) => code,
            Received::Message(m) => panic!("expected a close, got {m:?}"),
        }
    }

    /// Asserts nothing but pings arrives for `quiet`.
    pub async fn expect_nothing(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected nothing, got {other:?}"),
            }
        }
    }

    pub async fn join(&mut self, room: &str) -> (ParticipantId, Role) {
        let room = RoomName::parse(room).expect("valid room name");
        self.send(&ClientMessage::Join { room }).await;
        match self.recv().await {
            ServerMessage::Joined {
                participant, role, ..
            } => (participant, role),
            other => panic!("expected joined, got {other:?}"),
        }
    }

    pub async fn key_package(&mut self, kp: &[u8]) {
        self.send(&ClientMessage::KeyPackage {
            key_package: kp.to_vec(),
        })
        .await;
    }

    pub async fn commit(&mut self, epoch: u64, welcome_to: &[&ParticipantId]) {
        self.send(&ClientMessage::Commit {
            epoch,
            commit: format!("commit-{epoch}").into_bytes(),
            welcome: (!welcome_to.is_empty()).then(|| b"welcome".to_vec()),
            welcome_to: welcome_to.iter().map(|p| (*p).clone()).collect(),
        })
        .await;
    }

    /// Sends an application message and returns nothing; see
    /// [`Client::expect_application`].
    pub async fn application(&mut self, data: &[u8]) {
        self.send(&ClientMessage::Application {
            data: data.to_vec(),
        })
        .await;
    }

    pub async fn expect_application(&mut self, from: &ParticipantId, data: &[u8]) {
        assert_eq!(
            self.recv().await,
            ServerMessage::Application {
                from: from.clone(),
                data: data.to_vec()
            }
        );
    }

    pub async fn leave(&mut self) {
        self.send(&ClientMessage::Leave {}).await;
    }
}

/// A room with a creator `a` and a member `b` admitted by a commit, at
/// epoch 1.
pub async fn two_members(
    server: &TestServer,
    room: &str,
) -> ((Client, ParticipantId), (Client, ParticipantId)) {
    let (mut a, a_id, role) = server.join(room).await;
    assert_eq!(role, Role::Creator);
    let (mut b, b_id, role) = server.join(room).await;
    assert_eq!(role, Role::Joiner);
    b.key_package(b"kp-b").await;
    assert!(matches!(a.recv().await, ServerMessage::JoinRequest { .. }));
    a.commit(0, &[&b_id]).await;
    assert_eq!(a.recv().await, ServerMessage::CommitAccepted { epoch: 0 });
    assert!(matches!(
        b.recv().await,
        ServerMessage::Welcome { epoch: 1, .. }
    ));
    ((a, a_id), (b, b_id))
}

impl Client {
    /// Sends without panicking if the server already closed.
    pub async fn ws_send_quietly(
        &mut self,
        message: &ClientMessage,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.ws.send(Message::text(encode(message))).await
    }
}

impl Client {
    /// Every message that arrives until `quiet` passes without one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<ServerMessage> {
        let mut messages = Vec::new();
        loop {
            match tokio::time::timeout(quiet, self.ws.next()).await {
                Err(_) => return messages,
                Ok(Some(Ok(Message::Text(text)))) => messages
                    .push(decode_server(text.as_str()).unwrap_or_else(|e| panic!("{text}: {e}"))),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected messages, got {other:?}"),
            }
        }
    }
}
