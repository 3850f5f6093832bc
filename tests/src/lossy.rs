//! A lossy, jittery UDP path between the participants and the SFU, in
//! this process.
//!
//! The network emulator of choice would be `tc qdisc … netem` on a veth
//! pair between network namespaces, but this machine's kernel has no
//! netem (nor any qdisc but htb: `tc qdisc add … netem` fails with
//! "Specified qdisc kind is unknown", and there is no module to load).
//! So the path is made here: the SFU announces its candidate on a second
//! loopback address (127.0.0.2, same port) where this relay listens; the
//! relay forwards each participant's datagrams from a socket of its own
//! (as a NAT would) to the SFU's real address on 127.0.0.1 and back,
//! dropping some and holding each of the others for a random time: held
//! datagrams overtake each other, as with netem's jitter.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::dice::Dice;
use crate::server::TestServer;
use tokio::task::JoinHandle;

/// What the path does to each datagram, in each direction.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Share of datagrams dropped (0.05 is 5 %).
    pub loss: f64,
    /// Each datagram that is not dropped is held for a time drawn
    /// uniformly from `0..=jitter`.
    pub jitter: Duration,
}

/// Datagrams that went through, one way.
#[derive(Debug, Default)]
pub struct Counts {
    /// Forwarded.
    pub passed: AtomicU64,
    /// Dropped on purpose.
    pub dropped: AtomicU64,
}

/// The relay.
pub struct LossyPath {
    /// Where participants send (the SFU's announced candidate).
    pub front: SocketAddr,
    /// Participants to SFU.
    pub up: Arc<Counts>,
    /// SFU to participants.
    pub down: Arc<Counts>,
    switches: Arc<Switches>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl LossyPath {
    /// Listens on `front` (already bound) and relays to `back`.
    pub fn start(front: UdpSocket, back: SocketAddr, how: Impairment, seed: u64) -> LossyPath {
        let front_addr = front.local_addr().expect("bound");
        let front = Arc::new(front);
        let up = Arc::new(Counts::default());
        let down = Arc::new(Counts::default());
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let switches = Arc::new(Switches {
            outage: AtomicBool::new(false),
            impaired: AtomicBool::new(true),
        });
        let (u, d, t, sw) = (
            Arc::clone(&up),
            Arc::clone(&down),
            Arc::clone(&tasks),
            Arc::clone(&switches),
        );
        let main = tokio::spawn(async move {
            let mut dice = Dice::new(seed);
            let mut inner: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                let socket = match inner.get(&from) {
                    Some(s) => Arc::clone(s),
                    None => {
                        let Ok(s) = UdpSocket::bind((back.ip(), 0)).await else {
                            continue;
                        };
                        let s = Arc::new(s);
                        inner.insert(from, Arc::clone(&s));
                        // The way back for this participant.
                        let (front, s2, d, sw) = (
                            Arc::clone(&front),
                            Arc::clone(&s),
                            Arc::clone(&d),
                            Arc::clone(&sw),
                        );
                        let mut dice = Dice::new(dice.bits());
                        let back_task = tokio::spawn(async move {
                            let mut buf = vec![0u8; 2048];
                            while let Ok((n, src)) = s2.recv_from(&mut buf).await {
                                if src != back {
                                    continue;
                                }
                                let hold = sw.roll(&mut dice, how);
                                relay(&front, from, &buf[..n], hold, &d);
                            }
                        });
                        t.lock().expect("not poisoned").push(back_task);
                        s
                    }
                };
                let hold = sw.roll(&mut dice, how);
                relay(&socket, back, &buf[..n], hold, &u);
            }
        });
        tasks.lock().expect("not poisoned").push(main);
        LossyPath {
            front: front_addr,
            up,
            down,
            switches,
            tasks,
        }
    }

    /// While `on`, every datagram is dropped, both ways: a loss too long
    /// for retransmissions to repair.
    pub fn outage(&self, on: bool) {
        self.switches.outage.store(on, Ordering::Relaxed);
    }

    /// Whether the loss and jitter apply (from the start they do); off,
    /// datagrams pass at once (an outage still drops them).
    pub fn impair(&self, on: bool) {
        self.switches.impaired.store(on, Ordering::Relaxed);
    }
}

/// The SFU on 127.0.0.1:P announcing 127.0.0.2:P, and the lossy path on
/// 127.0.0.2:P in front of it.
pub async fn server_behind(how: Impairment, seed: u64) -> (TestServer, LossyPath) {
    for _ in 0..5 {
        let front = tokio::net::UdpSocket::bind("127.0.0.2:0")
            .await
            .expect("127.0.0.2 is loopback too");
        let port = front.local_addr().expect("bound").port();
        // The same port on 127.0.0.1 is usually free; if not, another.
        let started = TestServer::start_with(|c| {
            c.media.udp_port = port;
            c.media.public_ips = vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))];
        })
        .await;
        if let Ok(server) = started {
            let back = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            return (server, LossyPath::start(front, back, how, seed));
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2 in five tries");
}

/// Sends `data` to `to` from `socket` after `hold`, or drops it.
fn relay(
    socket: &Arc<UdpSocket>,
    to: SocketAddr,
    data: &[u8],
    hold: Option<Duration>,
    counts: &Arc<Counts>,
) {
    let Some(hold) = hold else {
        counts.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    counts.passed.fetch_add(1, Ordering::Relaxed);
    let (socket, data) = (Arc::clone(socket), data.to_vec());
    tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        let _ = socket.send_to(&data, to).await;
    });
}

impl Drop for LossyPath {
    fn drop(&mut self) {
        for t in self.tasks.lock().expect("not poisoned").drain(..) {
            t.abort();
        }
    }
}

/// What the test turns on and off while the relay runs.
struct Switches {
    outage: AtomicBool,
    impaired: AtomicBool,
}

impl Switches {
    /// `None` to drop, or how long to hold the datagram.
    fn roll(&self, dice: &mut Dice, how: Impairment) -> Option<Duration> {
        if self.outage.load(Ordering::Relaxed) {
            return None;
        }
        if !self.impaired.load(Ordering::Relaxed) {
            return Some(Duration::ZERO);
        }
        if dice.unit() < how.loss {
            return None;
        }
        Some(how.jitter.mul_f64(dice.unit()))
    }
}
