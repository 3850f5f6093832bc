//! What a cheating server can still do, and how members see it: a ghost
//! KeyPackage carrying a copied admission tag is only a knock (and shows as
//! one if a member lets it in anyway); telling two committers that both
//! won splits the group, and the split shows in the room codes and in the
//! media; messages relayed under another name, twice, into another room or
//! to the wrong joiner are refused; a false departure removes a present
//! member, visibly, and it can come back.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use sotto_crypto::admission::{ADMISSION_TAG_EXTENSION, ROOM_BINDING_EXTENSION};
use sotto_crypto::identity::Identity;
use sotto_crypto::keys::TrackSource;
use sotto_crypto::media::Codec;
use sotto_crypto::session::{Admission, CIPHERSUITE, KEY_PACKAGE_LIFETIME_SECS};
use sotto_crypto::verify::Fingerprint;
use sotto_participant::{EndReason, Event, Status};
use sotto_proto::{ClientMessage, ServerMessage};
use std::time::Duration;

use crate::harness::Room;

/// What a member reported last; `what` names the refusal (the start of
/// the session error's message).
fn refused(room: &Room, id: &sotto_crypto::ParticipantId, what: &str) {
    let w = room.get(id).last_warning();
    assert!(w.contains(what), "{id:?}: expected {what:?}, got {w:?}");
}

/// `id`'s next commit: its timers run at `at` (a self-update is due)
/// while the server gets nothing from it, and the clock of the room does
/// not move, so nobody else commits.
fn commit_at(
    room: &mut Room,
    id: &sotto_crypto::ParticipantId,
    at: sotto_crypto::Instant,
) -> ClientMessage {
    room.gag.insert(id.clone());
    room.get_mut(id).participant.handle_timeout(at);
    room.flush();
    room.ungag(id)
        .into_iter()
        .find(|m| matches!(m, ClientMessage::Commit { .. }))
        .expect("a commit")
}

/// The admission tag in a genuine KeyPackage, as the server can read it.
fn admission_tag(key_package: &[u8]) -> Vec<u8> {
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(key_package)
        .expect("parses")
        .extract()
    else {
        panic!("not a KeyPackage")
    };
    let provider = OpenMlsRustCrypto::default();
    let kp = kp
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .expect("valid");
    kp.leaf_node()
        .extensions()
        .unknown(ADMISSION_TAG_EXTENSION)
        .expect("a link holder's KeyPackage carries a tag")
        .0
        .clone()
}

/// A KeyPackage the server makes for `participant` with a signature key of
/// its own and every sotto capability, carrying `tag`.
fn ghost_key_package(participant: &str, tag: Vec<u8>) -> (Vec<u8>, Fingerprint) {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).expect("key");
    let credential = CredentialWithKey {
        credential: BasicCredential::new(participant.as_bytes().to_vec()).into(),
        signature_key: signer.public().into(),
    };
    let sotto = [
        ExtensionType::Unknown(ADMISSION_TAG_EXTENSION),
        ExtensionType::Unknown(ROOM_BINDING_EXTENSION),
    ];
    let caps = Capabilities::new(
        Some(&[ProtocolVersion::Mls10]),
        Some(&[CIPHERSUITE]),
        Some(&sotto),
        None,
        Some(&[CredentialType::Basic]),
    );
    // With a sotto KeyPackage's lifetime: members refuse longer ones.
    let bundle = KeyPackage::builder()
        .key_package_lifetime(Lifetime::new(KEY_PACKAGE_LIFETIME_SECS))
        .leaf_node_capabilities(caps)
        .leaf_node_extensions(
            Extensions::single(Extension::Unknown(
                ADMISSION_TAG_EXTENSION,
                UnknownExtension(tag),
            ))
            .expect("extension"),
        )
        .build(CIPHERSUITE, &provider, &signer, credential)
        .expect("key package");
    let bytes = MlsMessageOut::from(bundle.key_package().clone())
        .tls_serialize_detached()
        .expect("bytes");
    (bytes, Fingerprint::of(signer.public()))
}

#[test]
fn a_ghost_key_package_with_a_copied_admission_tag_is_only_a_knock() {
    let (mut room, ids) = Room::of_size(2);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let epoch = room.ds.epoch;
    // The server reads j's tag and puts it into a KeyPackage of its own,
    // announced as j's (j's own KeyPackage never reaches anyone).
    let secret = room.secret.clone();
    let (j, genuine) = room.connect_silently(Identity::generate().expect("id"), Some(secret));
    let (ghost, ghost_fingerprint) = ghost_key_package(j.as_str(), admission_tag(&genuine));
    room.server_receive(&j, ClientMessage::KeyPackage { key_package: ghost });
    room.settle();
    assert_eq!(room.ds.epoch, epoch, "nobody commits the ghost");
    for m in [&a, &b] {
        assert_eq!(
            room.get(m).knocks_seen(),
            vec![(j.clone(), ghost_fingerprint.digits().to_owned())],
            "{m:?} sees a knock with the server's fingerprint, not j's"
        );
    }
    assert_ne!(ghost_fingerprint, room.get(&j).identity_fingerprint);

    // A member who lets it in without comparing fingerprints (accepting
    // the one it was shown): every member with the link sees it as
    // admitted by knock, and by whom.
    let now = room.now;
    room.get_mut(&b)
        .participant
        .accept_knock(&j, &ghost_fingerprint, now)
        .expect("knock waiting");
    room.hold.insert(j.clone());
    room.settle();
    assert_eq!(room.ds.epoch, epoch + 1);
    for m in [&a, &b] {
        let info = room.get(m).participant.members();
        let ghost = info.iter().find(|i| i.participant == j).expect("listed");
        assert_eq!(ghost.admission, Admission::Knock, "{m:?}");
        assert_eq!(ghost.fingerprint, ghost_fingerprint);
    }
    assert!(room.get(&a).events.iter().any(|e| matches!(
        e,
        Event::MemberAdded { participant, admission: Admission::Knock, added_by: Some(by), .. }
            if participant == &j && by == &b
    )));
    // The real j cannot use the Welcome made for the ghost's key.
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let welcome = held
        .into_iter()
        .find_map(|(_, m)| matches!(m, ServerMessage::Welcome { .. }).then_some(m))
        .expect("a Welcome for the ghost");
    room.deliver(&j, welcome);
    assert_eq!(
        room.get(&j).participant.status(),
        Status::Waiting { knocking: false }
    );
    refused(&room, &j, "MLS refused Welcome");
}

#[test]
fn telling_two_committers_both_won_splits_the_group_visibly() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let epoch = room.ds.epoch;
    // a and b both commit a self-update for the same epoch.
    let later = room.now + Duration::from_secs(15 * 60);
    let ca = commit_at(&mut room, &a, later);
    let cb = commit_at(&mut room, &b, later);
    let epoch_of = |m: &ClientMessage| match m {
        ClientMessage::Commit { epoch, .. } => *epoch,
        _ => unreachable!(),
    };
    assert_eq!((epoch_of(&ca), epoch_of(&cb)), (epoch, epoch));
    // The server: a's commit wins for a and c; b is told its own won, and
    // never hears of a's.
    room.hold.insert(b.clone());
    room.server_receive(&a, ca);
    room.advance(Duration::ZERO);
    room.held.clear();
    room.hold.clear();
    room.deliver(&b, ServerMessage::CommitAccepted { epoch });
    room.advance(Duration::ZERO); // b's ack of its epoch reaches a and c
    let code = |room: &Room, id| room.get(id).participant.room_code().expect("code");
    for id in [&a, &b, &c] {
        assert_eq!(room.get(id).participant.epoch(), Some(epoch + 1), "{id:?}");
    }
    // Same epoch number, same roster, but the room codes differ: members
    // who compare them see the split.
    assert_eq!(code(&room, &a), code(&room, &c));
    assert_ne!(code(&room, &a), code(&room, &b));
    // b's ack of its epoch was refused by a and c.
    for id in [&a, &c] {
        assert!(
            room.get(id)
                .warnings()
                .iter()
                .any(|w| w.contains("MLS refused Application")),
            "{id:?}: {:?}",
            room.get(id).warnings()
        );
    }
    // Media across the split does not open; on each side it does.
    room.advance(Duration::from_secs(2)); // senders switch to the new epoch
    let frame = [0x78, 1, 2, 3, 4, 5];
    let send = |room: &mut Room, from| {
        room.get_mut(from)
            .ring
            .protect(Codec::Opus, TrackSource::Mic, &frame)
            .expect("protect")
    };
    let from_b = send(&mut room, &b);
    let from_a = send(&mut room, &a);
    for to in [&a, &c] {
        assert!(
            room.get_mut(to)
                .ring
                .unprotect(Codec::Opus, &from_b)
                .is_err()
        );
    }
    assert!(
        room.get_mut(&b)
            .ring
            .unprotect(Codec::Opus, &from_a)
            .is_err()
    );
    assert!(
        room.get_mut(&c)
            .ring
            .unprotect(Codec::Opus, &from_a)
            .is_ok()
    );
    // b's next commit is refused by the others; a and c go on together.
    for id in [&a, &c] {
        room.get_mut(id).clear_warnings();
    }
    let later = room.now + Duration::from_secs(30 * 60);
    let ClientMessage::Commit { commit: next, .. } = commit_at(&mut room, &b, later) else {
        unreachable!()
    };
    for to in [&a, &c] {
        room.deliver(
            to,
            ServerMessage::Commit {
                from: b.clone(),
                epoch: epoch + 1,
                commit: next.clone(),
            },
        );
        refused(&room, to, "MLS refused Commit");
        room.get_mut(to).clear_warnings();
    }
    room.disconnect(&b);
    room.settle();
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn messages_relayed_under_another_name_or_twice_are_refused() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    room.hold.insert(b.clone());
    let now = room.now;
    room.get_mut(&a)
        .participant
        .send_chat("one", now)
        .expect("chat");
    room.get_mut(&a)
        .participant
        .send_chat("two", now)
        .expect("chat");
    room.settle();
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let chat: Vec<Vec<u8>> = held
        .into_iter()
        .filter_map(|(_, m)| match m {
            ServerMessage::Application { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(chat.len(), 2, "both chats held");
    let chats = |room: &Room| {
        room.get(&b)
            .events
            .iter()
            .filter(|e| matches!(e, Event::Chat { .. }))
            .count()
    };
    let relay = |room: &mut Room, from: &sotto_crypto::ParticipantId, data: &[u8]| {
        room.deliver(
            &b,
            ServerMessage::Application {
                from: from.clone(),
                data: data.to_vec(),
            },
        );
    };
    relay(&mut room, &c, &chat[1]);
    refused(&room, &b, "relayed as from");
    assert_eq!(chats(&room), 0, "a misattributed chat is not shown");
    relay(&mut room, &a, &chat[0]);
    assert_eq!(chats(&room), 1);
    relay(&mut room, &a, &chat[0]);
    refused(&room, &b, "MLS refused Application");
    assert_eq!(chats(&room), 1, "a replayed chat is not shown twice");
    // Echoed back to its author, as from itself.
    room.deliver(
        &a,
        ServerMessage::Application {
            from: a.clone(),
            data: chat[0].clone(),
        },
    );
    refused(&room, &a, "MLS refused Application");
    assert!(
        !room
            .get(&a)
            .events
            .iter()
            .any(|e| matches!(e, Event::Chat { .. }))
    );
    room.get_mut(&a).clear_warnings();

    // A commit relayed as from another member, and a commit of another
    // room's group at the same epoch.
    let epoch = room.ds.epoch;
    room.hold.insert(c.clone());
    room.connect(true);
    room.settle();
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let Some(ServerMessage::Commit { from, commit, .. }) = held
        .iter()
        .map(|(_, m)| m.clone())
        .find(|m| matches!(m, ServerMessage::Commit { .. }))
    else {
        panic!("the commit was held")
    };
    assert_eq!(from, a);
    room.deliver(
        &c,
        ServerMessage::Commit {
            from: b.clone(),
            epoch,
            commit,
        },
    );
    refused(&room, &c, "relayed as from");
    let (other, _) = Room::of_size(4);
    let foreign = other
        .ds
        .won
        .iter()
        .find(|w| w.epoch == epoch)
        .expect("a commit at the same epoch");
    room.deliver(
        &c,
        ServerMessage::Commit {
            from: a.clone(),
            epoch,
            commit: foreign.commit.clone(),
        },
    );
    refused(&room, &c, "MLS refused Commit");
    assert_eq!(room.get(&c).participant.epoch(), Some(epoch), "c unmoved");
    room.get_mut(&b).clear_warnings();
    room.get_mut(&c).clear_warnings();
    for (to, m) in held {
        room.deliver(&to, m);
    }
    room.settle();
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn a_chat_relayed_under_another_name_first_still_arrives_from_its_author() {
    // Found through the real server (tests/tests/e2e/
    // a_cheating_server_cannot_rewrite_the_group.rs): opening the renamed
    // copy used up the message's ratchet generation, so the genuine relay
    // that followed was refused as a replay and the line was lost.
    let (mut room, ids) = Room::of_size(3);
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    room.hold.insert(b.clone());
    let now = room.now;
    room.get_mut(&a)
        .participant
        .send_chat("hello", now)
        .expect("chat");
    room.settle();
    let held = std::mem::take(&mut room.held);
    room.hold.clear();
    let Some(data) = held.into_iter().find_map(|(_, m)| match m {
        ServerMessage::Application { data, .. } => Some(data),
        _ => None,
    }) else {
        panic!("the chat was held")
    };
    let chats = |room: &Room| -> Vec<(sotto_crypto::ParticipantId, String)> {
        room.get(&b)
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Chat { from, text } => Some((from.clone(), text.clone())),
                _ => None,
            })
            .collect()
    };
    for claimed in [&c, &b, &c] {
        room.deliver(
            &b,
            ServerMessage::Application {
                from: claimed.clone(),
                data: data.clone(),
            },
        );
        refused(&room, &b, "relayed as from");
    }
    assert!(chats(&room).is_empty(), "a misattributed chat is not shown");
    room.deliver(
        &b,
        ServerMessage::Application {
            from: a.clone(),
            data: data.clone(),
        },
    );
    assert_eq!(chats(&room), vec![(a.clone(), "hello".to_owned())]);
    room.deliver(
        &b,
        ServerMessage::Application {
            from: a.clone(),
            data,
        },
    );
    refused(&room, &b, "MLS refused Application");
    assert_eq!(chats(&room).len(), 1, "and only once");
}

#[test]
fn a_welcome_for_another_joiner_or_again_is_refused() {
    let (mut room, _) = Room::of_size(2);
    let j1 = room.connect(true);
    room.hold.insert(j1.clone());
    room.settle();
    let welcome_for_j1 = room
        .held
        .iter()
        .find(|(to, m)| to == &j1 && matches!(m, ServerMessage::Welcome { .. }))
        .map(|(_, m)| m.clone())
        .expect("j1's Welcome");
    room.release(&j1);
    room.settle();
    // j2 waits (its KeyPackage not yet sent) and gets j1's Welcome.
    let secret = room.secret.clone();
    let (j2, kp) = room.connect_silently(Identity::generate().expect("id"), Some(secret));
    room.deliver(&j2, welcome_for_j1.clone());
    assert_eq!(
        room.get(&j2).participant.status(),
        Status::Waiting { knocking: false }
    );
    refused(&room, &j2, "MLS refused Welcome");
    room.get_mut(&j2).clear_warnings();
    room.server_receive(&j2, ClientMessage::KeyPackage { key_package: kp });
    room.settle();
    assert_eq!(
        room.get(&j2).participant.status(),
        Status::Member,
        "j2 still joins"
    );
    // j1's Welcome again, to j1.
    room.deliver(&j1, welcome_for_j1);
    refused(&room, &j1, "handle_welcome is not possible");
    room.get_mut(&j1).clear_warnings();
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn a_false_departure_removes_a_present_member_visibly() {
    let (mut room, ids) = Room::of_size(3);
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let epoch = room.ds.epoch;
    // The server says b left; b is still connected and hears nothing.
    room.server_departed(&b);
    room.settle();
    assert_eq!(room.ds.epoch, epoch + 1);
    for m in [&a, &c] {
        assert!(
            room.get(m).events.iter().any(
                |e| matches!(e, Event::MemberRemoved { participant, .. } if participant == &b)
            ),
            "{m:?} sees b removed"
        );
    }
    // When the removal reaches b, b knows it was removed.
    let removal = room.ds.won.last().expect("removal").clone();
    room.deliver(
        &b,
        ServerMessage::Commit {
            from: removal.from,
            epoch: removal.epoch,
            commit: removal.commit,
        },
    );
    assert_eq!(
        room.get(&b).participant.status(),
        Status::Ended(EndReason::Removed)
    );
    assert!(
        room.get(&b)
            .events
            .contains(&Event::Ended(EndReason::Removed))
    );
    // b comes back as a new participant with the same identity and
    // fingerprint.
    let identity = room.get(&b).identity.clone();
    room.disconnect(&b);
    let back = room.connect_as(identity, true);
    room.settle();
    assert!(room.ds.members.contains(&back));
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}

#[test]
fn a_loser_whose_winner_is_withheld_waits_instead_of_recommitting() {
    // The winner is withheld for 20 s below. A member that learnt the room
    // is past its epoch joins again if the commits it missed do not come
    // within `catch_up_grace` (1.5 s): this room gives them a minute, so
    // that what is shown is the session's own wait for the winner.
    let config = sotto_participant::Config {
        catch_up_grace: Duration::from_secs(60),
        ..sotto_participant::Config::default()
    };
    let (mut room, ids) = Room::of_size_with(config, 2);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let joiner = room.connect(true);
    let knocker = room.connect(false);
    room.advance(Duration::from_millis(1));
    let now = room.now;
    let fingerprint = room.get(&knocker).identity_fingerprint.clone();
    room.get_mut(&b)
        .participant
        .accept_knock(&knocker, &fingerprint, now)
        .expect("knock is waiting");
    room.hold.insert(b.clone());
    room.tick_without_delivery(now + Duration::from_millis(250));
    assert_eq!(room.ds.stale, 1, "b's commit lost to a's");
    assert_eq!(room.ds.won.last().map(|w| &w.from), Some(&a));
    // The server tells b its commit lost, again and again if b asks, but
    // never sends the winner.
    let mut withheld = Vec::new();
    for _ in 0..20 {
        for (to, m) in std::mem::take(&mut room.held) {
            match m {
                ServerMessage::Error {
                    code: sotto_proto::ErrorCode::StaleEpoch,
                    ..
                } => room.deliver(&to, m),
                other => withheld.push((to, other)),
            }
        }
        room.advance(Duration::from_secs(1));
    }
    assert_eq!(room.ds.stale, 1, "b waits for the winner");
    let session = room.get(&b).participant.session().expect("b is in");
    assert_eq!(session.poll_timeout(), None, "no timer to spin on");
    // Once the winner arrives, b applies it and commits what it left out.
    room.hold.clear();
    for (to, m) in withheld {
        room.deliver(&to, m);
    }
    room.settle();
    for p in [&a, &b, &joiner, &knocker] {
        assert!(room.ds.members.contains(p), "{p:?} is in");
    }
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
}
