//! Track sources and codecs: what a media section carries (spec/protocol.md
//! §3 `sdp`, §6) and the SFrame context of its frames (mls-profile.md §6).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a media track carries. Each source has one wire name (the `source`
/// of `sdp` tracks) and one SFrame KID context (RFC 9605 §5.2), so a frame
/// keyed for one source cannot be played as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    /// Microphone audio (context 0).
    Mic,
    /// Camera video (context 1).
    Camera,
    /// Screen share video (context 2).
    Screen,
    /// Screen share audio (context 3).
    ScreenAudio,
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Opus.
    Audio,
    /// VP8.
    Video,
}

impl TrackSource {
    /// Every source, in context order.
    pub const ALL: [TrackSource; 4] = [
        TrackSource::Mic,
        TrackSource::Camera,
        TrackSource::Screen,
        TrackSource::ScreenAudio,
    ];

    /// The wire name: `mic`, `camera`, `screen`, `screen_audio`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackSource::Mic => "mic",
            TrackSource::Camera => "camera",
            TrackSource::Screen => "screen",
            TrackSource::ScreenAudio => "screen_audio",
        }
    }

    /// The source of wire name `name`.
    pub fn from_name(name: &str) -> Option<TrackSource> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The SFrame KID context (spec/mls-profile.md §6).
    pub fn context(self) -> u64 {
        match self {
            TrackSource::Mic => 0,
            TrackSource::Camera => 1,
            TrackSource::Screen => 2,
            TrackSource::ScreenAudio => 3,
        }
    }

    /// The source with KID context `context`.
    pub fn from_context(context: u64) -> Option<TrackSource> {
        Self::ALL.into_iter().find(|s| s.context() == context)
    }

    /// Whether it carries audio or video.
    pub fn kind(self) -> MediaKind {
        match self {
            TrackSource::Mic | TrackSource::ScreenAudio => MediaKind::Audio,
            TrackSource::Camera | TrackSource::Screen => MediaKind::Video,
        }
    }
}

impl fmt::Display for TrackSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The codecs and RTP payload types of spec/protocol.md §6. The server
/// offers and answers exactly these; peers use them on their side too.
pub mod codec {
    /// Opus, `opus/48000/2`.
    pub const OPUS_PAYLOAD_TYPE: u8 = 111;
    /// VP8, `VP8/90000`.
    pub const VP8_PAYLOAD_TYPE: u8 = 96;
    /// RTX for VP8 (`apt=96`), `rtx/90000`.
    pub const VP8_RTX_PAYLOAD_TYPE: u8 = 97;
    /// Opus's RTP clock rate.
    pub const OPUS_CLOCK_RATE: u32 = 48_000;
    /// Opus channels in SDP.
    pub const OPUS_CHANNELS: u16 = 2;
    /// The video RTP clock rate.
    pub const VIDEO_CLOCK_RATE: u32 = 90_000;
    /// MIME types as SDP and WebRTC name them.
    pub const OPUS_MIME: &str = "audio/opus";
    /// VP8's MIME type.
    pub const VP8_MIME: &str = "video/VP8";
    /// RTX's MIME type.
    pub const RTX_MIME: &str = "video/rtx";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_contexts_are_one_table() {
        for s in TrackSource::ALL {
            let json = serde_json::to_string(&s).expect("serialise");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(TrackSource::from_name(s.as_str()), Some(s));
            assert_eq!(TrackSource::from_context(s.context()), Some(s));
        }
        assert_eq!(TrackSource::from_context(4), None);
        assert_eq!(TrackSource::from_name("Mic"), None);
    }
}
