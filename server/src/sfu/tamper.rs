//! A cheating SFU, for tests only (feature `test-tamper`, never in a
//! release build of the binary, which installs no hook even when the
//! feature is on).
//!
//! The threat model lets the operator alter, drop, inject and replay any
//! media packet it forwards (`spec/threat-model.md`, "Operator"); what it
//! must not achieve is a frame that the receivers play. End-to-end tests
//! prove that through the real SFU by installing a [`Tamper`] hook: it sees
//! each RTP packet a publisher sent, after the hop-by-hop SRTP layer, and
//! says what to forward in its place (nothing, the packet changed, or more
//! packets). What it returns goes through the normal forwarding path:
//! header rewriting, retransmission buffers, every subscriber.

use std::sync::Arc;

use sotto_proto::{ParticipantId, TrackSource};

/// An RTP packet on its way through the SFU: the fields of the publisher's
/// packet the forwarding path reads. The payload is the codec payload
/// (payload descriptor, then the protected frame or a piece of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// The publisher's SSRC (a new value makes the SFU start a new
    /// sequence of numbers for the subscribers).
    pub ssrc: u32,
    /// The publisher's sequence number.
    pub sequence_number: u16,
    /// The publisher's RTP timestamp.
    pub timestamp: u32,
    /// The RTP marker bit (last packet of a video frame).
    pub marker: bool,
    /// The payload.
    pub payload: Vec<u8>,
}

/// What a cheating SFU forwards instead of a packet that `publisher` sent
/// on its `source` track. Runs on the media thread, once per packet.
pub type Tamper =
    Arc<dyn Fn(&ParticipantId, TrackSource, RtpPacket) -> Vec<RtpPacket> + Send + Sync>;
