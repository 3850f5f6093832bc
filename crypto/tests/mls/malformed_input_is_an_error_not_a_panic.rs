//! Every parser fed truncated and bit-flipped input: typed errors, never a
//! panic, and the session still accepts the genuine message afterwards.

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::app::AppMessage;
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::{EpochKeys, MediaSource};
use sotto_crypto::media::Codec;
use sotto_crypto::session::State;

use crate::harness::{Room, ToClient};

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
    let kp = room.ds.waiting[&j].clone().expect("kp");
    room.settle();
    room.get_mut(&a).session.send_chat("hello").expect("chat");
    room.settle();
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let epoch = room.get(&b).session.epoch();

    for (to, msg) in &held {
        let variants: Vec<ToClient> = match msg {
            ToClient::JoinRequest {
                participant,
                key_package,
            } => mutations(key_package)
                .into_iter()
                .map(|k| ToClient::JoinRequest {
                    participant: participant.clone(),
                    key_package: k,
                })
                .collect(),
            ToClient::Commit {
                from,
                epoch,
                commit,
            } => mutations(commit)
                .into_iter()
                .map(|c| ToClient::Commit {
                    from: from.clone(),
                    epoch: *epoch,
                    commit: c,
                })
                .collect(),
            ToClient::Welcome { from, welcome } => mutations(welcome)
                .into_iter()
                .map(|w| ToClient::Welcome {
                    from: from.clone(),
                    welcome: w,
                })
                .collect(),
            ToClient::Application { from, data } => mutations(data)
                .into_iter()
                .map(|d| ToClient::Application {
                    from: from.clone(),
                    data: d,
                })
                .collect(),
            _ => Vec::new(),
        };
        let errors_before = room.get(to).errors.len();
        let tried = variants.len();
        for v in variants {
            room.deliver(to, v);
        }
        let c = room.get(to);
        assert_eq!(
            c.errors.len(),
            errors_before + tried,
            "{to:?}: every mutation refused"
        );
        if to == &b {
            assert_eq!(c.session.epoch(), epoch, "b is unmoved by forgeries");
        }
        if to == &j {
            assert_eq!(c.session.state(), State::Waiting);
        }
    }
    // The genuine messages still work, in order.
    room.get_mut(&b).errors.clear();
    room.get_mut(&j).errors.clear();
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
            ToClient::JoinRequest {
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
            MediaSource::Camera,
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
