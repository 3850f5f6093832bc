//! A native participant that keeps everything it saw, for assertions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sotto_client::media::fixtures;
use sotto_client::media::source::FrameSource;
use sotto_client::room::{
    Ended, Event, JoinOptions, KnockPolicy, MediaEvent, Room, RoomEvent, SentFrame, WireFrame,
};
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::EpochKeys;
use sotto_crypto::verify::RoomCode;
use sotto_proto::{ParticipantId, RoomLink, TrackSource};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How to join.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Display name (sent inside MLS only).
    pub name: String,
    /// Send the fixtures (pattern video and tone audio).
    pub send: bool,
    /// What to do with knocks.
    pub knocks: KnockPolicy,
    /// Join again as a new participant when the connection is lost.
    pub reconnect: bool,
    /// Use TURN relays only.
    pub relay_only: bool,
}

impl Spec {
    /// Sends both fixtures, asks about knocks.
    pub fn sending(name: &str) -> Spec {
        Spec {
            name: name.into(),
            send: true,
            knocks: KnockPolicy::Ask,
            reconnect: false,
            relay_only: false,
        }
    }

    /// Sends nothing.
    pub fn silent(name: &str) -> Spec {
        Spec {
            send: false,
            ..Spec::sending(name)
        }
    }
}

type Store<T> = Arc<Mutex<Vec<T>>>;

/// Keeps what comes out of `rx`; the task ends when every sender is gone.
fn collect<T: Send + 'static>(mut rx: mpsc::UnboundedReceiver<T>) -> (Store<T>, JoinHandle<()>) {
    let store = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&store);
    let task = tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            s.lock().expect("not poisoned").push(item);
        }
    });
    (store, task)
}

/// A participant and what it saw.
pub struct Member {
    /// Its display name.
    pub name: String,
    room: Option<Room>,
    events: Store<Event>,
    wire: Store<WireFrame>,
    sent: Store<SentFrame>,
    collectors: Vec<JoinHandle<()>>,
    record: tempfile::TempDir,
}

impl Member {
    /// Starts joining `link`. Must be called within a tokio runtime.
    pub fn join(link: &RoomLink, spec: Spec) -> Member {
        let identity = Identity::generate().expect("randomness");
        let mut options = JoinOptions::new(link.clone(), identity);
        options.name = Some(spec.name.clone());
        options.knocks = spec.knocks;
        options.reconnect = spec.reconnect;
        options.relay_only = spec.relay_only;
        if spec.send {
            options.video =
                Some(FrameSource::vp8_ivf(fixtures::PATTERN_IVF).expect("the video fixture"));
            options.audio =
                Some(FrameSource::opus_ogg(fixtures::TONE_OGG).expect("the audio fixture"));
        }
        let record = tempfile::tempdir().expect("a temporary directory");
        options.record_dir = Some(record.path().to_owned());
        let (wire_tx, wire_rx) = mpsc::unbounded_channel();
        let (sent_tx, sent_rx) = mpsc::unbounded_channel();
        options.wire_tap = Some(wire_tx);
        options.sent_tap = Some(sent_tx);
        let (room, events) = Room::join(options).expect("a valid link");
        let (events, a) = collect(events);
        let (wire, b) = collect(wire_rx);
        let (sent, c) = collect(sent_rx);
        Member {
            name: spec.name,
            room: Some(room),
            events,
            wire,
            sent,
            collectors: vec![a, b, c],
            record,
        }
    }

    /// The room handle (until it left).
    pub fn room(&self) -> &Room {
        self.room.as_ref().expect("still in the room")
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("not poisoned").clone()
    }

    /// Every protected frame received so far, as the SFU forwarded it.
    pub fn wire(&self) -> Vec<WireFrame> {
        self.wire.lock().expect("not poisoned").clone()
    }

    /// Every frame sent so far, before protection.
    pub fn sent(&self) -> Vec<SentFrame> {
        self.sent.lock().expect("not poisoned").clone()
    }

    /// For each track whose frames arrived between `from` and `to`: the
    /// longest time in that window with no frame of it arriving (counting
    /// the stretch from its last frame to `to`), and when that stretch
    /// began. Frames are counted as they arrive, before they are opened.
    pub fn longest_silences(&self, from: Instant, to: Instant) -> Vec<Silence> {
        // Per track: the latest frame so far, and the longest silence.
        let mut tracks: Vec<(Instant, Silence)> = Vec::new();
        let frames = self.wire().into_iter();
        for f in frames.filter(|f| f.arrived >= from && f.arrived <= to) {
            let arrived = f.arrived;
            match tracks
                .iter_mut()
                .find(|(_, s)| s.participant == f.participant && s.source == f.source)
            {
                Some((prev, s)) => {
                    if arrived.duration_since(*prev) > s.longest {
                        s.longest = arrived.duration_since(*prev);
                        s.began = *prev;
                    }
                    *prev = arrived;
                }
                None => tracks.push((
                    arrived,
                    Silence {
                        participant: f.participant,
                        source: f.source,
                        longest: Duration::ZERO,
                        began: arrived,
                    },
                )),
            }
        }
        // And the silence since each track's last frame.
        for (prev, s) in &mut tracks {
            if to.duration_since(*prev) > s.longest {
                s.longest = to.duration_since(*prev);
                s.began = *prev;
            }
        }
        tracks.into_iter().map(|(_, s)| s).collect()
    }

    /// Where it records.
    pub fn record_dir(&self) -> &Path {
        self.record.path()
    }

    /// Our participant id, once connected.
    pub fn id(&self) -> Option<ParticipantId> {
        self.events().into_iter().find_map(|e| match e {
            Event::Room(RoomEvent::Connected { participant, .. }) => Some(participant),
            _ => None,
        })
    }

    /// Our participant id on the latest connection.
    pub fn id_now(&self) -> sotto_proto::ParticipantId {
        self.events()
            .into_iter()
            .rev()
            .find_map(|e| match e {
                Event::Room(RoomEvent::Connected { participant, .. }) => Some(participant),
                _ => None,
            })
            .expect("connected")
    }

    /// The epoch of the last `Joined`/`EpochChanged`.
    pub fn epoch(&self) -> Option<u64> {
        self.events().into_iter().rev().find_map(|e| match e {
            Event::Room(RoomEvent::Joined { epoch, .. })
            | Event::Room(RoomEvent::EpochChanged { epoch, .. }) => Some(epoch),
            _ => None,
        })
    }

    /// Whether it became a member.
    pub fn joined(&self) -> bool {
        joined(&self.events())
    }

    /// Joins from `link`, sending the fixtures, and waits until it is a
    /// member (one at a time keeps the join order, and the creator, known).
    pub async fn join_sending(link: &RoomLink, name: &str) -> Member {
        let m = Member::join(link, Spec::sending(name));
        m.wait_for("joining", crate::PATIENCE, joined).await;
        m
    }

    /// Waits until `done` holds for the events, or fails the test.
    pub async fn wait_for(&self, what: &str, patience: Duration, done: impl Fn(&[Event]) -> bool) {
        let start = tokio::time::Instant::now();
        loop {
            if done(&self.events()) {
                return;
            }
            if start.elapsed() > patience {
                panic!(
                    "{}: timed out waiting for {what}; events: {:#?}",
                    self.name,
                    self.events()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The media keys it holds now.
    pub async fn held_keys(&self) -> Vec<EpochKeys> {
        self.room().held_keys().await
    }

    /// Leaves, waits for the recordings to be finished and for the last
    /// events and frames to be kept, and says how it ended.
    pub async fn leave(&mut self) -> Ended {
        let room = self.room.take().expect("still in the room");
        let ended = tokio::time::timeout(Duration::from_secs(20), room.leave())
            .await
            .expect("leaves in time");
        for task in self.collectors.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        ended
    }

    /// Waits for the participation to end by itself.
    pub async fn finished(&mut self, patience: Duration) -> Ended {
        let room = self.room.take().expect("still in the room");
        tokio::time::timeout(patience, room.finished())
            .await
            .expect("ends in time")
    }

    /// Stops at once, telling nobody: as if the process was killed.
    pub fn kill(&mut self) {
        if let Some(room) = self.room.take() {
            room.abort();
        }
    }

    /// The recordings it made (after leaving).
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.record.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// The longest stretch in which no frame of one track arrived.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Whose track.
    pub participant: ParticipantId,
    /// Which.
    pub source: TrackSource,
    /// How long.
    pub longest: Duration,
    /// When it began (the frame before it arrived).
    pub began: Instant,
}

/// The fingerprint shown for `who`'s latest knock, if it knocked.
pub fn knock_fingerprint(
    events: &[Event],
    who: &ParticipantId,
) -> Option<sotto_crypto::verify::Fingerprint> {
    events.iter().rev().find_map(|e| match e {
        Event::Room(RoomEvent::Knock {
            participant,
            fingerprint,
        }) if participant == who => Some(fingerprint.clone()),
        _ => None,
    })
}

/// Whether `events` show that their member became one.
pub fn joined(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Room(RoomEvent::Joined { .. })))
}

/// The epoch and room code of `m`'s last `Joined`/`EpochChanged`: what it
/// shows its user to compare with the others.
pub fn room_code(m: &Member) -> Option<(u64, RoomCode)> {
    m.events().into_iter().rev().find_map(|e| match e {
        Event::Room(RoomEvent::Joined {
            epoch, room_code, ..
        })
        | Event::Room(RoomEvent::EpochChanged { epoch, room_code }) => Some((epoch, room_code)),
        _ => None,
    })
}

/// Waits until each of `members`, all sending audio and video, receives
/// every other's two tracks.
pub async fn wait_for_all_media(members: &[Member]) {
    let want = 2 * members.len().saturating_sub(1);
    for m in members {
        m.wait_for(
            "every other member's audio and video",
            crate::PATIENCE,
            |ev| {
                ev.iter()
                    .filter(|e| matches!(e, Event::Media(MediaEvent::Started { .. })))
                    .count()
                    >= want
            },
        )
        .await;
    }
}
