//! IVF, the container of VP8 test streams: a 32-byte file header, then
//! frames each behind a 12-byte header (size, timestamp).
//!
//! Read in full from memory (the files sotto sends are small and looped) and
//! written frame by frame when recording.

use std::io::{self, Seek, SeekFrom, Write};

use super::FileError;

const FILE_HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 12;

/// The fields of an IVF file header that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// Codec, e.g. `VP80`.
    pub fourcc: [u8; 4],
    /// Frame width in pixels.
    pub width: u16,
    /// Frame height in pixels.
    pub height: u16,
    /// Timestamps count in units of `timebase_num / timebase_den` seconds.
    pub timebase_den: u32,
    /// See `timebase_den`.
    pub timebase_num: u32,
}

/// One frame of an IVF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvfFrame {
    /// Presentation timestamp in timebase units.
    pub pts: u64,
    /// The encoded frame.
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses a whole IVF file.
pub fn read(bytes: &[u8]) -> Result<(IvfHeader, Vec<IvfFrame>), FileError> {
    let bad = |why: &'static str| FileError::Malformed { format: "IVF", why };
    if bytes.len() < FILE_HEADER_LEN || &bytes[..4] != b"DKIF" {
        return Err(bad("no DKIF signature"));
    }
    let header_len = usize::from(u16_at(bytes, 6));
    if header_len < FILE_HEADER_LEN || header_len > bytes.len() {
        return Err(bad("bad header length"));
    }
    let header = IvfHeader {
        fourcc: [bytes[8], bytes[9], bytes[10], bytes[11]],
        width: u16_at(bytes, 12),
        height: u16_at(bytes, 14),
        timebase_den: u32_at(bytes, 16),
        timebase_num: u32_at(bytes, 20),
    };
    if header.timebase_den == 0 || header.timebase_num == 0 {
        return Err(bad("zero timebase"));
    }
    let mut frames = Vec::new();
    let mut at = header_len;
    while at < bytes.len() {
        if bytes.len() - at < FRAME_HEADER_LEN {
            return Err(bad("truncated frame header"));
        }
        let size = u32_at(bytes, at) as usize;
        let pts = u64::from_le_bytes(
            bytes[at + 4..at + 12]
                .try_into()
                .map_err(|_| bad("truncated frame header"))?,
        );
        at += FRAME_HEADER_LEN;
        let data = bytes
            .get(at..at.saturating_add(size))
            .ok_or(bad("truncated frame"))?;
        frames.push(IvfFrame {
            pts,
            data: data.to_vec(),
        });
        at += size;
    }
    Ok((header, frames))
}

/// Writes an IVF file frame by frame; the frame count in the header is
/// filled in by [`IvfWriter::finish`].
#[derive(Debug)]
pub struct IvfWriter<W: Write + Seek> {
    out: W,
    frames: u32,
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Starts a file with `header`.
    pub fn new(mut out: W, header: &IvfHeader) -> io::Result<Self> {
        let mut h = [0u8; FILE_HEADER_LEN];
        h[..4].copy_from_slice(b"DKIF");
        h[6..8].copy_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
        h[8..12].copy_from_slice(&header.fourcc);
        h[12..14].copy_from_slice(&header.width.to_le_bytes());
        h[14..16].copy_from_slice(&header.height.to_le_bytes());
        h[16..20].copy_from_slice(&header.timebase_den.to_le_bytes());
        h[20..24].copy_from_slice(&header.timebase_num.to_le_bytes());
        out.write_all(&h)?;
        Ok(IvfWriter { out, frames: 0 })
    }

    /// Appends one frame.
    pub fn write_frame(&mut self, pts: u64, data: &[u8]) -> io::Result<()> {
        let size = u32::try_from(data.len()).map_err(io::Error::other)?;
        let mut h = [0u8; FRAME_HEADER_LEN];
        h[..4].copy_from_slice(&size.to_le_bytes());
        h[4..].copy_from_slice(&pts.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)?;
        self.frames = self.frames.saturating_add(1);
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Writes the frame count into the header and flushes.
    pub fn finish(mut self) -> io::Result<W> {
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(24))?;
        self.out.write_all(&self.frames.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn the_fixture_parses() {
        let (h, frames) = read(crate::media::fixtures::PATTERN_IVF).expect("ivf");
        assert_eq!(&h.fourcc, b"VP80");
        assert_eq!((h.width, h.height), (320, 240));
        assert_eq!((h.timebase_num, h.timebase_den), (1, 15));
        assert_eq!(frames.len(), 45);
        assert_eq!(frames[44].pts, 44);
    }

    #[test]
    fn written_files_read_back() {
        let header = IvfHeader {
            fourcc: *b"VP80",
            width: 16,
            height: 8,
            timebase_den: 90_000,
            timebase_num: 1,
        };
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), &header).expect("new");
        w.write_frame(0, &[1, 2, 3]).expect("frame");
        w.write_frame(6000, &[4; 40]).expect("frame");
        let bytes = w.finish().expect("finish").into_inner();
        assert_eq!(u32_at(&bytes, 24), 2);
        let (h, frames) = read(&bytes).expect("read");
        assert_eq!(h, header);
        assert_eq!(frames[1].pts, 6000);
        assert_eq!(frames[1].data, vec![4; 40]);
    }

    #[test]
    fn truncated_files_are_errors() {
        let bytes = crate::media::fixtures::PATTERN_IVF;
        assert!(read(&bytes[..20]).is_err());
        assert!(read(&bytes[..bytes.len() - 1]).is_err());
        assert!(read(b"RIFF0000000000000000000000000000").is_err());
    }
}
