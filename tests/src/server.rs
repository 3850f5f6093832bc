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
        TestServer::start_with(Media::sfu).await
    }

    /// [`TestServer::start`] with an SFU that forwards what `tamper` makes
    /// of each RTP packet (`sotto_server::sfu::tamper`): a cheating server.
    pub async fn start_tampering(tamper: Tamper) -> TestServer {
        TestServer::start_with(move |config| Media::sfu_tampering(config, tamper)).await
    }

    async fn start_with(
        media: impl FnOnce(&Config) -> Result<Media, sotto_server::sfu::SfuError>,
    ) -> TestServer {
        let mut config = Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ..Config::default()
        };
        config.media.udp_port = 0;
        config.media.public_ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        config.timing.shutdown_grace = Duration::from_secs(2);
        let media = media(&config).expect("the SFU starts");
        let server = Server::bind(&config, media)
            .await
            .expect("the server binds");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
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
