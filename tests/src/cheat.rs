//! A cheating signalling server: a relay in front of the real server's
//! WebSocket that hands every message, in both directions, to a test's
//! tamper function, which says what to relay instead (nothing, the
//! message changed, more messages, or messages the other way). The test
//! may also inject messages on any connection at any time, and break a
//! connection as a dying network or process would. The tests' other
//! signalling relays are this one with a hook: `tap` records,
//! `tripwire` breaks a connection on a commit.
//!
//! With [`TestServer::start_tampering`](crate::server::TestServer) for
//! the media path, this is the operator of `spec/threat-model.md` in
//! full: it controls everything the participants receive.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From a participant to the server.
    Up,
    /// From the server to a participant.
    Down,
}

/// One relayed connection, as the tamper function sees it.
#[derive(Debug, Clone)]
pub struct Conn {
    /// Connections are numbered from 0 in the order they arrive.
    pub index: usize,
    /// The participant id the server gave it, once `joined` went down.
    pub participant: Option<String>,
    cut: Arc<AtomicBool>,
}

impl Conn {
    /// Breaks this connection once what the tamper function returns now
    /// has gone out: both sockets are dropped without a closing
    /// handshake, as when a network or a process dies.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// What the relay's writers are given.
enum Item {
    Message(Value),
    /// Stop here, without a closing handshake.
    Cut,
}

/// What to relay instead of one message: each `(Dir, message)` goes up to
/// the server or down to the participant on the same connection.
pub type Tamper = Arc<dyn Fn(&Conn, Dir, Value) -> Vec<(Dir, Value)> + Send + Sync>;

/// A tamper function that relays everything unchanged.
pub fn honest() -> Tamper {
    Arc::new(|_, dir, msg| vec![(dir, msg)])
}

struct Link {
    conn: Arc<Mutex<Conn>>,
    up: mpsc::UnboundedSender<Item>,
    down: mpsc::UnboundedSender<Item>,
}

/// The relay.
pub struct CheatingSignalling {
    /// Where participants connect instead of the server.
    pub addr: SocketAddr,
    links: Arc<Mutex<Vec<Link>>>,
    task: tokio::task::JoinHandle<()>,
    relays: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CheatingSignalling {
    /// Relays every WebSocket at 127.0.0.1:PORT to `ws://upstream/ws`
    /// through `tamper`.
    pub async fn start(upstream: SocketAddr, tamper: Tamper) -> CheatingSignalling {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let links: Arc<Mutex<Vec<Link>>> = Arc::default();
        let relays: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (all_links, all_relays) = (Arc::clone(&links), Arc::clone(&relays));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (up_tx, up_rx) = mpsc::unbounded_channel();
                let (down_tx, down_rx) = mpsc::unbounded_channel();
                let conn = {
                    let mut links = all_links.lock().expect("not poisoned");
                    let conn = Arc::new(Mutex::new(Conn {
                        index: links.len(),
                        participant: None,
                        cut: Arc::default(),
                    }));
                    links.push(Link {
                        conn: Arc::clone(&conn),
                        up: up_tx.clone(),
                        down: down_tx.clone(),
                    });
                    conn
                };
                let tamper = Arc::clone(&tamper);
                let relay = tokio::spawn(relay(
                    tcp,
                    upstream,
                    conn,
                    tamper,
                    (up_tx, up_rx),
                    (down_tx, down_rx),
                ));
                all_relays.lock().expect("not poisoned").push(relay);
            }
        });
        CheatingSignalling {
            addr,
            links,
            task,
            relays,
        }
    }

    /// `http://127.0.0.1:PORT`, for room links.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections have arrived so far.
    pub fn connections(&self) -> usize {
        self.links.lock().expect("not poisoned").len()
    }

    /// Sends `message` on the connection of `participant`, untampered.
    /// Returns whether there is such a connection.
    pub fn inject(&self, participant: &str, dir: Dir, message: Value) -> bool {
        let links = self.links.lock().expect("not poisoned");
        let Some(link) = links.iter().find(|l| {
            l.conn.lock().expect("not poisoned").participant.as_deref() == Some(participant)
        }) else {
            return false;
        };
        let item = Item::Message(message);
        match dir {
            Dir::Up => link.up.send(item).is_ok(),
            Dir::Down => link.down.send(item).is_ok(),
        }
    }

    /// Breaks every connection relayed so far, without a closing
    /// handshake: both ends see their socket fail, as when a network
    /// drops.
    pub fn cut_all(&self) {
        for relay in self.relays.lock().expect("not poisoned").drain(..) {
            relay.abort();
        }
    }
}

impl Drop for CheatingSignalling {
    fn drop(&mut self) {
        self.task.abort();
        for r in self.relays.lock().expect("not poisoned").drain(..) {
            r.abort();
        }
    }
}

type Queue = (mpsc::UnboundedSender<Item>, mpsc::UnboundedReceiver<Item>);

/// Relays one connection until either side goes away.
async fn relay(
    tcp: tokio::net::TcpStream,
    upstream: SocketAddr,
    conn: Arc<Mutex<Conn>>,
    tamper: Tamper,
    (up_tx, mut up_rx): Queue,
    (down_tx, mut down_rx): Queue,
) {
    let Ok(client) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let Ok((server, _)) = tokio_tungstenite::connect_async(format!("ws://{upstream}/ws")).await
    else {
        return;
    };
    let (mut to_client, mut from_client) = client.split();
    let (mut to_server, mut from_server) = server.split();
    // Everything a tamper function returns goes through these queues, so
    // that injected and relayed messages keep one order per direction.
    let dispatch = |dir: Dir, msg: Value| {
        let seen = conn.lock().expect("not poisoned").clone();
        for (d, m) in tamper(&seen, dir, msg) {
            let _ = match d {
                Dir::Up => up_tx.send(Item::Message(m)),
                Dir::Down => down_tx.send(Item::Message(m)),
            };
        }
        if seen.cut.load(Ordering::SeqCst) {
            let _ = up_tx.send(Item::Cut);
            let _ = down_tx.send(Item::Cut);
        }
    };
    let read_client = async {
        while let Some(Ok(m)) = from_client.next().await {
            match m {
                Message::Text(t) => match serde_json::from_str::<Value>(&t) {
                    Ok(v) => dispatch(Dir::Up, v),
                    Err(_) => {
                        let _ = up_tx.send(Item::Message(Value::String(t.to_string())));
                    }
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let read_server = async {
        while let Some(Ok(m)) = from_server.next().await {
            match m {
                Message::Text(t) => match serde_json::from_str::<Value>(&t) {
                    Ok(v) => {
                        if v["type"] == "joined"
                            && let Some(p) = v["participant"].as_str()
                        {
                            conn.lock().expect("not poisoned").participant = Some(p.to_owned());
                        }
                        dispatch(Dir::Down, v);
                    }
                    Err(_) => {
                        let _ = down_tx.send(Item::Message(Value::String(t.to_string())));
                    }
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let write_server = async {
        while let Some(Item::Message(v)) = up_rx.recv().await {
            if to_server.send(Message::text(text_of(v))).await.is_err() {
                break;
            }
        }
    };
    let write_client = async {
        while let Some(Item::Message(v)) = down_rx.recv().await {
            if to_client.send(Message::text(text_of(v))).await.is_err() {
                break;
            }
        }
    };
    // Either side going away (or a cut) ends both.
    tokio::select! {
        () = read_client => {}
        () = read_server => {}
        () = write_server => {}
        () = write_client => {}
    }
    // What was queued before the end still goes out (a `refused` just
    // before the server closes, say, or the commit a cut follows).
    while let Ok(Item::Message(v)) = down_rx.try_recv() {
        if to_client.send(Message::text(text_of(v))).await.is_err() {
            break;
        }
    }
    while let Ok(Item::Message(v)) = up_rx.try_recv() {
        if to_server.send(Message::text(text_of(v))).await.is_err() {
            break;
        }
    }
    if conn
        .lock()
        .expect("not poisoned")
        .cut
        .load(Ordering::SeqCst)
    {
        let _ = to_server.flush().await;
        let _ = to_client.flush().await;
        return;
    }
    let _ = to_server.close().await;
    let _ = to_client.close().await;
}

/// A message as text: JSON, or a string relayed as it came.
fn text_of(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// What the operator can make on its own, without the link's secret.
pub mod forge {
    use base64::Engine;
    use sotto_crypto::ParticipantId as MlsId;
    use sotto_crypto::admission::RoomSecret;
    use sotto_crypto::identity::Identity;
    use sotto_crypto::session::{Event, Output, Session, SessionConfig};
    use sotto_crypto::verify::Fingerprint;

    /// A participant id the server never gave anyone.
    pub const GHOST: &str = "Gh0stGh0stGh0st0";

    /// Standard base64, as signalling carries MLS messages.
    pub fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Decodes a base64 field.
    pub fn unb64(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64 from the server")
    }

    /// A KeyPackage for `participant` in `room`, under a signature key of
    /// the server's own, with an admission tag made from `secret` (a guess:
    /// the server does not have the room's): base64, and the fingerprint
    /// members will see.
    pub fn key_package(
        participant: &str,
        room: &str,
        secret: Option<&RoomSecret>,
    ) -> (String, Fingerprint) {
        let identity = Identity::generate().expect("randomness");
        let mut session = Session::join(
            SessionConfig::default(),
            &identity,
            MlsId::new(participant).expect("a valid id"),
            room,
            secret,
        )
        .expect("a session");
        match session.poll_output() {
            Some(Output::KeyPackage(kp)) => (b64(&kp), identity.fingerprint()),
            other => panic!("expected a KeyPackage, got {other:?}"),
        }
    }

    /// A Welcome into a group the server made itself (with a secret of its
    /// own: it does not have the room's), adding the KeyPackage `kp` of
    /// `joiner`. The creator's id is `GHOST`.
    pub fn ghost_welcome(room: &str, joiner: &str, kp: &[u8]) -> Vec<u8> {
        use sotto_crypto::Instant;
        let identity = Identity::generate().expect("randomness");
        let mut group = Session::create(
            SessionConfig::default(),
            &identity,
            MlsId::new(GHOST).expect("a valid id"),
            room,
            &RoomSecret::generate().expect("randomness"),
            Instant::ZERO,
        )
        .expect("a group");
        let joiner = MlsId::new(joiner).expect("a valid id");
        group
            .handle_join_request(joiner.clone(), kp, Instant::ZERO)
            .expect("a KeyPackage");
        // Under the server's secret the joiner's tag does not verify: it
        // is a knock, which the server's own member accepts.
        while let Some(e) = group.poll_event() {
            if let Event::Knock { fingerprint, .. } = e {
                group
                    .accept_knock(&joiner, &fingerprint, Instant::ZERO)
                    .expect("a waiting knock");
            }
        }
        for t in 1..=20 {
            group.tick(Instant::from_millis(500 * t)).expect("tick");
            while let Some(out) = group.poll_output() {
                if let Output::Commit(c) = out
                    && let Some(w) = c.welcome
                {
                    return w;
                }
            }
        }
        panic!("the server's group never committed the joiner")
    }
}
