//! The real server, in this process, on 127.0.0.1 with ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use sotto_crypto::admission::RoomSecret;
use sotto_proto::RoomLink;
use sotto_server::config::Config;
use sotto_server::server::{Media, Server};
use sotto_server::sfu::tamper::Tamper;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server with its SFU.
pub struct TestServer {
    /// Where signalling listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts signalling on 127.0.0.1:0 and the SFU on another ephemeral
    /// UDP port of 127.0.0.1, as the binary does (`Media::sfu`).
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {})
            .await
            .expect("the server starts")
    }

    /// Starts signalling on `listen` (an address of a server that was
    /// stopped, to restart it where its participants look for it); the
    /// SFU on an ephemeral UDP port of the same host.
    pub async fn start_on(listen: SocketAddr) -> TestServer {
        TestServer::start_with(|c| c.listen = listen)
            .await
            .expect("the server starts")
    }

    /// [`TestServer::start`] with an SFU that forwards what `tamper` makes
    /// of each RTP packet (`sotto_server::sfu::tamper`): a cheating server.
    pub async fn start_tampering(tamper: Tamper) -> TestServer {
        TestServer::launch(|_| {}, move |config| Media::sfu_tampering(config, tamper))
            .await
            .expect("the server starts")
    }

    /// Starts with the configuration of [`start`](Self::start) changed by
    /// `adjust`; says why if it cannot.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Result<TestServer, String> {
        TestServer::launch(adjust, Media::sfu).await
    }

    async fn launch(
        adjust: impl FnOnce(&mut Config),
        media: impl FnOnce(&Config) -> Result<Media, sotto_server::sfu::SfuError>,
    ) -> Result<TestServer, String> {
        let mut config = Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ..Config::default()
        };
        config.media.udp_port = 0;
        config.media.public_ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        config.timing.shutdown_grace = Duration::from_secs(2);
        adjust(&mut config);
        let media = media(&config).map_err(|e| e.to_string())?;
        let server = Server::bind(&config, media)
            .await
            .map_err(|e| e.to_string())?;
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The server's `/metrics` text.
    pub async fn metrics(&self) -> String {
        metrics_at(self.addr).await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A fresh room at `origin`: its full link and the same link without the
/// secret (for knocking).
pub fn new_room(origin: &str, name: &str) -> (RoomLink, RoomLink) {
    let secret = RoomSecret::generate().expect("randomness");
    let full = RoomLink::parse(&format!(
        "{origin}/{name}#{}",
        secret.to_fragment().as_str()
    ))
    .expect("a valid link");
    let bare = RoomLink {
        secret: None,
        ..full.clone()
    };
    (full, bare)
}

/// The value of the sample `name` (with its labels, as written) in a
/// Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The `/metrics` text of the server whose signalling is at `addr`.
pub async fn metrics_at(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect for /metrics");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut response))
        .await
        .expect("/metrics answers in time")
        .expect("read /metrics");
    response
}
