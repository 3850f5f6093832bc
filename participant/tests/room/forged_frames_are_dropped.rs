//! The server forwards media; here it cheats with it. It injects frames of
//! its own, replays frames it captured (at once, after a new epoch, after
//! the epoch expired, after the epoch bits wrapped), strips or rewrites
//! SFrame headers (KID, CTR, their encoding), tampers with the clear prefix
//! (VP8 frame tag and dimensions, Opus TOC) and moves frames between
//! tracks. Receivers run the ring as a client does: every such frame is
//! dropped and counted against the participant whose track carried it,
//! nothing of it is played, and genuine media keeps flowing.

use std::collections::BTreeMap;
use std::time::Duration;

use sotto_crypto::ParticipantId;
use sotto_crypto::keys::{OpenError, TrackSource};
use sotto_crypto::media::{Codec, MediaError, clear_prefix_len};
use sotto_crypto::sframe::{self, Counter, Header, KeyId};

use crate::harness::Room;

/// Why a receiver dropped a frame.
#[derive(Debug, PartialEq, Eq)]
enum Dropped {
    /// It did not parse, authenticate or pass the replay window.
    Media(MediaError),
    /// It opened, but with another member's key than the track owner's.
    WrongSender(ParticipantId),
    /// It opened with the owner's key for another of its sources.
    WrongSource(TrackSource),
}

/// One receiving member, as sotto-client runs it: a frame that arrived on
/// `owner`'s `source` track is opened with the ring, checked against the
/// track, and otherwise dropped and counted per track owner.
struct Receiver {
    id: ParticipantId,
    failures: BTreeMap<ParticipantId, u32>,
}

impl Receiver {
    fn new(id: &ParticipantId) -> Receiver {
        Receiver {
            id: id.clone(),
            failures: BTreeMap::new(),
        }
    }

    fn receive(
        &mut self,
        room: &mut Room,
        owner: &ParticipantId,
        source: TrackSource,
        codec: Codec,
        wire: &[u8],
    ) -> Result<Vec<u8>, Dropped> {
        let r = room
            .get_mut(&self.id)
            .ring
            .unprotect_on_track(codec, owner, source, wire)
            .map_err(|e| match e {
                OpenError::Media(e) => Dropped::Media(e),
                OpenError::WrongSender(p) => Dropped::WrongSender(p),
                OpenError::WrongSource(s) => Dropped::WrongSource(s),
                e => panic!("{e:?}"),
            });
        if r.is_err() {
            *self.failures.entry(owner.clone()).or_default() += 1;
        }
        r
    }

    fn failures(&self, owner: &ParticipantId) -> u32 {
        self.failures.get(owner).copied().unwrap_or(0)
    }
}

const SECRET_BODY: &[u8] = b"PLAINTEXT-MARKER what the camera saw";

/// A VP8 keyframe (RFC 6386 §9.1: tag with the keyframe bit clear, start
/// code 9d 01 2a, 640x480), a delta frame, and an Opus frame (TOC 0xfc).
fn vp8_keyframe() -> Vec<u8> {
    let mut f = vec![0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01];
    f.extend_from_slice(SECRET_BODY);
    f
}

fn vp8_delta() -> Vec<u8> {
    let mut f = vec![0x31, 0x07, 0x00];
    f.extend_from_slice(SECRET_BODY);
    f
}

fn opus() -> Vec<u8> {
    let mut f = vec![0xFC];
    f.extend_from_slice(SECRET_BODY);
    f
}

/// A protected frame split into clear prefix, SFrame header and the rest.
struct Parts {
    prefix: Vec<u8>,
    header: Header,
    header_len: usize,
    body: Vec<u8>,
}

fn split(codec: Codec, wire: &[u8]) -> Parts {
    let n = clear_prefix_len(codec, wire).expect("prefix");
    let (header, header_len) = Header::decode(&wire[n..]).expect("header");
    Parts {
        prefix: wire[..n].to_vec(),
        header,
        header_len,
        body: wire[n + header_len..].to_vec(),
    }
}

fn join(prefix: &[u8], header: &[u8], body: &[u8]) -> Vec<u8> {
    [prefix, header, body].concat()
}

/// KID and CTR each in 8 bytes: a valid layout, but not the minimal
/// encoding RFC 9605 §4.3 requires.
fn wide_header(h: Header) -> Vec<u8> {
    let mut out = vec![0x80 | 7 << 4 | 0x08 | 7];
    out.extend_from_slice(&h.kid.0.to_be_bytes());
    out.extend_from_slice(&h.ctr.0.to_be_bytes());
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn injected_rewritten_and_moved_frames_are_dropped_and_counted_per_track() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let mut rx = Receiver::new(&b);
    let mut forged = 0;
    let mut refuse = |room: &mut Room, rx: &mut Receiver, source, codec, wire: &[u8], why: &str| {
        let e = rx.receive(room, &a, source, codec, wire).expect_err(why);
        forged += 1;
        e
    };
    let cam = TrackSource::Camera;
    let mic = TrackSource::Mic;
    let key = room
        .get_mut(&a)
        .ring
        .protect(Codec::Vp8, cam, &vp8_keyframe())
        .expect("protect");
    let delta = room
        .get_mut(&a)
        .ring
        .protect(Codec::Vp8, cam, &vp8_delta())
        .expect("protect");
    let voice = room
        .get_mut(&a)
        .ring
        .protect(Codec::Opus, mic, &opus())
        .expect("protect");
    for wire in [&key, &delta, &voice] {
        assert!(!contains(wire, SECRET_BODY), "the server sees no plaintext");
    }
    let kp = split(Codec::Vp8, &key);
    let dp = split(Codec::Vp8, &delta);
    let a_cam_kid = kp.header.kid;
    let epoch = room.get(&a).participant.epoch().expect("epoch");
    let keys = room
        .get(&b)
        .participant
        .session()
        .and_then(|s| s.epoch_keys())
        .expect("keys");
    let layout = keys.layout();
    let leaf_of = |p: &ParticipantId| {
        keys.members()
            .iter()
            .find(|(_, m)| m == p)
            .map(|(l, _)| *l)
            .expect("member")
    };

    // 1. Injected: plaintext frames, random bytes under a's real KID with a
    // fresh counter, and KIDs of b itself, of an empty leaf, of an epoch
    // nobody holds, of no valid context.
    refuse(
        &mut room,
        &mut rx,
        cam,
        Codec::Vp8,
        &vp8_keyframe(),
        "plain",
    );
    refuse(&mut room, &mut rx, mic, Codec::Opus, &opus(), "plain opus");
    let fresh = Header::new(a_cam_kid, Counter(1000)).encode();
    let noise: Vec<u8> = (0..60u8).map(|i| i.wrapping_mul(37)).collect();
    let e = refuse(
        &mut room,
        &mut rx,
        cam,
        Codec::Vp8,
        &join(&kp.prefix, fresh.as_bytes(), &noise),
        "noise",
    );
    assert_eq!(
        e,
        Dropped::Media(MediaError::Sframe(sframe::Error::Authentication))
    );
    let empty_leaf = 3; // three members: leaves 0..=2, S = 2
    for kid in [
        layout.kid(cam, leaf_of(&b), epoch).expect("kid"),
        layout.kid(cam, empty_leaf, epoch).expect("kid"),
        layout.kid(cam, leaf_of(&a), epoch + 5).expect("kid"),
        KeyId(a_cam_kid.0 | 7 << 40),
    ] {
        let h = Header::new(kid, Counter(5)).encode();
        let e = refuse(
            &mut room,
            &mut rx,
            cam,
            Codec::Vp8,
            &join(&kp.prefix, h.as_bytes(), &kp.body),
            "foreign KID",
        );
        assert_eq!(
            e,
            Dropped::Media(MediaError::Sframe(sframe::Error::UnknownKeyId(kid)))
        );
    }

    // 2. Headers stripped or rewritten.
    refuse(
        &mut room,
        &mut rx,
        cam,
        Codec::Vp8,
        &join(&dp.prefix, &[], &dp.body),
        "header stripped",
    );
    for kid in [
        layout.kid(mic, leaf_of(&a), epoch).expect("kid"),
        layout.kid(cam, leaf_of(&c), epoch).expect("kid"),
    ] {
        let h = Header::new(kid, dp.header.ctr).encode();
        refuse(
            &mut room,
            &mut rx,
            cam,
            Codec::Vp8,
            &join(&dp.prefix, h.as_bytes(), &dp.body),
            "KID rewritten",
        );
    }
    for ctr in [0, 2, 99, u64::MAX] {
        let h = Header::new(dp.header.kid, Counter(ctr)).encode();
        refuse(
            &mut room,
            &mut rx,
            cam,
            Codec::Vp8,
            &join(&dp.prefix, h.as_bytes(), &dp.body),
            "CTR rewritten",
        );
    }
    let e = refuse(
        &mut room,
        &mut rx,
        cam,
        Codec::Vp8,
        &join(&dp.prefix, &wide_header(dp.header), &dp.body),
        "non-minimal header",
    );
    assert!(matches!(
        e,
        Dropped::Media(MediaError::Sframe(sframe::Error::Header(_)))
    ));
    assert_eq!(dp.header_len, 2, "KID > 7 takes one byte, CTR 1 fits in");

    // 3. The clear prefix tampered with: the VP8 keyframe bit (which also
    // changes the prefix length), the dimensions, the Opus TOC.
    let mut m = key.clone();
    m[0] |= 1;
    refuse(&mut room, &mut rx, cam, Codec::Vp8, &m, "keyframe bit");
    let mut m = key.clone();
    m[6] ^= 0x40;
    refuse(&mut room, &mut rx, cam, Codec::Vp8, &m, "width");
    let mut m = delta.clone();
    m[0] &= !1;
    refuse(
        &mut room,
        &mut rx,
        cam,
        Codec::Vp8,
        &m,
        "delta made a keyframe",
    );
    let mut m = voice.clone();
    m[0] = 0x78;
    refuse(&mut room, &mut rx, mic, Codec::Opus, &m, "TOC");

    // None of that moved the replay window: the genuine frames open, once.
    let got = rx
        .receive(&mut room, &a, cam, Codec::Vp8, &key)
        .expect("genuine keyframe");
    assert_eq!(got, vp8_keyframe());
    rx.receive(&mut room, &a, cam, Codec::Vp8, &delta)
        .expect("genuine delta");
    rx.receive(&mut room, &a, mic, Codec::Opus, &voice)
        .expect("genuine voice");

    // 4. Replayed at once.
    for (source, codec, wire) in [(cam, Codec::Vp8, &key), (mic, Codec::Opus, &voice)] {
        let e = refuse(&mut room, &mut rx, source, codec, wire, "replay");
        assert!(
            matches!(
                e,
                Dropped::Media(MediaError::Sframe(sframe::Error::Replay { .. }))
            ),
            "{e:?}"
        );
    }

    // 5. Moved between tracks: a's camera on its microphone track (as
    // VP8), c's genuine camera frame on a's camera track.
    let cam2 = room
        .get_mut(&a)
        .ring
        .protect(Codec::Vp8, cam, &vp8_delta())
        .expect("protect");
    let e = refuse(&mut room, &mut rx, mic, Codec::Vp8, &cam2, "source swap");
    assert_eq!(e, Dropped::WrongSource(cam));
    let from_c = room
        .get_mut(&c)
        .ring
        .protect(Codec::Vp8, cam, &vp8_delta())
        .expect("protect");
    let e = refuse(&mut room, &mut rx, cam, Codec::Vp8, &from_c, "track swap");
    assert_eq!(e, Dropped::WrongSender(c.clone()));
    // The moved frames spent nobody's replay slot: each still opens on its
    // own track (a moved frame used to be opened first, and its genuine
    // copy then refused as a replay).
    rx.receive(&mut room, &a, cam, Codec::Vp8, &cam2)
        .expect("a's camera frame on a's camera track");
    rx.receive(&mut room, &c, cam, Codec::Vp8, &from_c)
        .expect("c's camera frame on c's camera track");

    assert_eq!(rx.failures(&a), forged);
    assert_eq!(rx.failures(&c), 0, "counted against the track, not the KID");
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn captured_frames_replayed_later_are_dropped() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let mut rx = Receiver::new(&b);
    let cam = TrackSource::Camera;
    let epoch = room.ds.epoch;
    let frame = |room: &mut Room| {
        room.get_mut(&a)
            .ring
            .protect(Codec::Vp8, cam, &vp8_delta())
            .expect("protect")
    };
    // seen: b got it; withheld: the server kept it back, to release later.
    let seen = frame(&mut room);
    let withheld = [frame(&mut room), frame(&mut room), frame(&mut room)];
    rx.receive(&mut room, &a, cam, Codec::Vp8, &seen)
        .expect("genuine");

    // A new epoch: the old one still decrypts for a while, but a replay
    // does not; a frame withheld so far still plays (late, not forged).
    room.connect(true);
    room.settle();
    assert_eq!(room.ds.epoch, epoch + 1);
    let e = rx.receive(&mut room, &a, cam, Codec::Vp8, &seen);
    assert!(
        matches!(
            e,
            Err(Dropped::Media(MediaError::Sframe(
                sframe::Error::Replay { .. }
            )))
        ),
        "{e:?}"
    );
    rx.receive(&mut room, &a, cam, Codec::Vp8, &withheld[0])
        .expect("a late frame of the previous epoch");

    // Once the retention has passed, the epoch is gone.
    room.advance(Duration::from_secs(11));
    assert!(!room.get(&b).ring.epochs().any(|e| e == epoch));
    let e = rx.receive(&mut room, &a, cam, Codec::Vp8, &withheld[1]);
    assert!(
        matches!(
            e,
            Err(Dropped::Media(MediaError::Sframe(
                sframe::Error::UnknownKeyId(_)
            )))
        ),
        "{e:?}"
    );

    // 16 epochs later the KID's low bits name an epoch again: the frame
    // maps to that epoch's keys and does not open, or, when its leaf bits
    // now name another member, is refused as that member's frame before
    // it is opened.
    while room.ds.epoch < epoch + 16 {
        let j = room.connect(true);
        room.settle();
        if room.ds.epoch < epoch + 16 {
            room.disconnect(&j);
            room.settle();
        }
    }
    assert!(room.get(&b).ring.epochs().any(|e| e == epoch + 16));
    let e = rx.receive(&mut room, &a, cam, Codec::Vp8, &withheld[2]);
    assert!(
        matches!(
            e,
            Err(Dropped::Media(MediaError::Sframe(
                sframe::Error::Authentication | sframe::Error::UnknownKeyId(_)
            ))) | Err(Dropped::WrongSender(_))
        ),
        "{e:?}"
    );
    assert_eq!(rx.failures(&a), 3);
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}
