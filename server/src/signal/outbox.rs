//! A connection's bounded queue of outgoing messages.
//!
//! Rooms push into outboxes while they hold their lock, so a push never
//! waits: a connection whose peer does not read fills its outbox, which
//! then refuses the push. The room closes such a slow consumer (policy)
//! instead of slowing down for it (spec §2: the room is not disturbed).
//!
//! What waiting participants cause (their `join_request`s, their `left`)
//! is expendable: it is queued only while the outbox is at most half
//! full, and dropped otherwise, so that strangers knocking and leaving
//! fast cannot get a member closed whose connection is merely slow. A
//! dropped `join_request` is remembered ([`Outbox::take_missed`]) and
//! sent again once the connection has caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::extract::ws::Utf8Bytes;
use sotto_proto::{ServerMessage, encode};
use tokio::sync::{mpsc, watch};

use crate::metrics::Metrics;
use sotto_proto::delivery::Close;

/// What the writer of a connection does next.
#[derive(Debug)]
pub enum Outgoing {
    /// Send this text frame. Shared: one encoding serves a whole fan-out.
    Text(Utf8Bytes),
    /// Send a WebSocket ping.
    Ping,
    /// Send a close frame and stop.
    Close(Close),
}

/// The outbox is full: its connection does not keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// An expendable message was not queued: the outbox is over half full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

/// Sending side; cheap to clone (the room keeps one, the reader one).
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    max_messages: usize,
    /// A `join_request` was dropped and must be sent again.
    missed: Arc<AtomicBool>,
    kill: Arc<watch::Sender<bool>>,
    metrics: Arc<Metrics>,
}

/// Receiving side, for the connection's writer.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::Receiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
}

/// An outbox of at most `max_messages` messages and `max_bytes` bytes, and
/// a switch that turns true when the connection must stop at once.
pub fn channel(
    max_messages: usize,
    max_bytes: usize,
    metrics: Arc<Metrics>,
) -> (Outbox, OutboxReceiver, watch::Receiver<bool>) {
    let max_messages = max_messages.max(1);
    let (tx, rx) = mpsc::channel(max_messages);
    let (kill, killed) = watch::channel(false);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            queued_bytes: queued_bytes.clone(),
            max_bytes,
            max_messages,
            missed: Arc::default(),
            kill: Arc::new(kill),
            metrics,
        },
        OutboxReceiver { rx, queued_bytes },
        killed,
    )
}

impl Outbox {
    /// Encodes and queues `message`, counting errors for `/metrics`.
    pub fn send(&self, message: &ServerMessage) -> Result<(), Overflow> {
        self.send_encoded(message, Utf8Bytes::from(encode(message)))
    }

    /// Queues `text`, the encoding of `message`.
    pub fn send_encoded(&self, message: &ServerMessage, text: Utf8Bytes) -> Result<(), Overflow> {
        if let ServerMessage::Error { code, .. } = message {
            self.metrics.count_error(*code);
        }
        let len = text.as_str().len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return Err(Overflow);
        }
        self.tx.try_send(Outgoing::Text(text)).map_err(|_| {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            Overflow
        })
    }

    /// Queues `text`, the encoding of an expendable `message`, if the
    /// outbox is at most half full (in messages and in bytes, counting
    /// this one); else drops it. Never closes the connection.
    pub fn send_expendable(&self, message: &ServerMessage, text: Utf8Bytes) -> Result<(), Dropped> {
        if !self.has_room_for(text.as_str().len()) {
            return Err(Dropped);
        }
        self.send_encoded(message, text).map_err(|Overflow| Dropped)
    }

    /// Remembers that a `join_request` was dropped.
    pub fn mark_missed(&self) {
        self.missed.store(true, Ordering::Relaxed);
    }

    /// Whether dropped `join_request`s should be sent again now: some were
    /// dropped, and the outbox has caught up (is at most half full). Once
    /// true, false until the next [`Outbox::mark_missed`].
    pub fn take_missed(&self) -> bool {
        self.missed.load(Ordering::Relaxed)
            && self.has_room_for(0)
            && self.missed.swap(false, Ordering::Relaxed)
    }

    /// Whether `len` more bytes and one more message keep the outbox at
    /// most half full.
    fn has_room_for(&self, len: usize) -> bool {
        let queued_messages = self.max_messages - self.tx.capacity();
        let queued_bytes = self.queued_bytes.load(Ordering::Relaxed);
        queued_messages < self.max_messages / 2
            && queued_bytes.saturating_add(len) <= self.max_bytes / 2
    }

    /// Queues a ping; a full outbox skips it (the peer is not reading
    /// anyway, and the idle timeout will notice).
    pub fn ping(&self) {
        let _ = self.tx.try_send(Outgoing::Ping);
    }

    /// Queues a close after what is already queued; if the outbox is full,
    /// stops the connection at once instead.
    pub fn close(&self, close: Close) {
        if self.tx.try_send(Outgoing::Close(close)).is_err() {
            self.kill();
        }
    }

    /// Stops the connection now, dropping what is queued.
    pub fn kill(&self) {
        self.kill.send_replace(true);
    }
}

impl OutboxReceiver {
    /// The next thing to do; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let item = self.rx.recv().await?;
        if let Outgoing::Text(text) = &item {
            self.queued_bytes
                .fetch_sub(text.as_str().len(), Ordering::Relaxed);
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_proto::ErrorCode;

    #[test]
    fn a_full_outbox_refuses_instead_of_waiting() {
        let metrics = Arc::new(Metrics::default());
        let (outbox, _rx, _killed) = channel(2, 1 << 20, metrics.clone());
        let m = ServerMessage::Refused {};
        assert_eq!(outbox.send(&m), Ok(()));
        assert_eq!(outbox.send(&m), Ok(()));
        assert_eq!(outbox.send(&m), Err(Overflow));

        let (outbox, _rx, _killed) = channel(100, 40, metrics.clone());
        assert_eq!(outbox.send(&m), Ok(()), "{} bytes", encode(&m).len());
        assert_eq!(outbox.send(&m), Err(Overflow), "over the byte bound");
    }

    #[test]
    fn bytes_are_released_as_the_writer_takes_them() {
        let metrics = Arc::new(Metrics::default());
        let (outbox, mut rx, _killed) = channel(100, 40, metrics);
        let m = ServerMessage::Refused {};
        outbox.send(&m).expect("room");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert!(matches!(rt.block_on(rx.recv()), Some(Outgoing::Text(_))));
        outbox.send(&m).expect("room again");
    }

    #[test]
    fn expendable_messages_stop_at_half_and_never_kill() {
        let metrics = Arc::new(Metrics::default());
        let (outbox, mut rx, killed) = channel(8, 1 << 20, metrics);
        let m = ServerMessage::Refused {};
        let text = || Utf8Bytes::from(encode(&m));
        for _ in 0..3 {
            outbox.send_expendable(&m, text()).expect("below half");
        }
        outbox.send(&m).expect("essential: room up to the bound");
        assert_eq!(outbox.send_expendable(&m, text()), Err(Dropped));
        outbox.mark_missed();
        assert!(!outbox.take_missed(), "not caught up yet");
        for _ in 0..4 {
            outbox.send(&m).expect("essential");
        }
        assert_eq!(outbox.send_expendable(&m, text()), Err(Dropped));
        assert!(!*killed.borrow(), "dropping is not closing");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for _ in 0..5 {
            rt.block_on(rx.recv());
        }
        assert!(outbox.take_missed(), "caught up: send them again");
        assert!(!outbox.take_missed(), "once");
        outbox
            .send_expendable(&m, text())
            .expect("below half again");
    }

    #[test]
    fn errors_are_counted_and_a_close_on_a_full_outbox_kills() {
        let metrics = Arc::new(Metrics::default());
        let (outbox, _rx, killed) = channel(1, 1 << 20, metrics.clone());
        let error = ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            in_reply_to: None,
            current_epoch: None,
        };
        outbox.send(&error).expect("room");
        assert_eq!(metrics.errors(ErrorCode::RateLimited), 1);
        assert!(!*killed.borrow());
        outbox.close(Close::TooLarge);
        assert!(*killed.borrow());
    }
}
