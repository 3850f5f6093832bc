//! Recordings read back and compared with what was sent.

use std::path::Path;

use sotto_client::media::record::file_stem;
use sotto_client::media::{ivf, ogg};
use sotto_client::room::SentFrame;
use sotto_proto::{ParticipantId, TrackSource};

/// The frames of `dir/<participant>-<source>.ivf|.ogg`, in file order
/// (empty if there is no such recording).
pub fn recorded(dir: &Path, participant: &ParticipantId, source: TrackSource) -> Vec<Vec<u8>> {
    read_recording(dir, &file_stem(participant, source), source).unwrap_or_default()
}

/// Every recording of `participant`'s `source`, oldest first: the track
/// received again (on a new connection) is recorded to `…-2`, `…-3`.
pub fn recordings_of(
    dir: &Path,
    participant: &ParticipantId,
    source: TrackSource,
) -> Vec<Vec<Vec<u8>>> {
    let stem = file_stem(participant, source);
    let mut all: Vec<Vec<Vec<u8>>> = read_recording(dir, &stem, source).into_iter().collect();
    for n in 2.. {
        match read_recording(dir, &format!("{stem}-{n}"), source) {
            Some(frames) => all.push(frames),
            None => break,
        }
    }
    all
}

fn read_recording(dir: &Path, stem: &str, source: TrackSource) -> Option<Vec<Vec<u8>>> {
    Some(match source {
        TrackSource::Mic | TrackSource::ScreenAudio => {
            let bytes = std::fs::read(dir.join(format!("{stem}.ogg"))).ok()?;
            ogg::read_opus(&bytes).expect("a valid Ogg Opus file").1
        }
        _ => {
            let bytes = std::fs::read(dir.join(format!("{stem}.ivf"))).ok()?;
            ivf::read(&bytes)
                .expect("a valid IVF file")
                .1
                .into_iter()
                .map(|f| f.data)
                .collect()
        }
    })
}

/// The frames `sender` sent on `source`, in order.
pub fn sent_on(sent: &[SentFrame], source: TrackSource) -> Vec<Vec<u8>> {
    sent.iter()
        .filter(|f| f.source == source)
        .map(|f| f.data.clone())
        .collect()
}

/// Where `recorded` sits in `sent` as one unbroken run: every recorded
/// frame equal, byte for byte, to the frame sent at the same place, none
/// missing in between. `None` if there is no such place.
pub fn unbroken_run_in(sent: &[Vec<u8>], recorded: &[Vec<u8>]) -> Option<usize> {
    if recorded.is_empty() || recorded.len() > sent.len() {
        return None;
    }
    (0..=sent.len() - recorded.len()).find(|&start| {
        sent[start..start + recorded.len()]
            .iter()
            .zip(recorded)
            .all(|(s, r)| s == r)
    })
}

/// Pieces of every fixture frame past its clear prefix (which is sent in
/// the clear on purpose: 10 bytes of VP8 keyframes, 1 of Opus): what a
/// plaintext frame would leave in a capture.
pub fn plaintext_needles() -> Vec<Vec<u8>> {
    use sotto_client::media::fixtures;
    use sotto_client::media::source::FrameSource;
    let video = FrameSource::vp8_ivf(fixtures::PATTERN_IVF).expect("video fixture");
    let audio = FrameSource::opus_ogg(fixtures::TONE_OGG).expect("audio fixture");
    let pieces = |src: &FrameSource, skip: usize| -> Vec<Vec<u8>> {
        src.frames()
            .iter()
            .filter(|f| f.data.len() >= skip + 12)
            .map(|f| f.data[skip..(skip + 24).min(f.data.len())].to_vec())
            .collect()
    };
    let mut needles = pieces(&video, 10);
    needles.extend(pieces(&audio, 1));
    needles.sort();
    needles.dedup();
    needles
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Why `recorded` is not an unbroken run of `sent`: where the longest
/// matching beginning breaks off, and what follows.
pub fn explain_break(sent: &[Vec<u8>], recorded: &[Vec<u8>]) -> String {
    let mut best = (0, 0);
    for start in 0..sent.len() {
        let n = sent[start..]
            .iter()
            .zip(recorded)
            .take_while(|(s, r)| s == r)
            .count();
        if n > best.1 {
            best = (start, n);
        }
    }
    let (start, n) = best;
    let next = recorded.get(n).map(|f| {
        sent.iter()
            .enumerate()
            .skip(start + n)
            .find(|(_, s)| *s == f)
            .map(|(i, _)| i)
    });
    format!(
        "recorded[0..{n}] = sent[{start}..{}]; recorded[{n}] matches sent[{next:?}]",
        start + n
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_must_be_unbroken_and_exact() {
        let sent: Vec<Vec<u8>> = (0u8..10).map(|i| vec![i; 3]).collect();
        assert_eq!(unbroken_run_in(&sent, &sent[3..7]), Some(3));
        let mut gap = sent[3..7].to_vec();
        gap.remove(1);
        assert_eq!(unbroken_run_in(&sent, &gap), None);
        let mut altered = sent[3..7].to_vec();
        altered[2][1] ^= 1;
        assert_eq!(unbroken_run_in(&sent, &altered), None);
        assert_eq!(unbroken_run_in(&sent, &[]), None);
    }
}
