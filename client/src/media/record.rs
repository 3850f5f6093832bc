//! Writing received (decrypted) frames to files: IVF for VP8, Ogg for Opus,
//! one file per participant and source.
//!
//! Timestamps come from RTP: IVF with a 1/90000 timebase and Ogg granule
//! positions in 48 kHz samples, both counted from the first frame written,
//! so a gap in a recording shows as a gap in its timestamps.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use sotto_crypto::media::Codec;
use sotto_proto::{ParticipantId, TrackSource};

use super::ivf::{IvfHeader, IvfWriter};
use super::ogg::{OggOpusWriter, opus_packet_samples};
use super::source::{VP8_CLOCK_RATE, is_vp8_keyframe};

/// The file name stem of a participant's source (`<participant>-<source>`).
pub fn file_stem(participant: &ParticipantId, source: TrackSource) -> String {
    let source = source.as_str();
    // Participant ids are base64url (spec §1), safe in a file name; anything
    // else a server might send is replaced.
    let id: String = participant
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{id}-{source}")
}

#[derive(Debug)]
enum Sink {
    Ivf(IvfWriter<BufWriter<File>>),
    Ogg(OggOpusWriter<BufWriter<File>>),
}

/// Records one track. The file is created on the first frame that can
/// start it (a VP8 keyframe; any Opus packet).
#[derive(Debug)]
pub struct TrackRecorder {
    path: PathBuf,
    codec: Codec,
    sink: Option<Sink>,
    first_ts: u32,
    last_ts: u32,
    /// RTP ticks from the first frame to the last, unwrapped.
    elapsed: u64,
}

impl TrackRecorder {
    /// A recorder that will write `dir/<participant>-<source>.ivf|.ogg`
    /// (with `-2`, `-3`... appended if that file exists).
    pub fn new(dir: &Path, participant: &ParticipantId, source: TrackSource, codec: Codec) -> Self {
        let ext = if codec == Codec::Opus { "ogg" } else { "ivf" };
        let stem = file_stem(participant, source);
        let mut path = dir.join(format!("{stem}.{ext}"));
        let mut n = 2;
        while path.exists() {
            path = dir.join(format!("{stem}-{n}.{ext}"));
            n += 1;
        }
        TrackRecorder {
            path,
            codec,
            sink: None,
            first_ts: 0,
            last_ts: 0,
            elapsed: 0,
        }
    }

    /// Where the recording goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames written so far.
    pub fn frames(&self) -> u32 {
        match &self.sink {
            None => 0,
            Some(Sink::Ivf(w)) => w.frames(),
            Some(Sink::Ogg(w)) => w.packets(),
        }
    }

    /// Whether the file has started (a frame that can start it was seen).
    pub fn started(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes a decrypted frame with its RTP timestamp. Frames before the
    /// first keyframe are skipped (returns `Ok(false)`).
    pub fn write(&mut self, rtp_ts: u32, frame: &[u8]) -> io::Result<bool> {
        if self.sink.is_none() {
            let Some(sink) = self.open(frame)? else {
                return Ok(false);
            };
            self.sink = Some(sink);
            self.first_ts = rtp_ts;
            self.last_ts = rtp_ts;
        }
        // Timestamps only move forward in a recording; a frame older than
        // the last one (it should not happen) is written at the same time.
        let step = i64::from(rtp_ts.wrapping_sub(self.last_ts) as i32);
        if step > 0 {
            self.elapsed += step as u64;
            self.last_ts = rtp_ts;
        }
        match &mut self.sink {
            Some(Sink::Ivf(w)) => w.write_frame(self.elapsed, frame)?,
            Some(Sink::Ogg(w)) => {
                let samples = opus_packet_samples(frame).unwrap_or(0);
                w.write_packet(frame, self.elapsed + u64::from(samples))?;
            }
            None => {}
        }
        Ok(true)
    }

    fn open(&self, frame: &[u8]) -> io::Result<Option<Sink>> {
        match self.codec {
            Codec::Vp8 => {
                if !is_vp8_keyframe(frame) || frame.len() < 10 {
                    return Ok(None);
                }
                // RFC 6386 §9.1: 14-bit width and height after the start code.
                let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
                let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
                let header = IvfHeader {
                    fourcc: *b"VP80",
                    width,
                    height,
                    timebase_den: VP8_CLOCK_RATE,
                    timebase_num: 1,
                };
                let file = BufWriter::new(File::create(&self.path)?);
                Ok(Some(Sink::Ivf(IvfWriter::new(file, &header)?)))
            }
            Codec::Opus => {
                let Some(&toc) = frame.first() else {
                    return Ok(None);
                };
                let channels = if toc & 0x04 != 0 { 2 } else { 1 };
                let file = BufWriter::new(File::create(&self.path)?);
                Ok(Some(Sink::Ogg(OggOpusWriter::new(
                    file,
                    channels,
                    rand::random(),
                )?)))
            }
            _ => Ok(None),
        }
    }

    /// Completes the file (frame count, end of stream).
    pub fn finish(self) -> io::Result<()> {
        match self.sink {
            Some(Sink::Ivf(w)) => w.finish().map(drop),
            Some(Sink::Ogg(w)) => w.finish().map(drop),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::source::FrameSource;
    use crate::media::{fixtures, ivf, ogg};

    #[test]
    fn a_recording_starts_at_a_keyframe_and_keeps_rtp_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = ParticipantId::new("q2LcdS0Hd1n4Xb8e").expect("valid id");
        let mut r = TrackRecorder::new(dir.path(), &p, TrackSource::Camera, Codec::Vp8);
        let mut s = FrameSource::vp8_ivf(fixtures::PATTERN_IVF).expect("src");
        for _ in 0..20 {
            s.next_frame();
        }
        let mut ts = u32::MAX - 20_000; // wraps during the recording
        let mut written = Vec::new();
        for _ in 0..40 {
            let f = s.next_frame().clone();
            if r.write(ts, &f.data).expect("write") {
                written.push(f.data.clone());
            }
            ts = ts.wrapping_add(f.duration);
        }
        assert_eq!(written.len(), 30, "frames 30..45 and 0..15");
        let path = r.path().to_owned();
        assert!(path.ends_with("q2LcdS0Hd1n4Xb8e-camera.ivf"));
        r.finish().expect("finish");
        let (h, frames) = ivf::read(&std::fs::read(path).expect("read")).expect("ivf");
        assert_eq!((h.width, h.height), (320, 240));
        let datas: Vec<Vec<u8>> = frames.iter().map(|f| f.data.clone()).collect();
        assert_eq!(datas, written);
        assert!(
            frames
                .iter()
                .enumerate()
                .all(|(i, f)| f.pts == 6000 * i as u64)
        );
    }

    #[test]
    fn opus_recordings_read_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = ParticipantId::new("abc").expect("valid id");
        let mut r = TrackRecorder::new(dir.path(), &p, TrackSource::Mic, Codec::Opus);
        let mut s = FrameSource::opus_ogg(fixtures::TONE_OGG).expect("src");
        let sent: Vec<Vec<u8>> = (0..10).map(|_| s.next_frame().data.clone()).collect();
        for (i, f) in sent.iter().enumerate() {
            r.write(960 * i as u32, f).expect("write");
        }
        let path = r.path().to_owned();
        r.finish().expect("finish");
        let (_, back) = ogg::read_opus(&std::fs::read(path).expect("read")).expect("ogg");
        assert_eq!(back, sent);
        // A second recorder for the same track does not overwrite the first.
        let r2 = TrackRecorder::new(dir.path(), &p, TrackSource::Mic, Codec::Opus);
        assert!(r2.path().ends_with("abc-mic-2.ogg"));
    }
}
