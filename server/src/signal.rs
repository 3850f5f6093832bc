//! The signalling WebSocket (spec §2): one reader and one writer task per
//! connection, thin around [`Rooms`].
//!
//! The reader enforces what belongs to a connection (rate, size, version,
//! `join` first, liveness) and hands decoded messages to the room; the
//! writer drains the connection's bounded [`outbox::Outbox`]. A peer that
//! stops reading only fills its own outbox, and is closed when it is full.

pub mod connections;
pub mod outbox;
mod rate;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use sotto_proto::{
    ClientMessage, ErrorCode, LeaveReason, ParticipantId, ServerMessage, decode_client,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use crate::config::{ServerLimits, Timing};
use crate::log_tag::LogTag;
use crate::rooms::{LiveRoom, Rooms};
use outbox::{Outbox, OutboxReceiver, Outgoing};
use rate::{FloodMeter, TokenBucket};
use sotto_proto::delivery::{Close, Input};

/// How long a closing connection waits for the peer's close frame, so
/// that unread input does not turn the close into a reset.
const LINGER: Duration = Duration::from_secs(1);

/// What all signalling connections share.
pub struct Signalling {
    /// The rooms.
    pub rooms: Arc<Rooms>,
    /// Limits (spec §2).
    pub limits: ServerLimits,
    /// Timers and buffers.
    pub timing: Timing,
    /// Turns true when the server begins to shut down.
    pub stopping: watch::Receiver<bool>,
    /// How many connections are open; shutdown waits for 0.
    pub open: watch::Sender<usize>,
    /// The limits on open connections, in all and per address.
    pub connections: Arc<connections::Connections>,
}

impl Signalling {
    /// The hard cap on one WebSocket message: above it the connection is
    /// closed with 1009 (spec §2).
    pub fn hard_message_cap(&self) -> usize {
        self.limits.max_message_bytes.saturating_mul(4)
    }
}

/// Counts an open connection while alive.
struct OpenGuard(watch::Sender<usize>);

impl OpenGuard {
    fn new(open: &watch::Sender<usize>) -> OpenGuard {
        open.send_modify(|n| *n += 1);
        OpenGuard(open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A fresh participant id: 12 random bytes, base64url (spec §1).
pub fn random_participant_id() -> ParticipantId {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    // 16 base64url characters: always a valid id.
    ParticipantId::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
        .expect("base64url of 12 bytes is a participant id")
}

/// Serves one upgraded WebSocket until it closes.
pub async fn serve(socket: WebSocket, shared: Arc<Signalling>) {
    let _open = OpenGuard::new(&shared.open);
    let (sink, mut stream) = socket.split();
    let t = shared.timing;
    let (outbox, receiver, killed) = outbox::channel(
        t.outbox_messages,
        t.outbox_bytes,
        shared.rooms.metrics().clone(),
    );
    let mut writer = tokio::spawn(write(sink, receiver, killed.clone()));
    let id = random_participant_id();
    let now = Instant::now().into_std();
    let rate = shared.limits.messages_per_second;
    let mut connection = Connection {
        tag: LogTag::participant(&id),
        id,
        bucket: TokenBucket::new(rate, rate.saturating_mul(2), now),
        flood: FloodMeter::new(t.flood_drops, t.flood_window),
        room: None,
        outbox,
        told_stopping: false,
        shared,
    };
    tracing::debug!(participant = %connection.tag, "connection opened");
    let mut writer_done = false;
    let reason = connection
        .read(&mut stream, &mut writer, &mut writer_done, killed)
        .await;
    tracing::debug!(participant = %connection.tag, ?reason, "connection closing");
    if let Some(room) = connection.room.take() {
        connection.shared.rooms.step(
            &room,
            Input::Departed {
                participant: connection.id.clone(),
                reason,
            },
        );
    }
    let grace = connection.shared.timing.shutdown_grace;
    drop(connection);
    // Keep reading (and discarding) while the writer sends what is left
    // and its close, then wait briefly for the peer's close: closing a
    // socket with unread input would reset it and lose the close frame.
    let closing = async {
        while !writer_done {
            tokio::select! {
                _ = &mut writer => writer_done = true,
                frame = stream.next() => if !matches!(frame, Some(Ok(_))) {
                    let _ = (&mut writer).await;
                    writer_done = true;
                },
            }
        }
        linger(&mut stream).await;
    };
    if timeout(grace, closing).await.is_err() {
        // A peer that does not read can hold a send forever.
        writer.abort();
    }
}

struct Connection {
    id: ParticipantId,
    tag: LogTag,
    shared: Arc<Signalling>,
    outbox: Outbox,
    room: Option<Arc<LiveRoom>>,
    bucket: TokenBucket,
    flood: FloodMeter,
    told_stopping: bool,
}

/// What rate limiting made of a message.
enum Admission {
    Admitted,
    Dropped,
    Flood,
}

impl Connection {
    /// Reads until the connection ends; returns the departure reason.
    async fn read(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        writer: &mut JoinHandle<()>,
        writer_done: &mut bool,
        mut killed: watch::Receiver<bool>,
    ) -> LeaveReason {
        let timing = self.shared.timing;
        let mut stopping = self.shared.stopping.clone();
        let mut ticker =
            tokio::time::interval_at(Instant::now() + timing.ping_interval, timing.ping_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                true = turns_true(&mut killed) => return LeaveReason::Policy,
                _ = &mut *writer => {
                    *writer_done = true;
                    return LeaveReason::Disconnect;
                }
                // Joined participants hear of shutdown from their room, in
                // order with the room's other messages.
                true = turns_true(&mut stopping), if self.room.is_none() && !self.told_stopping => {
                    self.told_stopping = true;
                    self.error(ErrorCode::ShuttingDown, "the server is shutting down".into(), None);
                    self.outbox.close(Close::Fatal(ErrorCode::ShuttingDown));
                }
                _ = ticker.tick() => {
                    if last_heard.elapsed() >= timing.idle_timeout {
                        tracing::debug!(participant = %self.tag, "idle timeout");
                        return LeaveReason::Timeout;
                    }
                    self.outbox.ping();
                    // Join requests held back while this member was
                    // behind (spec §2): again, now that it has caught up.
                    if let Some(room) = &self.room
                        && self.outbox.take_missed()
                    {
                        self.shared.rooms.step(room, Input::Resync { member: self.id.clone() });
                    }
                }
                frame = stream.next() => {
                    let Some(frame) = frame else { return LeaveReason::Disconnect };
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(e) => {
                            if is_too_large(e) {
                                self.outbox.close(Close::TooLarge);
                                return LeaveReason::Policy;
                            }
                            return LeaveReason::Disconnect;
                        }
                    };
                    last_heard = Instant::now();
                    let verdict = match frame {
                        Message::Text(text) => self.on_text(text.as_str(), last_heard.into_std()),
                        Message::Binary(_) => self.on_binary(last_heard.into_std()),
                        Message::Ping(_) | Message::Pong(_) => None,
                        Message::Close(_) => Some(LeaveReason::Disconnect),
                    };
                    if let Some(reason) = verdict {
                        return reason;
                    }
                }
            }
        }
    }

    /// Applies the rate limit to one data frame (spec §2).
    fn admit(&mut self, now: std::time::Instant, text: Option<&str>) -> Admission {
        if self.bucket.try_take(now) {
            return Admission::Admitted;
        }
        if self.flood.dropped(now) {
            tracing::info!(participant = %self.tag, "flooding: closed");
            self.outbox.close(Close::Departure(LeaveReason::Policy));
            return Admission::Flood;
        }
        let in_reply_to = text
            .filter(|t| t.len() <= self.shared.limits.max_message_bytes)
            .and_then(message_type);
        self.error(
            ErrorCode::RateLimited,
            format!(
                "more than {} messages per second",
                self.shared.limits.messages_per_second
            ),
            in_reply_to,
        );
        Admission::Dropped
    }

    fn on_binary(&mut self, now: std::time::Instant) -> Option<LeaveReason> {
        match self.admit(now, None) {
            Admission::Admitted => {
                self.error(
                    ErrorCode::BadMessage,
                    "binary frames are not part of the protocol; send JSON text".into(),
                    None,
                );
                None
            }
            Admission::Dropped => None,
            Admission::Flood => Some(LeaveReason::Policy),
        }
    }

    fn on_text(&mut self, text: &str, now: std::time::Instant) -> Option<LeaveReason> {
        match self.admit(now, Some(text)) {
            Admission::Admitted => {}
            Admission::Dropped => return None,
            Admission::Flood => return Some(LeaveReason::Policy),
        }
        let max = self.shared.limits.max_message_bytes;
        if text.len() > max {
            self.error(
                ErrorCode::MessageTooLarge,
                format!("{} bytes is over the limit of {max}", text.len()),
                None,
            );
            return None;
        }
        let message = match decode_client(text) {
            Ok(message) => message,
            Err(e) => {
                // A second join is already_joined whatever room it names.
                let code = if self.room.is_some() && e.code == ErrorCode::BadRoomName {
                    ErrorCode::AlreadyJoined
                } else {
                    e.code
                };
                self.error(code, e.message, e.message_type);
                if code.is_fatal() {
                    self.outbox.close(Close::Fatal(code));
                    return Some(LeaveReason::Policy);
                }
                return None;
            }
        };
        self.on_message(message)
    }

    fn on_message(&mut self, message: ClientMessage) -> Option<LeaveReason> {
        let Some(room) = &self.room else {
            let ClientMessage::Join { room } = message else {
                self.error(
                    ErrorCode::NotJoined,
                    "send join first".into(),
                    Some(message.message_type().into()),
                );
                return None;
            };
            self.room = self.shared.rooms.join(room, &self.id, self.outbox.clone());
            // Refused: the error and the close are queued; stop reading.
            return self.room.is_none().then_some(LeaveReason::Disconnect);
        };
        if let ClientMessage::Sdp { pc, kind, sdp, .. } = &message {
            tracing::trace!(room = %room.tag(), participant = %self.tag, ?pc, ?kind, sdp, "sdp from participant");
        }
        self.shared.rooms.step(
            room,
            Input::Message {
                from: self.id.clone(),
                message,
            },
        );
        None
    }

    /// Queues an error for this connection; one that does not fit means
    /// the peer is not reading, and the connection stops.
    fn error(&self, code: ErrorCode, message: String, in_reply_to: Option<String>) {
        let error = ServerMessage::Error {
            code,
            message,
            in_reply_to,
            current_epoch: None,
        };
        if self.outbox.send(&error).is_err() {
            self.outbox.kill();
        }
    }
}

/// The `type` of a message that was not processed, for `in_reply_to`.
fn message_type(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        ty: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_str(text).ok()?;
    probe.ty?.as_str().map(str::to_owned)
}

/// Whether a read failed because the message is over the hard cap.
fn is_too_large(error: axum::Error) -> bool {
    let inner = error.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Reads (and ignores) what the peer still sends, until its close frame
/// or [`LINGER`].
async fn linger(stream: &mut SplitStream<WebSocket>) {
    let _ = timeout(LINGER, async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Drains the outbox into the socket until a close, the end of the
/// outbox, or the kill switch.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbox: OutboxReceiver,
    mut killed: watch::Receiver<bool>,
) {
    loop {
        let item = tokio::select! {
            biased;
            true = turns_true(&mut killed) => {
                // Probably not read, but say why if the socket takes it.
                let close = close_frame(Close::Departure(LeaveReason::Policy));
                let _ = timeout(LINGER, sink.send(close)).await;
                return;
            }
            item = outbox.recv() => item,
        };
        let (frame, last) = match item {
            Some(Outgoing::Text(text)) => (Message::Text(text), false),
            Some(Outgoing::Ping) => (Message::Ping(Default::default()), false),
            Some(Outgoing::Close(close)) => (close_frame(close), true),
            None => {
                let _ = timeout(LINGER, sink.close()).await;
                return;
            }
        };
        tokio::select! {
            biased;
            true = turns_true(&mut killed) => return,
            sent = sink.send(frame) => if sent.is_err() { return },
        }
        if last {
            return;
        }
    }
}

/// Completes with true once the switch is on; with false if its sender
/// is gone first.
async fn turns_true(switch: &mut watch::Receiver<bool>) -> bool {
    switch.wait_for(|on| *on).await.is_ok()
}

fn close_frame(close: Close) -> Message {
    Message::Close(Some(CloseFrame {
        code: close.code(),
        reason: close.reason().into(),
    }))
}
