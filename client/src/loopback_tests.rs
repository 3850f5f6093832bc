//! The media path end to end without a server: our `pub` connection
//! offers straight to our `sub` connection over loopback, with one
//! pre-shared key, and what is recorded must be the file that was sent.

use std::sync::Arc;
use std::time::Duration;

use sotto_crypto::media::Codec;
use sotto_proto::{ParticipantId, PcKind, SubscribedTrack, TrackSource};
use tokio::sync::mpsc;

use crate::keys::FrameCrypto;
use crate::keys::fixed::FixedKeys;
use crate::media::source::FrameSource;
use crate::media::{fixtures, ivf, ogg};
use crate::peer::{PeerEvent, PeerSetup};
use crate::publish::{Outgoing, Publisher};
use crate::subscribe::{MediaEvent, Receiving, Subscriber};

/// Whether `got` is the looped `file`, frame after frame, allowing jumps
/// only to keyframes (the sender's answer to a keyframe request).
pub(crate) fn follows_the_file(
    file: &[Vec<u8>],
    keyframes: &[bool],
    got: &[Vec<u8>],
) -> Result<(), String> {
    let mut at: Option<usize> = None;
    for (n, frame) in got.iter().enumerate() {
        let next = at.map(|i| (i + 1) % file.len());
        if next.is_some_and(|i| &file[i] == frame) {
            at = next;
            continue;
        }
        // Otherwise it must be a keyframe of the file (a jump, or the start).
        let Some(k) = (0..file.len()).find(|&i| keyframes[i] && &file[i] == frame) else {
            return Err(format!("recorded frame {n} is not a frame of the file"));
        };
        at = Some(k);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_frames_are_the_frames_sent() {
    let setup = PeerSetup {
        ice_servers: vec![],
        bind: vec!["127.0.0.1".parse().expect("ip")],
        relay_only: false,
    };
    let keys: Arc<dyn FrameCrypto> = Arc::new(FixedKeys::new([9; 16]));
    let dir = tempfile::tempdir().expect("tmp");
    let (peer_tx, mut peer_rx) = mpsc::unbounded_channel();
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();

    let video = FrameSource::vp8_ivf(fixtures::PATTERN_IVF).expect("ivf");
    let audio = FrameSource::opus_ogg(fixtures::TONE_OGG).expect("ogg");
    let mut publisher = Publisher::new(
        &setup,
        peer_tx.clone(),
        vec![
            Outgoing {
                source: TrackSource::Mic,
                frames: audio.clone(),
            },
            Outgoing {
                source: TrackSource::Camera,
                frames: video.clone(),
            },
        ],
    )
    .await
    .expect("publisher");
    let mut subscriber = Subscriber::new(
        &setup,
        peer_tx,
        Receiving {
            crypto: Arc::clone(&keys),
            record_dir: Some(dir.path().to_owned()),
            events: media_tx,
            tap: None,
        },
    )
    .await
    .expect("subscriber");

    let alice = ParticipantId::new("alice-0000000000").expect("valid id");
    let (offer, tracks) = publisher.offer().await.expect("offer");
    assert_eq!(tracks.len(), 2);
    let tracks = tracks
        .into_iter()
        .map(|t| SubscribedTrack {
            mid: t.mid,
            participant: alice.clone(),
            source: t.source,
        })
        .collect();
    let answer = subscriber
        .handle_offer(&offer, tracks)
        .await
        .expect("answer");
    publisher.apply_answer(answer).await.expect("apply");
    publisher
        .start(Arc::clone(&keys), None)
        .await
        .expect("start");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut started = 0;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, peer_rx.recv()).await {
        match ev {
            PeerEvent::Candidate {
                pc: PcKind::Pub,
                candidate: Some(c),
            } => {
                subscriber.add_candidate(c).await.expect("candidate");
            }
            PeerEvent::Candidate {
                pc: PcKind::Sub,
                candidate: Some(c),
            } => {
                publisher.add_candidate(c).await.expect("candidate");
            }
            PeerEvent::Track { track, .. } => {
                subscriber.receive(track).await;
                started += 1;
            }
            _ => {}
        }
    }
    assert_eq!(started, 2, "both tracks arrived");
    let sent = publisher.counters();
    publisher.close().await;
    subscriber.close().await;

    let mut recordings = Vec::new();
    while let Ok(ev) = media_rx.try_recv() {
        if let MediaEvent::Ended {
            source,
            frames,
            recording,
            ..
        } = ev
        {
            recordings.push((source, frames, recording.expect("recorded")));
        }
    }
    assert_eq!(recordings.len(), 2);
    for (source, frames, path) in recordings {
        let bytes = std::fs::read(&path).expect("read");
        let sent = sent[&source]
            .frames
            .load(std::sync::atomic::Ordering::Relaxed);
        match source {
            TrackSource::Camera => {
                let (_, got) = ivf::read(&bytes).expect("ivf");
                assert!(got.len() >= 30, "{} video frames", got.len());
                // Nothing missing: RTP time advances one frame (6000 ticks at
                // 90 kHz, 15 fps) from each recorded frame to the next.
                assert!(got.windows(2).all(|w| w[1].pts - w[0].pts == 6000));
                let datas: Vec<Vec<u8>> = got.into_iter().map(|f| f.data).collect();
                let file: Vec<Vec<u8>> = video.frames().iter().map(|f| f.data.clone()).collect();
                let keys: Vec<bool> = video.frames().iter().map(|f| f.keyframe).collect();
                follows_the_file(&file, &keys, &datas).expect("video");
                assert!(frames as usize >= datas.len());
                assert!(sent >= frames);
            }
            _ => {
                let (_, got) = ogg::read_opus(&bytes).expect("ogg");
                assert!(got.len() >= 150, "{} audio frames", got.len());
                let file: Vec<Vec<u8>> = audio.frames().iter().map(|f| f.data.clone()).collect();
                follows_the_file(&file, &vec![true; file.len()], &got).expect("audio");
                assert_eq!(codec_of(source), Codec::Opus);
            }
        }
    }
}

fn codec_of(source: TrackSource) -> Codec {
    match source {
        TrackSource::Mic | TrackSource::ScreenAudio => Codec::Opus,
        _ => Codec::Vp8,
    }
}

/// A connection dropped without `close` (a participation aborted, an
/// error path) must still stop: webrtc-rs keeps its driver, with the
/// sockets and the event handler, running until the connection is closed.
/// Once both drivers stop, nothing holds the event channel's sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_without_close_stop() {
    let setup = PeerSetup {
        ice_servers: vec![],
        bind: vec!["127.0.0.1".parse().expect("ip")],
        relay_only: false,
    };
    let (peer_tx, mut peer_rx) = mpsc::unbounded_channel();
    let (media_tx, _media_rx) = mpsc::unbounded_channel();
    let audio = FrameSource::opus_ogg(fixtures::TONE_OGG).expect("ogg");
    let publisher = Publisher::new(
        &setup,
        peer_tx.clone(),
        vec![Outgoing {
            source: TrackSource::Mic,
            frames: audio,
        }],
    )
    .await
    .expect("publisher");
    let subscriber = Subscriber::new(
        &setup,
        peer_tx,
        Receiving {
            crypto: Arc::new(FixedKeys::new([9; 16])),
            record_dir: None,
            events: media_tx,
            tap: None,
        },
    )
    .await
    .expect("subscriber");
    // Gathering has started: the drivers have work of their own.
    publisher.offer().await.expect("offer");
    drop(publisher);
    drop(subscriber);
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        while peer_rx.recv().await.is_some() {}
    })
    .await;
    assert!(
        stopped.is_ok(),
        "a dropped connection's driver still holds its event handler"
    );
}
