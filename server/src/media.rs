//! The seam between signalling and the SFU.
//!
//! Signalling (rooms, the delivery service) decides who is a member; the
//! media plane forwards RTP among members. They talk through this trait and
//! an event channel, so each can be built and tested without the other.

use std::sync::atomic::{AtomicU64, Ordering};

use sotto_proto::{ClientMessage, ParticipantId, RoomName, ServerMessage};

/// What signalling asks of the media plane. Calls must not block: an
/// implementation queues the work and returns.
pub trait MediaPlane: Send + Sync + 'static {
    /// `participant` became an MLS member of `room` (spec §3, `welcome`, or
    /// the creator): it may now negotiate media.
    fn add_member(&self, room: &RoomName, participant: &ParticipantId);

    /// `participant` left `room` for any reason: drop its peer
    /// connections and its tracks, and renegotiate the others' `sub`.
    fn remove_member(&self, room: &RoomName, participant: &ParticipantId);

    /// An `sdp` or `ice` message from a member (other messages are never
    /// passed here).
    fn signal(&self, room: &RoomName, participant: &ParticipantId, message: ClientMessage);
}

/// What the media plane tells signalling, on a channel signalling owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// Send `message` (an `sdp`, `ice` or `error`) to `participant`.
    Signal {
        /// Room of the participant.
        room: RoomName,
        /// Recipient.
        participant: ParticipantId,
        /// The message.
        message: ServerMessage,
    },
}

/// Counters the media plane keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP packets sent to subscribers.
    pub forwarded_packets: AtomicU64,
    /// Bytes of those packets (RTP, before SRTP).
    pub forwarded_bytes: AtomicU64,
    /// Packets received and not forwarded (malformed, unknown SSRC, no
    /// subscriber able to take them, SRTP failures).
    pub dropped_packets: AtomicU64,
    /// Loss and keyframe feedback (RTCP) crossing the SFU's wire.
    pub feedback: FeedbackCounts,
    /// Members whose peer connections failed and started over
    /// (`media_failed`, spec §4.6).
    pub media_failures: AtomicU64,
    /// ICE-TCP connections open now.
    pub tcp_connections: AtomicU64,
    /// ICE-TCP connections closed at once: over a limit (per address or
    /// in all).
    pub tcp_refused: AtomicU64,
}

/// RTCP feedback packets counted where they meet the wire: what repaired
/// loss (NACK, RFC 4585 §6.2.1) and what asked for keyframes (PLI, RFC 4585
/// §6.3.1, and FIR, RFC 5104 §4.3.1). Received ones come from subscribers,
/// sent ones go to publishers (or, for NACKs the SFU answers itself from
/// its send buffer, are never forwarded: loss is repaired hop by hop).
#[derive(Debug, Default)]
pub struct FeedbackCounts {
    /// NACKs received (each asks for one or more packets again).
    pub nacks_received: AtomicU64,
    /// NACKs sent.
    pub nacks_sent: AtomicU64,
    /// PLIs and FIRs received.
    pub keyframe_requests_received: AtomicU64,
    /// PLIs and FIRs sent.
    pub keyframe_requests_sent: AtomicU64,
}

impl MediaStats {
    /// Counts one forwarded packet of `bytes` bytes.
    pub fn forwarded(&self, bytes: usize) {
        self.forwarded_packets.fetch_add(1, Ordering::Relaxed);
        self.forwarded_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a member whose media failed and starts over.
    pub fn media_failed(&self) {
        self.media_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one dropped packet.
    pub fn dropped(&self) {
        self.dropped_packets.fetch_add(1, Ordering::Relaxed);
    }
}

/// A media plane that forwards nothing and ignores media signalling: for
/// signalling tests.
#[derive(Debug, Default)]
pub struct NoMedia;

impl MediaPlane for NoMedia {
    fn add_member(&self, _room: &RoomName, _participant: &ParticipantId) {}
    fn remove_member(&self, _room: &RoomName, _participant: &ParticipantId) {}
    fn signal(&self, _room: &RoomName, _participant: &ParticipantId, _message: ClientMessage) {}
}
