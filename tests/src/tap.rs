//! A relay in front of the server's signalling WebSocket that keeps every
//! message the server sent, as the server wrote it: what an operator who
//! logs everything would have. (Messages the clients send reach the
//! others through the server, so they are in there too.)

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// The relay.
pub struct SignallingTap {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    relays: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SignallingTap {
    /// Relays every WebSocket at 127.0.0.1:PORT to `ws://upstream/ws`.
    pub async fn start(upstream: SocketAddr) -> SignallingTap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let store = Arc::clone(&seen);
        let relays: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let running = Arc::clone(&relays);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                let relay = tokio::spawn(async move {
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
                            if to_server.send(m).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        while let Some(Ok(m)) = from_server.next().await {
                            if let Message::Text(t) = &m {
                                store.lock().expect("not poisoned").push(t.to_string());
                            }
                            if to_client.send(m).await.is_err() {
                                break;
                            }
                        }
                    };
                    // Either side going away ends both, as a broken
                    // connection would.
                    tokio::select! {
                        () = up => {}
                        () = down => {}
                    }
                });
                running.lock().expect("not poisoned").push(relay);
            }
        });
        SignallingTap {
            addr,
            seen,
            relays,
            task,
        }
    }

    /// Breaks every connection relayed so far, without a closing
    /// handshake: both ends see their socket fail, as when a network drops.
    pub fn cut(&self) {
        for relay in self.relays.lock().expect("not poisoned").drain(..) {
            relay.abort();
        }
    }

    /// `http://127.0.0.1:PORT`, for room links.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every message text the server sent, and every string in them
    /// decoded from base64 (binary fields travel as base64): the bytes
    /// the server handled, to search for what it must not know.
    pub fn corpus(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for text in self.seen.lock().expect("not poisoned").iter() {
            out.push(text.as_bytes().to_vec());
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
                strings_in(&value, &mut |s| {
                    for engine in [
                        &base64::engine::general_purpose::STANDARD,
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        &base64::engine::general_purpose::STANDARD_NO_PAD,
                        &base64::engine::general_purpose::URL_SAFE,
                    ] {
                        if let Ok(bytes) = engine.decode(s) {
                            out.push(bytes);
                        }
                    }
                });
            }
        }
        out
    }

    /// How many messages it saw.
    pub fn messages(&self) -> usize {
        self.seen.lock().expect("not poisoned").len()
    }
}

impl Drop for SignallingTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn strings_in(value: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings_in(v, f)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings_in(v, f)),
        _ => {}
    }
}
