//! How much SDP a member may make the media thread parse (issue 16).
//!
//! One thread runs every peer connection of the server, and each media
//! section of a `pub` offer becomes a transceiver; so a member could stall
//! everyone's media with one offer of thousands of sections (a signalling
//! message may be 512 KiB). Checked before the SDP reaches the `rtc`
//! parser, by counting `m=` lines (RFC 8866 §5.14), and refused with
//! `message_too_large` (spec/protocol.md §6); the connection is left as it
//! was, so the member may try again.
//!
//! * A `pub` offer has at most one sending section per source (§6), four
//!   today; [`MAX_PUB_SECTIONS`] leaves room for sections a client keeps
//!   inactive after it stopped a track.
//! * A `sub` answer has exactly as many sections as the server's offer
//!   (RFC 8829 §5.3.1), which grows with the room (one per track of every
//!   other member), so its bounds follow the offer.

/// Largest `pub` offer, and the least any `sub` answer may use.
pub(crate) const MAX_SDP_BYTES: usize = 64 * 1024;
/// Most media sections in a `pub` offer.
pub(crate) const MAX_PUB_SECTIONS: usize = 16;
/// What a `sub` answer may spend per section the server offered, beyond
/// [`MAX_SDP_BYTES`] (a browser spends well under 1 KiB).
const SUB_BYTES_PER_SECTION: usize = 4096;

/// Why an SDP body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TooLarge {
    /// More bytes than allowed.
    #[error("an SDP of {got} bytes is over the limit of {max}")]
    Bytes { got: usize, max: usize },
    /// More media sections than allowed.
    #[error("an SDP with {got} media sections is over the limit of {max}")]
    Sections { got: usize, max: usize },
}

/// The media sections of `sdp`: its `m=` lines.
pub(crate) fn media_sections(sdp: &str) -> usize {
    sdp.split('\n')
        .filter(|line| line.starts_with("m="))
        .count()
}

/// Checks a member's `pub` offer.
pub(crate) fn check_pub_offer(sdp: &str) -> Result<(), TooLarge> {
    check(sdp, MAX_SDP_BYTES, MAX_PUB_SECTIONS)
}

/// Checks a member's `sub` answer to an offer of `offered` sections.
pub(crate) fn check_sub_answer(sdp: &str, offered: usize) -> Result<(), TooLarge> {
    let bytes = MAX_SDP_BYTES.max(offered.saturating_mul(SUB_BYTES_PER_SECTION));
    check(sdp, bytes, offered)
}

fn check(sdp: &str, max_bytes: usize, max_sections: usize) -> Result<(), TooLarge> {
    if sdp.len() > max_bytes {
        return Err(TooLarge::Bytes {
            got: sdp.len(),
            max: max_bytes,
        });
    }
    let sections = media_sections(sdp);
    if sections > max_sections {
        return Err(TooLarge::Sections {
            got: sections,
            max: max_sections,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp_with(sections: usize) -> String {
        let mut sdp = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for i in 0..sections {
            sdp.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
            sdp.push_str(&format!("a=mid:{i}\r\n"));
        }
        sdp
    }

    #[test]
    fn pub_offers_are_bounded_in_bytes_and_sections() {
        assert_eq!(check_pub_offer(&sdp_with(MAX_PUB_SECTIONS)), Ok(()));
        assert_eq!(
            check_pub_offer(&sdp_with(MAX_PUB_SECTIONS + 1)),
            Err(TooLarge::Sections {
                got: MAX_PUB_SECTIONS + 1,
                max: MAX_PUB_SECTIONS
            })
        );
        let padded = format!("{}a={}\r\n", sdp_with(1), "x".repeat(MAX_SDP_BYTES));
        assert!(matches!(
            check_pub_offer(&padded),
            Err(TooLarge::Bytes { .. })
        ));
        // "m=" inside an attribute is not a section.
        assert_eq!(
            media_sections("v=0\r\na=x m=audio\r\nm=video 9 X 96\r\n"),
            1
        );
    }

    #[test]
    fn sub_answers_are_bounded_by_the_offer() {
        assert_eq!(check_sub_answer(&sdp_with(40), 40), Ok(()));
        assert_eq!(
            check_sub_answer(&sdp_with(41), 40),
            Err(TooLarge::Sections { got: 41, max: 40 })
        );
        // A big room's answer may be larger than a pub offer.
        let big = format!("{}a={}\r\n", sdp_with(40), "x".repeat(100 * 1024));
        assert_eq!(check_sub_answer(&big, 40), Ok(()));
        assert!(matches!(
            check_sub_answer(&big, 1),
            Err(TooLarge::Bytes { .. })
        ));
    }
}
