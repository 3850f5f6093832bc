//! How the server's peer connections are built (spec/protocol.md §6).
//!
//! Every peer connection is an `rtc` sans-IO `RTCPeerConnection`: ICE-lite
//! with the server's host candidate(s) on the shared port and credentials
//! chosen here (the ufrag is how the demultiplexer finds it), DTLS-SRTP with
//! AES-128-GCM preferred, Opus and VP8 (+RTX) only, no header extensions,
//! and an interceptor chain that terminates RTCP hop by hop: receiver and
//! sender reports, NACK generation upstream and NACK answering downstream
//! from a send buffer (with RTX when negotiated). Keyframe requests are the
//! one kind of inbound RTCP the forwarding logic needs, so an interceptor of
//! ours marks them for delivery.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::ice::tcp_type::TcpType;
use rtc::interceptor::{Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_nack, configure_rtcp_reports,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::shared::error::Error as RtcError;
use rtc::shared::util::math_rand_alpha_number;

use crate::media::MediaStats;

/// ICE timeouts: a connection with no traffic for 5 s is disconnected, and
/// for 10 s more failed; the engine then gives it the 10 s of §6 before it
/// reports the member (so ~25 s of silence in all, like a browser's own
/// failure detection). Keepalives are the client's: the server is lite.
const ICE_DISCONNECTED: Duration = Duration::from_secs(5);
const ICE_FAILED: Duration = Duration::from_secs(10);
const ICE_KEEPALIVE: Duration = Duration::from_secs(2);

/// Fresh ICE credentials: a ufrag the demultiplexer can route by, and a
/// password (RFC 8839 §5.4: at least 4 and 22 characters of ice-char).
pub(crate) fn ice_credentials() -> (String, String) {
    (math_rand_alpha_number(16), math_rand_alpha_number(32))
}

/// Builds one of the server's peer connections, announcing `candidates`
/// (UDP) and `tcp_candidates` (ICE-TCP passive, RFC 6544: members connect
/// to them).
pub(crate) fn build(
    now: Instant,
    candidates: &[SocketAddr],
    tcp_candidates: &[SocketAddr],
    ufrag: &str,
    pwd: &str,
    stats: Arc<MediaStats>,
) -> Result<RTCPeerConnection, RtcError> {
    let mut engine = sotto_peer::media_engine(true)?;
    let registry = Registry::new()
        .with(Slot::from(14_000), sotto_peer::KeyframeRequests::default())
        // Wire-most: inbound feedback before anything used it, outbound
        // after every generator (NACK generator, our PLIs) made it.
        .with(
            Slot::from(500),
            FeedbackCounter {
                stats,
                ..Default::default()
            },
        );
    let registry = configure_nack(registry, &mut engine);
    let registry = configure_rtcp_reports(registry);
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_ice_credentials(ufrag.to_owned(), pwd.to_owned())
        // The member offers on pub and starts DTLS; on sub it answers and
        // picks active. Either way the server waits for a ClientHello.
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .with_srtp_protection_profiles(vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ])
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED),
            Some(ICE_FAILED),
            Some(ICE_KEEPALIVE),
        )
        .with_include_loopback_candidate(true)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .build(now)?;
    let udp = candidates.iter().map(|a| (a, "udp", TcpType::Unspecified));
    let tcp = tcp_candidates.iter().map(|a| (a, "tcp", TcpType::Passive));
    for (addr, network, tcp_type) in udp.chain(tcp) {
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: network.to_owned(),
                address: addr.ip().to_string(),
                port: addr.port(),
                component: 1,
                ..Default::default()
            },
            tcp_type,
        }
        .new_candidate_host()?;
        pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
    }
    Ok(pc)
}

/// Counts RTCP feedback as it meets the wire, into
/// [`MediaStats::feedback`]; passes everything through unchanged.
#[derive(Default)]
struct FeedbackCounter {
    stats: Arc<MediaStats>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl FeedbackCounter {
    fn count(&self, msg: &TaggedPacket, nacks: &AtomicU64, keyframe_requests: &AtomicU64) {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                if p.as_any().is::<TransportLayerNack>() {
                    nacks.fetch_add(1, Ordering::Relaxed);
                } else if sotto_peer::is_keyframe_request(p.as_ref()) {
                    keyframe_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackCounter {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = RtcError;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let f = &self.stats.feedback;
        self.count(&msg, &f.nacks_received, &f.keyframe_requests_received);
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let f = &self.stats.feedback;
        self.count(&msg, &f.nacks_sent, &f.keyframe_requests_sent);
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.writes.pop_front()
    }
}

impl Interceptor for FeedbackCounter {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests;
