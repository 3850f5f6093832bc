//! What every sotto WebRTC peer built on webrtc-rs shares: the SFU
//! (`sotto-server`, over the sans-IO `rtc` core), the native client and the
//! test and benchmark peers (over the async `webrtc` layer, which is built
//! on the same `rtc` types). One place, so that no peer offers a codec,
//! payload type or feedback another does not.
//!
//! * [`media_engine`]: Opus, VP8 and VP8's RTX with the payload types of
//!   spec/protocol.md §6 ([`sotto_proto::codec`]);
//! * [`KeyframeRequests`]: an interceptor that hands RTCP carrying a PLI or
//!   FIR to the application (webrtc-rs delivers only what an interceptor
//!   marks; see its `rtcp-processing` example), so that a publisher can
//!   answer with a keyframe and the SFU can forward the request upstream.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8, MediaEngine,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::shared::error::Error;
use sotto_proto::codec::{
    OPUS_CHANNELS, OPUS_CLOCK_RATE, OPUS_PAYLOAD_TYPE, VIDEO_CLOCK_RATE, VP8_PAYLOAD_TYPE,
    VP8_RTX_PAYLOAD_TYPE,
};
use sotto_proto::{MediaKind, TrackSource};

/// A track we send: stream `stream_id`, track id and label `track_id`,
/// one encoding on `ssrc` with `codec` (what [`codec_for`] gives).
pub fn sending_track(
    stream_id: &str,
    track_id: &str,
    kind: RtpCodecKind,
    ssrc: u32,
    codec: RTCRtpCodec,
) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream_id.to_owned(),
        track_id.to_owned(),
        track_id.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )
}

/// Opus as sotto sends it (`minptime=10;useinbandfec=1`, as browsers do).
pub fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: OPUS_CLOCK_RATE,
        channels: OPUS_CHANNELS,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// VP8, with NACK, PLI and FIR feedback.
pub fn vp8() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: VIDEO_CLOCK_RATE,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")],
    }
}

/// RTX for VP8 (RFC 4588).
pub fn vp8_rtx() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_RTX.to_owned(),
        clock_rate: VIDEO_CLOCK_RATE,
        channels: 0,
        sdp_fmtp_line: format!("apt={VP8_PAYLOAD_TYPE}"),
        rtcp_feedback: vec![],
    }
}

/// The codec and payload type a track of `source` is sent with.
pub fn codec_for(source: TrackSource) -> (RTCRtpCodec, u8, RtpCodecKind) {
    match source.kind() {
        MediaKind::Audio => (opus(), OPUS_PAYLOAD_TYPE, RtpCodecKind::Audio),
        MediaKind::Video => (vp8(), VP8_PAYLOAD_TYPE, RtpCodecKind::Video),
    }
}

/// WebRTC's codec kind of `kind`.
pub fn rtp_kind(kind: MediaKind) -> RtpCodecKind {
    match kind {
        MediaKind::Audio => RtpCodecKind::Audio,
        MediaKind::Video => RtpCodecKind::Video,
    }
}

/// A media engine with exactly the codecs of spec/protocol.md §6: Opus,
/// VP8 and (with `rtx`) VP8's RTX.
pub fn media_engine(rtx: bool) -> Result<MediaEngine, Error> {
    let mut engine = MediaEngine::default();
    let mut add = |rtp_codec: RTCRtpCodec, payload_type: u8, kind: RtpCodecKind| {
        engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec,
                payload_type,
            },
            kind,
        )
    };
    add(opus(), OPUS_PAYLOAD_TYPE, RtpCodecKind::Audio)?;
    add(vp8(), VP8_PAYLOAD_TYPE, RtpCodecKind::Video)?;
    if rtx {
        add(vp8_rtx(), VP8_RTX_PAYLOAD_TYPE, RtpCodecKind::Video)?;
    }
    Ok(engine)
}

/// Whether an RTCP packet asks for a keyframe (PLI, RFC 4585 §6.3.1, or
/// FIR, RFC 5104 §4.3.1).
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Marks incoming RTCP compounds that carry a keyframe request for
/// delivery to the application, and passes everything else on as it is.
/// Register it last in the chain, so that the interceptors before it (NACK,
/// reports) have seen all RTCP.
#[derive(Default)]
pub struct KeyframeRequests {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl std::fmt::Debug for KeyframeRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyframeRequests")
    }
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
