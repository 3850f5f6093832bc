//! A server that cheats: it cannot get anyone in or split the room without
//! members noticing, and every member refuses what it forges and stays
//! consistent with the others.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_crypto::session::{Output, Session, SessionConfig};
use sotto_participant::{EndReason, Event, Status};
use sotto_proto::{ClientMessage, ServerMessage};

use crate::harness::{Handle, Room, pid};

/// A KeyPackage the server makes for `id` with a key of its own.
fn server_made_key_package(
    room: &Room,
    id: &sotto_crypto::ParticipantId,
    secret: Option<&RoomSecret>,
) -> (Vec<u8>, Identity) {
    let identity = Identity::generate().expect("identity");
    let mut s = Session::join(
        SessionConfig::default(),
        &identity,
        id.clone(),
        room.name.as_str(),
        secret,
    )
    .expect("join");
    match s.poll_output() {
        Some(Output::KeyPackage(kp)) => (kp, identity),
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_packages_without_a_valid_tag_are_only_knocks() {
    let (mut room, ids) = Room::of_size(3);
    let epoch = room.ds.epoch;
    let plain = room.connect(false);
    let wrong_secret = RoomSecret::from_bytes([7; 16]);
    let config = room.config;
    let guessed = room.connect_with(
        Identity::generate().expect("id"),
        Some(wrong_secret),
        config,
    );
    room.settle();
    assert_eq!(room.ds.epoch, epoch, "no member committed either");
    for m in &ids {
        let knocks: Vec<_> = room
            .get(m)
            .knocks_seen()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(knocks, vec![plain.clone(), guessed.clone()]);
    }
    room.assert_consistent();
    room.assert_no_errors();
}

#[test]
fn a_swapped_key_package_shows_up_as_a_knock_with_another_fingerprint() {
    let (mut room, ids) = Room::of_size(2);
    let epoch = room.ds.epoch;
    let secret = room.secret.clone();
    let (j, _genuine) = room.connect_silently(Identity::generate().expect("id"), Some(secret));
    let (forged, server_identity) = server_made_key_package(&room, &j, None);
    room.server_receive(
        &j,
        ClientMessage::KeyPackage {
            key_package: forged,
        },
    );
    room.settle();
    assert_eq!(room.ds.epoch, epoch, "not admitted");
    let real = room.get(&j).identity_fingerprint.clone();
    for m in &ids {
        let seen = room.get(m).knocks_seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, j);
        assert_ne!(
            seen[0].1,
            real.digits(),
            "the fingerprint gives the swap away"
        );
        assert_eq!(seen[0].1, server_identity.fingerprint().digits());
    }
    room.assert_consistent();
}

#[test]
fn a_key_package_relayed_under_another_name_or_again_is_refused() {
    let (mut room, ids) = Room::of_size(3);
    let a = ids[0].clone();
    let secret = room.secret.clone();
    let (j, kp) = room.connect_silently(Identity::generate().expect("id"), Some(secret));
    let refused = |room: &Room| {
        let w = room.get(&a).last_warning();
        assert!(w.contains("unusable KeyPackage"), "{w}");
    };
    // j's KeyPackage announced as somebody else's.
    room.deliver(
        &a,
        ServerMessage::JoinRequest {
            participant: pid("impostor"),
            key_package: kp.clone(),
        },
    );
    refused(&room);
    room.server_receive(
        &j,
        ClientMessage::KeyPackage {
            key_package: kp.clone(),
        },
    );
    room.settle();
    assert!(room.ds.members.contains(&j));
    // The same KeyPackage again, for the member it made, or after it left.
    room.deliver(
        &a,
        ServerMessage::JoinRequest {
            participant: j.clone(),
            key_package: kp.clone(),
        },
    );
    refused(&room);
    room.disconnect(&j);
    room.settle();
    room.deliver(
        &a,
        ServerMessage::JoinRequest {
            participant: j.clone(),
            key_package: kp,
        },
    );
    refused(&room);
    let epoch = room.ds.epoch;
    room.settle();
    assert_eq!(room.ds.epoch, epoch);
    room.assert_consistent();
}

#[test]
fn replayed_commits_are_refused() {
    let (mut room, ids) = Room::of_size(4);
    let b = ids[1].clone();
    let epoch = room.ds.epoch;
    let code = room.get(&b).participant.room_code();
    let old = room.ds.won[1].clone();
    for claimed in [old.epoch, epoch] {
        room.deliver(
            &b,
            ServerMessage::Commit {
                from: old.from.clone(),
                epoch: claimed,
                commit: old.commit.clone(),
            },
        );
        let w = room.get(&b).last_warning();
        assert!(w.contains("commit for epoch"), "WrongEpoch: {w}");
        assert_eq!(room.get(&b).participant.epoch(), Some(epoch));
        assert_eq!(room.get(&b).participant.room_code(), code);
    }
    room.get_mut(&b).clear_warnings();
    room.connect(true);
    room.settle();
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn reordered_commits_are_refused_and_the_member_catches_up() {
    let (mut room, ids) = Room::of_size(3);
    let c = ids[2].clone();
    let epoch = room.ds.epoch;
    room.hold.insert(c.clone());
    room.connect(true);
    room.settle();
    room.connect(true);
    room.settle();
    assert_eq!(room.ds.epoch, epoch + 2);
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let commits: Vec<ServerMessage> = held
        .iter()
        .filter(|(_, m)| matches!(m, ServerMessage::Commit { .. }))
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(commits.len(), 2);
    let wrong_epoch = |room: &Room| {
        let w = room.get(&c).last_warning();
        assert!(w.contains("commit for epoch"), "WrongEpoch: {w}");
    };
    // The later commit first, with its true epoch and with a lie.
    room.deliver(&c, commits[1].clone());
    wrong_epoch(&room);
    if let ServerMessage::Commit { from, commit, .. } = commits[1].clone() {
        room.deliver(
            &c,
            ServerMessage::Commit {
                from,
                epoch,
                commit,
            },
        );
        wrong_epoch(&room);
    }
    assert_eq!(room.get(&c).participant.epoch(), Some(epoch));
    room.get_mut(&c).clear_warnings();
    // Then everything in the server's order: c catches up (at once, well
    // within the grace a member that saw a later commit gives the ones it
    // missed).
    for (to, m) in held {
        room.deliver(&to, m);
    }
    room.settle();
    room.assert_consistent();
    room.assert_media_flows();
}

#[test]
fn forged_welcomes_are_refused_and_the_real_one_still_works() {
    let (mut room, ids) = Room::of_size(2);
    let j = room.connect(true);
    room.hold.insert(j.clone());
    room.settle();
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let Some((
        _,
        ServerMessage::Welcome {
            from,
            epoch,
            welcome,
        },
    )) = held
        .iter()
        .find(|(_, m)| matches!(m, ServerMessage::Welcome { .. }))
        .cloned()
    else {
        panic!("no welcome held")
    };
    // A Welcome from another room (for another KeyPackage).
    let (other, _) = Room::of_size(2);
    let foreign = other.ds.won[0].welcome.clone().expect("welcome");
    let mut forgeries = vec![
        Vec::new(),
        vec![0; 40],
        foreign,
        welcome[..welcome.len() / 2].to_vec(),
    ];
    for i in [10, welcome.len() / 3, welcome.len() - 1] {
        let mut w = welcome.clone();
        w[i] ^= 0x40;
        forgeries.push(w);
    }
    let waiting = Status::Waiting { knocking: false };
    for f in forgeries {
        room.deliver(
            &j,
            ServerMessage::Welcome {
                from: from.clone(),
                epoch,
                welcome: f,
            },
        );
        assert_eq!(room.get(&j).participant.status(), waiting);
    }
    assert!(!room.get(&j).warnings().is_empty());
    // The real Welcome, relayed as from someone else.
    room.deliver(
        &j,
        ServerMessage::Welcome {
            from: ids[1].clone(),
            epoch,
            welcome: welcome.clone(),
        },
    );
    let w = room.get(&j).last_warning();
    assert!(w.contains("relayed as from"), "SenderMismatch: {w}");
    room.get_mut(&j).clear_warnings();
    for (to, m) in held {
        room.deliver(&to, m);
    }
    room.settle();
    assert_eq!(room.get(&j).participant.status(), Status::Member);
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

/// The server, without SECRET, makes a group itself (with openmls and the
/// sotto profile, minus a room binding it cannot compute) and welcomes a
/// joiner's KeyPackage into it.
fn ghost_welcome(key_package: &[u8], with_fake_binding: bool) -> Vec<u8> {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).expect("key");
    let credential = CredentialWithKey {
        credential: BasicCredential::new(b"ghost".to_vec()).into(),
        signature_key: signer.public().into(),
    };
    let ext = |t| ExtensionType::Unknown(t);
    let caps = Capabilities::new(None, None, Some(&[ext(0xF50A), ext(0xF50B)]), None, None);
    let mut gc = vec![];
    if with_fake_binding {
        gc.push(Extension::Unknown(0xF50B, UnknownExtension(vec![0x55; 32])));
    }
    let mut group = MlsGroup::builder()
        .ciphersuite(Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
        .with_wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .with_capabilities(caps)
        .with_group_context_extensions(Extensions::from_vec(gc).expect("extensions"))
        .build(&provider, &signer, credential)
        .expect("group");
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(key_package)
        .expect("kp")
        .extract()
    else {
        panic!("not a key package")
    };
    let kp = kp
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .expect("valid");
    let (_, welcome, _) = group.add_members(&provider, &signer, &[kp]).expect("add");
    welcome.tls_serialize_detached().expect("bytes")
}

/// A room whose only member never lets anyone in (the server holds what
/// is for it), and a participant waiting in it. (The old fake server let
/// a joiner wait in an empty room; the real one makes the first to come
/// the creator, so someone must be there first.)
fn waiting_in_a_room(with_secret: bool) -> (Room, Handle) {
    let mut room = Room::new();
    let a = room.create();
    room.settle();
    room.hold.insert(a);
    let j = room.connect(with_secret);
    (room, j)
}

#[test]
fn a_group_the_server_made_itself_is_refused_by_link_holders() {
    for fake_binding in [false, true] {
        let (mut room, j) = waiting_in_a_room(true);
        let kp = room.ds.key_packages[&j].clone();
        let welcome = ghost_welcome(&kp, fake_binding);
        room.deliver(
            &j,
            ServerMessage::Welcome {
                from: pid("ghost"),
                epoch: 1,
                welcome,
            },
        );
        // The session refuses the group (`GhostRoom`) and ends; the
        // participant ends with it, saying why.
        let c = room.get(&j);
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert_eq!(c.ended(), Some(&EndReason::GhostRoom));
        assert_eq!(c.participant.status(), Status::Ended(EndReason::GhostRoom));
        assert!(c.events.contains(&Event::Ended(EndReason::GhostRoom)));
        assert!(
            c.given_keys.is_empty() && c.ring.held_keys().is_empty(),
            "no key of the ghost group reached the ring"
        );
    }
}

#[test]
fn a_knocker_cannot_tell_a_ghost_group() {
    // Documented limitation (spec/mls-profile.md, "Room binding"): without
    // SECRET there is nothing to check; the knocker relies on comparing
    // fingerprints with the member who let it in.
    let (mut room, k) = waiting_in_a_room(false);
    let kp = room.ds.key_packages[&k].clone();
    room.deliver(
        &k,
        ServerMessage::Welcome {
            from: pid("ghost"),
            epoch: 1,
            welcome: ghost_welcome(&kp, false),
        },
    );
    assert_eq!(room.get(&k).participant.status(), Status::Member);
}
