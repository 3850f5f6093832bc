//! Every parser fed truncated and bit-flipped input: typed errors, never a
//! panic, and the session still accepts the genuine message afterwards.

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::app::AppMessage;
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::{EpochKeys, TrackSource};
use sotto_crypto::media::Codec;
use sotto_participant::Status;
use sotto_proto::ServerMessage;

use crate::harness::Room;

/// Truncations and single-bit flips spread over the input (all of them for
/// short inputs), plus trailing garbage.
fn mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
    let n = bytes.len();
    let step = (n / 48).max(1);
    let mut out = Vec::new();
    for len in (0..n).step_by(step) {
        out.push(bytes[..len].to_vec());
    }
    for i in (0..n).step_by(step).chain([n.saturating_sub(1)]) {
        for bit in [0, 3, 7] {
            let mut m = bytes.to_vec();
            m[i] ^= 1 << bit;
            out.push(m);
        }
    }
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[0, 1, 2]);
    out.push(longer);
    out
}

#[test]
fn mls_inputs_never_panic_and_never_break_the_session() {
    let (mut room, ids) = Room::of_size(2);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    room.hold.insert(b.clone());
    let j = room.connect(true);
    room.hold.insert(j.clone());
    let kp = room.ds.key_packages[&j].clone();
    room.settle();
    let now = room.now;
    room.get_mut(&a)
        .participant
        .send_chat("hello", now)
        .expect("chat");
    room.settle();
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let epoch = room.get(&b).participant.epoch();

    for (to, msg) in &held {
        let variants: Vec<ServerMessage> = match msg {
            ServerMessage::JoinRequest {
                participant,
                key_package,
            } => mutations(key_package)
                .into_iter()
                .map(|k| ServerMessage::JoinRequest {
                    participant: participant.clone(),
                    key_package: k,
                })
                .collect(),
            ServerMessage::Commit {
                from,
                epoch,
                commit,
            } => mutations(commit)
                .into_iter()
                .map(|c| ServerMessage::Commit {
                    from: from.clone(),
                    epoch: *epoch,
                    commit: c,
                })
                .collect(),
            ServerMessage::Welcome {
                from,
                epoch,
                welcome,
            } => mutations(welcome)
                .into_iter()
                .map(|w| ServerMessage::Welcome {
                    from: from.clone(),
                    epoch: *epoch,
                    welcome: w,
                })
                .collect(),
            ServerMessage::Application { from, data } => mutations(data)
                .into_iter()
                .map(|d| ServerMessage::Application {
                    from: from.clone(),
                    data: d,
                })
                .collect(),
            _ => Vec::new(),
        };
        let errors_before = room.get(to).warnings().len();
        let tried = variants.len();
        for v in variants {
            room.deliver(to, v);
        }
        let c = room.get(to);
        assert_eq!(
            c.warnings().len(),
            errors_before + tried,
            "{to:?}: every mutation refused"
        );
        if to == &b {
            assert_eq!(c.participant.epoch(), epoch, "b is unmoved by forgeries");
        }
        if to == &j {
            assert_eq!(c.participant.status(), Status::Waiting { knocking: false });
        }
    }
    // The genuine messages still work, in order.
    room.get_mut(&b).clear_warnings();
    room.get_mut(&j).clear_warnings();
    for (to, msg) in held {
        room.deliver(&to, msg);
    }
    room.settle();
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
    // A KeyPackage mangled on its way in is refused too.
    for k in mutations(&kp) {
        room.deliver(
            &a,
            ServerMessage::JoinRequest {
                participant: j.clone(),
                key_package: k,
            },
        );
    }
}

#[test]
fn other_parsers_never_panic() {
    let identity = Identity::from_seed([3; 32]).to_bytes();
    for m in mutations(&identity) {
        let _ = Identity::from_bytes(&m);
    }
    let keys = EpochKeys::new(
        4,
        [1; 16],
        0,
        vec![(0, crate::harness::pid("a")), (1, crate::harness::pid("b"))],
    );
    for m in mutations(&keys.to_bytes()) {
        let _ = EpochKeys::from_bytes(&m);
    }
    for m in mutations(br#"{"type":"chat","text":"hi"}"#) {
        let _ = AppMessage::decode(&m);
    }
    let fragment = RoomSecret::from_bytes([9; 16]).to_fragment();
    for m in mutations(fragment.as_bytes()) {
        if let Ok(text) = std::str::from_utf8(&m) {
            let _ = RoomSecret::from_fragment(text);
        }
    }
    let (mut room, ids) = Room::of_size(2);
    room.settle();
    let wire = room
        .get_mut(&ids[0])
        .ring
        .protect(
            Codec::Vp8,
            TrackSource::Camera,
            &[0x10, 2, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9],
        )
        .expect("protect");
    for m in mutations(&wire) {
        assert!(
            room.get_mut(&ids[1])
                .ring
                .unprotect(Codec::Vp8, &m)
                .is_err()
                || m == wire
        );
    }
}
