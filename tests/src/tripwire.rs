//! A relay in front of one participant's signalling WebSocket that breaks
//! the connection at the worst moment for the group: when the participant
//! sends an MLS commit (or to lose a commit on its way to it). Used to kill
//! a member mid-commit. It is the cheating relay with a hook.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sotto_proto::{ClientMessage, ServerMessage};

use crate::cheat::{CheatingSignalling, Dir};

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
    relay: CheatingSignalling,
}

impl Tripwire {
    /// Relays every WebSocket at 127.0.0.1:PORT to `ws://upstream/ws`;
    /// nothing breaks until `fuse` is armed.
    pub async fn start(upstream: SocketAddr, trip: Trip, fuse: &Fuse) -> Tripwire {
        let tripped = Arc::new(AtomicBool::new(false));
        let (fuse, t) = (fuse.clone(), Arc::clone(&tripped));
        let relay = CheatingSignalling::start(
            upstream,
            Arc::new(move |conn, dir, msg| {
                let commit = match dir {
                    Dir::Up => matches!(
                        serde_json::from_value(msg.clone()),
                        Ok(ClientMessage::Commit { .. })
                    ),
                    Dir::Down => matches!(
                        serde_json::from_value(msg.clone()),
                        Ok(ServerMessage::Commit { .. })
                    ),
                };
                let ours = match dir {
                    Dir::Up => trip != Trip::LoseRelayedCommit,
                    Dir::Down => trip == Trip::LoseRelayedCommit,
                };
                if !(commit && ours && fuse.blow()) {
                    return vec![(dir, msg)];
                }
                t.store(true, Ordering::SeqCst);
                match trip {
                    Trip::AfterCommit => {
                        conn.cut();
                        vec![(dir, msg)]
                    }
                    Trip::InsteadOfCommit => {
                        conn.cut();
                        vec![]
                    }
                    Trip::LoseRelayedCommit => vec![],
                }
            }),
        )
        .await;
        Tripwire {
            addr: relay.addr,
            tripped,
            relay,
        }
    }

    /// Whether a commit tripped it.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:PORT`, for room links.
    pub fn origin(&self) -> String {
        self.relay.origin()
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
