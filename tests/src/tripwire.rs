//! A relay in front of one participant's signalling WebSocket that breaks
//! the connection at the worst moment for the group: when the participant
//! sends an MLS commit. Used to kill a member mid-commit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sotto_proto::{ClientMessage, ServerMessage};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Where the connection breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trip {
    /// The commit reaches the server, then the connection breaks: the
    /// author never hears whether it won and never merges it.
    AfterCommit,
    /// The connection breaks instead of the commit: it never reaches the
    /// server, and the others wait for it in vain.
    InsteadOfCommit,
    /// Nothing breaks: the next commit the server relays *to* the
    /// participant is lost on the way, and the connection goes on. The
    /// participant has missed an epoch for good.
    LoseRelayedCommit,
}

/// Shared by several wires: once armed, the first commit through any of
/// them trips that one, and the fuse is spent (one death, not a cascade of
/// the members who commit the removal).
#[derive(Debug, Clone, Default)]
pub struct Fuse(Arc<AtomicBool>);

impl Fuse {
    /// From now on, the next commit through a wire on this fuse trips it.
    pub fn arm(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Spends the fuse if it is armed; whether it was.
    fn blow(&self) -> bool {
        self.0
            .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// The relay.
pub struct Tripwire {
    /// Where the participant connects instead of the server.
    pub addr: SocketAddr,
    tripped: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Tripwire {
    /// Relays every WebSocket at 127.0.0.1:PORT to `ws://upstream/ws`;
    /// nothing breaks until `fuse` is armed.
    pub async fn start(upstream: SocketAddr, trip: Trip, fuse: &Fuse) -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let tripped = Arc::new(AtomicBool::new(false));
        let (a, t) = (fuse.clone(), Arc::clone(&tripped));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (fuse, tripped) = (a.clone(), Arc::clone(&t));
                tokio::spawn(async move {
                    let Ok(client) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let Ok((server, _)) =
                        tokio_tungstenite::connect_async(format!("ws://{upstream}/ws")).await
                    else {
                        return;
                    };
                    let (mut to_client, mut from_client) = client.split();
                    let (mut to_server, mut from_server) = server.split();
                    let up = async {
                        while let Some(Ok(m)) = from_client.next().await {
                            let commit = matches!(&m, Message::Text(t)
                                if matches!(serde_json::from_str(t), Ok(ClientMessage::Commit { .. })));
                            if commit && trip != Trip::LoseRelayedCommit && fuse.blow() {
                                if trip == Trip::AfterCommit {
                                    let _ = to_server.send(m).await;
                                    let _ = to_server.flush().await;
                                }
                                tripped.store(true, Ordering::SeqCst);
                                return;
                            }
                            if to_server.send(m).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = async {
                        while let Some(Ok(m)) = from_server.next().await {
                            let commit = matches!(&m, Message::Text(t)
                                if matches!(serde_json::from_str(t), Ok(ServerMessage::Commit { .. })));
                            if commit && trip == Trip::LoseRelayedCommit && fuse.blow() {
                                tripped.store(true, Ordering::SeqCst);
                                continue;
                            }
                            if to_client.send(m).await.is_err() {
                                break;
                            }
                        }
                    };
                    // Either side ending drops both sockets without a
                    // closing handshake, as a killed process would.
                    tokio::select! {
                        () = up => {}
                        () = down => {}
                    }
                });
            }
        });
        Tripwire {
            addr,
            tripped,
            task,
        }
    }

    /// Whether a commit tripped it.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:PORT`, for room links.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Tripwire {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until one of `wires` trips and returns its index, or fails the
/// test after `patience`.
pub async fn first_tripped(wires: &[Tripwire], patience: Duration) -> usize {
    let start = tokio::time::Instant::now();
    loop {
        if let Some(i) = wires.iter().position(Tripwire::tripped) {
            return i;
        }
        assert!(
            start.elapsed() < patience,
            "no commit tripped a wire within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
