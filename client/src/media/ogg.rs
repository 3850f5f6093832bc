//! Ogg Opus (RFC 7845), packet by packet.
//!
//! Not `rtc`'s `OggReader`: that one hands out whole pages, and encoders
//! such as ffmpeg's put fifty Opus packets in a page. Here packets are
//! reassembled from the pages' lacing values (RFC 3533 §6), and the writer
//! puts one packet per page so that a recording can be cut anywhere.

use std::io::{self, Write};

use super::FileError;

const CAPTURE: &[u8; 4] = b"OggS";
const PAGE_HEADER_LEN: usize = 27;
const FLAG_CONTINUED: u8 = 0x01;
const FLAG_BOS: u8 = 0x02;
const FLAG_EOS: u8 = 0x04;

/// The Ogg CRC: polynomial 0x04c11db7, no reflection, initial value 0.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04c1_1db7
            } else {
                r << 1
            };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

fn crc(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |c, &b| {
        (c << 8) ^ CRC_TABLE[usize::from(((c >> 24) as u8) ^ b)]
    })
}

/// What the `OpusHead` packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// Channels of the decoded stream.
    pub channels: u8,
    /// Samples (at 48 kHz) to drop at the start of decoding.
    pub pre_skip: u16,
    /// The input's sample rate, for information only.
    pub input_rate: u32,
}

/// Reads the Opus packets of an Ogg Opus file (one logical stream).
pub fn read_opus(bytes: &[u8]) -> Result<(OpusHead, Vec<Vec<u8>>), FileError> {
    let bad = |why: &'static str| FileError::Malformed {
        format: "Ogg Opus",
        why,
    };
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut partial: Option<Vec<u8>> = None;
    let mut at = 0;
    while at < bytes.len() {
        let page = bytes
            .get(at..at + PAGE_HEADER_LEN)
            .ok_or(bad("truncated page"))?;
        if &page[..4] != CAPTURE || page[4] != 0 {
            return Err(bad("no OggS capture pattern"));
        }
        let flags = page[5];
        let nsegs = usize::from(page[26]);
        let lacing = bytes
            .get(at + PAGE_HEADER_LEN..at + PAGE_HEADER_LEN + nsegs)
            .ok_or(bad("truncated lacing table"))?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let page_len = PAGE_HEADER_LEN + nsegs + body_len;
        let whole = bytes.get(at..at + page_len).ok_or(bad("truncated page"))?;
        let mut zeroed = whole.to_vec();
        zeroed[22..26].fill(0);
        if crc(&zeroed) != u32::from_le_bytes([page[22], page[23], page[24], page[25]]) {
            return Err(bad("page checksum mismatch"));
        }
        if flags & FLAG_CONTINUED == 0 {
            // A packet left open by the previous page was never finished.
            partial = None;
        }
        let mut body = &whole[PAGE_HEADER_LEN + nsegs..];
        for &l in lacing {
            let (seg, rest) = body.split_at(usize::from(l));
            body = rest;
            partial.get_or_insert_with(Vec::new).extend_from_slice(seg);
            if l < 255 {
                packets.extend(partial.take());
            }
        }
        at += page_len;
    }
    let mut packets = packets.into_iter();
    let head = packets.next().ok_or(bad("no OpusHead"))?;
    if head.len() < 19 || &head[..8] != b"OpusHead" {
        return Err(bad("no OpusHead"));
    }
    let head = OpusHead {
        channels: head[9],
        pre_skip: u16::from_le_bytes([head[10], head[11]]),
        input_rate: u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
    };
    let tags = packets.next().ok_or(bad("no OpusTags"))?;
    if tags.len() < 8 || &tags[..8] != b"OpusTags" {
        return Err(bad("no OpusTags"));
    }
    let audio: Vec<Vec<u8>> = packets.filter(|p| !p.is_empty()).collect();
    Ok((head, audio))
}

/// Samples (at 48 kHz) that an Opus packet decodes to, from its TOC byte
/// and frame count (RFC 6716 §3.1, §3.2.5); `None` if it is malformed.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let per_frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    if frames == 0 || per_frame * frames > 5760 {
        return None; // RFC 6716 §3.2.5: at most 120 ms per packet
    }
    Some(per_frame * frames)
}

/// Writes an Ogg Opus file, one packet per page. The last packet is held
/// back so that [`OggOpusWriter::finish`] can mark its page end-of-stream.
#[derive(Debug)]
pub struct OggOpusWriter<W: Write> {
    out: W,
    serial: u32,
    sequence: u32,
    held: Option<(Vec<u8>, u64)>,
    packets: u32,
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream: writes the `OpusHead` and `OpusTags` pages.
    pub fn new(out: W, channels: u8, serial: u32) -> io::Result<Self> {
        let mut w = OggOpusWriter {
            out,
            serial,
            sequence: 0,
            held: None,
            packets: 0,
        };
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(channels.max(1));
        head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: unknown, frames are as sent
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0: mono or stereo
        w.page(&head, FLAG_BOS, 0)?;
        let vendor = b"sotto";
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes());
        w.page(&tags, 0, 0)?;
        Ok(w)
    }

    /// Appends a packet that ends at sample position `granule` (48 kHz
    /// samples since the start of the stream).
    pub fn write_packet(&mut self, packet: &[u8], granule: u64) -> io::Result<()> {
        if let Some((p, g)) = self.held.take() {
            self.page(&p, 0, g)?;
        }
        self.held = Some((packet.to_vec(), granule));
        self.packets = self.packets.saturating_add(1);
        Ok(())
    }

    /// Packets written so far.
    pub fn packets(&self) -> u32 {
        self.packets
    }

    /// Writes the last page, marked end-of-stream, and flushes.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some((p, g)) = self.held.take() {
            self.page(&p, FLAG_EOS, g)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn page(&mut self, packet: &[u8], flags: u8, granule: u64) -> io::Result<()> {
        // One packet per page: its lacing is 255s then the remainder (a
        // multiple of 255 ends with a 0), at most 255 segments.
        let nsegs = packet.len() / 255 + 1;
        let nsegs = u8::try_from(nsegs)
            .map_err(|_| io::Error::other("Opus packet too large for one Ogg page"))?;
        let mut page = Vec::with_capacity(PAGE_HEADER_LEN + usize::from(nsegs) + packet.len());
        page.extend_from_slice(CAPTURE);
        page.push(0);
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.sequence.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(nsegs);
        page.extend(std::iter::repeat_n(255u8, usize::from(nsegs) - 1));
        page.push((packet.len() % 255) as u8);
        page.extend_from_slice(packet);
        let sum = crc(&page);
        page[22..26].copy_from_slice(&sum.to_le_bytes());
        self.out.write_all(&page)?;
        self.sequence = self.sequence.wrapping_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_parses_into_20ms_packets() {
        let (head, packets) = read_opus(crate::media::fixtures::TONE_OGG).expect("ogg");
        assert_eq!(head.channels, 1);
        assert_eq!(head.input_rate, 48_000);
        assert!(packets.len() >= 149, "{} packets", packets.len());
        assert!(packets.iter().all(|p| opus_packet_samples(p) == Some(960)));
    }

    #[test]
    fn written_streams_read_back() {
        let packets: Vec<Vec<u8>> = vec![vec![0x78, 1, 2], vec![0x78; 255], vec![0x78; 600]];
        let mut w = OggOpusWriter::new(Vec::new(), 2, 7).expect("new");
        for (i, p) in packets.iter().enumerate() {
            w.write_packet(p, 960 * (i as u64 + 1)).expect("write");
        }
        let bytes = w.finish().expect("finish");
        let (head, back) = read_opus(&bytes).expect("read");
        assert_eq!(head.channels, 2);
        assert_eq!(back, packets);
    }

    #[test]
    fn corruption_is_caught() {
        let mut bytes = crate::media::fixtures::TONE_OGG.to_vec();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x40;
        assert!(read_opus(&bytes).is_err());
        assert!(read_opus(&crate::media::fixtures::TONE_OGG[..100]).is_err());
    }

    #[test]
    fn packet_durations_follow_the_toc() {
        assert_eq!(opus_packet_samples(&[0x78]), Some(960)); // CELT 20 ms
        assert_eq!(opus_packet_samples(&[0x08]), Some(960)); // SILK NB 20 ms
        assert_eq!(opus_packet_samples(&[0x79]), Some(1920)); // two frames
        assert_eq!(opus_packet_samples(&[0x7b, 0x03]), Some(2880));
        assert_eq!(opus_packet_samples(&[0x7b, 0x00]), None);
        assert_eq!(opus_packet_samples(&[0x1b, 0x03]), None); // 3 x 60 ms
        assert_eq!(opus_packet_samples(&[]), None);
    }
}
