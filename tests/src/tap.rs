//! A relay in front of the server's signalling WebSocket that keeps every
//! message the server sent: what an operator who logs everything would
//! have. (Messages the clients send reach the others through the server,
//! so they are in there too.) It is the cheating relay with a hook that
//! records and changes nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;

use crate::cheat::{CheatingSignalling, Dir};

/// The relay.
pub struct SignallingTap {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    relay: CheatingSignalling,
}

impl SignallingTap {
    /// Relays every WebSocket at 127.0.0.1:PORT to `ws://upstream/ws`.
    pub async fn start(upstream: SocketAddr) -> SignallingTap {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let store = Arc::clone(&seen);
        let relay = CheatingSignalling::start(
            upstream,
            Arc::new(move |_, dir, msg| {
                if dir == Dir::Down {
                    store.lock().expect("not poisoned").push(msg.to_string());
                }
                vec![(dir, msg)]
            }),
        )
        .await;
        SignallingTap {
            addr: relay.addr,
            seen,
            relay,
        }
    }

    /// Breaks every connection relayed so far, without a closing
    /// handshake: both ends see their socket fail, as when a network drops.
    pub fn cut(&self) {
        self.relay.cut_all();
    }

    /// `http://127.0.0.1:PORT`, for room links.
    pub fn origin(&self) -> String {
        self.relay.origin()
    }

    /// Every message the server sent (as JSON text), and every string in
    /// them decoded from base64 (binary fields travel as base64): the
    /// bytes the server handled, to search for what it must not know.
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

fn strings_in(value: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings_in(v, f)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings_in(v, f)),
        _ => {}
    }
}
