//! The room's rules (spec §3–§5), one behaviour per test, no I/O, no clock.
//!
//! (Over 600 lines on purpose: a flat list of independent tests, one rule
//! each, found by name.)

use super::*;

fn settings(max_participants: usize) -> Arc<RoomSettings> {
    Arc::new(RoomSettings {
        limits: Limits {
            max_message_bytes: 524_288,
            max_participants,
            messages_per_second: 20,
        },
        ice_servers: vec![IceServer {
            urls: vec!["stun:stun.example.org:3478".into()],
            username: None,
            credential: None,
        }],
    })
}

fn pid(name: &str) -> ParticipantId {
    ParticipantId::new(name).expect("valid id")
}

fn join(room: &mut Room, who: &str) -> Vec<Output> {
    room.handle(Input::Join {
        participant: pid(who),
    })
}

fn send(room: &mut Room, from: &str, message: ClientMessage) -> Vec<Output> {
    room.handle(Input::Message {
        from: pid(from),
        message,
    })
}

fn key_package(room: &mut Room, from: &str, kp: &[u8]) -> Vec<Output> {
    send(
        room,
        from,
        ClientMessage::KeyPackage {
            key_package: kp.to_vec(),
        },
    )
}

fn commit(epoch: u64, welcome_to: &[&str]) -> ClientMessage {
    ClientMessage::Commit {
        epoch,
        commit: b"commit".to_vec(),
        welcome: (!welcome_to.is_empty()).then(|| b"welcome".to_vec()),
        welcome_to: welcome_to.iter().map(|w| pid(w)).collect(),
    }
}

fn to(who: &str, message: ServerMessage) -> Output {
    Output::Send {
        to: pid(who),
        message,
    }
}

fn left(who: &str, reason: LeaveReason) -> ServerMessage {
    ServerMessage::Left {
        participant: pid(who),
        reason,
    }
}

/// The error codes sent to `who` in `out`.
fn errors_to(out: &[Output], who: &str) -> Vec<ErrorCode> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                message: ServerMessage::Error { code, .. },
            } if *to == pid(who) => Some(*code),
            _ => None,
        })
        .collect()
}

/// A room with member `a` (creator) and `members` admitted by commits, then
/// `waiting` participants that sent key packages.
fn room_with(members: &[&str], waiting: &[&str]) -> Room {
    let mut room = Room::new(settings(100));
    join(&mut room, "a");
    for m in members {
        join(&mut room, m);
        key_package(&mut room, m, m.as_bytes());
        let epoch = room.epoch();
        let out = send(&mut room, "a", commit(epoch, &[m]));
        assert!(out.contains(&Output::AddMember(pid(m))));
    }
    for w in waiting {
        join(&mut room, w);
        key_package(&mut room, w, w.as_bytes());
    }
    room
}

#[test]
fn the_first_participant_creates_the_group() {
    let mut room = Room::new(settings(100));
    let out = join(&mut room, "a");
    assert_eq!(
        out,
        vec![
            to(
                "a",
                ServerMessage::Joined {
                    participant: pid("a"),
                    role: Role::Creator,
                    ice_servers: settings(100).ice_servers.clone(),
                    limits: settings(100).limits,
                }
            ),
            Output::AddMember(pid("a")),
        ]
    );
    assert_eq!(room.counts(), (1, 0));
    assert_eq!(room.epoch(), 0);
}

#[test]
fn later_participants_join_as_waiting_joiners() {
    let mut room = room_with(&[], &[]);
    let out = join(&mut room, "b");
    assert!(matches!(
        &out[..],
        [Output::Send { message: ServerMessage::Joined { role: Role::Joiner, participant, .. }, .. }]
            if *participant == pid("b")
    ));
    assert_eq!(room.counts(), (1, 1));
}

#[test]
fn a_key_package_reaches_every_member_as_join_request() {
    let mut room = room_with(&["b"], &[]);
    join(&mut room, "c");
    let out = key_package(&mut room, "c", b"kp-c");
    let request = ServerMessage::JoinRequest {
        participant: pid("c"),
        key_package: b"kp-c".to_vec(),
    };
    assert_eq!(out, vec![to("a", request.clone()), to("b", request)]);
}

#[test]
fn the_winning_commit_is_accepted_broadcast_and_welcomes() {
    let mut room = room_with(&["b"], &["c"]);
    assert_eq!(room.epoch(), 1);
    let out = send(&mut room, "b", commit(1, &["c"]));
    assert_eq!(
        out,
        vec![
            to("b", ServerMessage::CommitAccepted { epoch: 1 }),
            to(
                "a",
                ServerMessage::Commit {
                    from: pid("b"),
                    epoch: 1,
                    commit: b"commit".to_vec()
                }
            ),
            to(
                "c",
                ServerMessage::Welcome {
                    from: pid("b"),
                    epoch: 2,
                    welcome: b"welcome".to_vec()
                }
            ),
            Output::AddMember(pid("c")),
        ]
    );
    assert_eq!(room.epoch(), 2);
    assert_eq!(room.counts(), (3, 0));
}

#[test]
fn a_new_member_hears_of_everyone_still_waiting_right_after_its_welcome() {
    let mut room = room_with(&[], &["b", "c"]);
    join(&mut room, "d"); // waiting without a key package: nothing to replay
    let out = send(&mut room, "a", commit(0, &["b"]));
    let to_b: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, message } if *to == pid("b") => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        to_b,
        vec![
            ServerMessage::Welcome {
                from: pid("a"),
                epoch: 1,
                welcome: b"welcome".to_vec()
            },
            ServerMessage::JoinRequest {
                participant: pid("c"),
                key_package: b"c".to_vec()
            },
        ]
    );
}

#[test]
fn of_two_commits_for_one_epoch_the_first_wins_and_the_second_is_stale() {
    let mut room = room_with(&["b"], &[]);
    let first = send(&mut room, "a", commit(1, &[]));
    assert!(first.contains(&to("a", ServerMessage::CommitAccepted { epoch: 1 })));
    let second = send(&mut room, "b", commit(1, &[]));
    assert_eq!(second.len(), 1, "nothing but the refusal: {second:?}");
    assert!(matches!(
        &second[0],
        Output::Send { to, message: ServerMessage::Error { code: ErrorCode::StaleEpoch, current_epoch: Some(2), in_reply_to: Some(t), .. } }
            if *to == pid("b") && t == "commit"
    ));
    assert_eq!(room.epoch(), 2);
}

#[test]
fn a_commit_for_a_future_or_past_epoch_is_stale() {
    let mut room = room_with(&["b"], &[]);
    for epoch in [0, 2, u64::MAX] {
        let out = send(&mut room, "a", commit(epoch, &[]));
        assert_eq!(errors_to(&out, "a"), vec![ErrorCode::StaleEpoch]);
    }
    assert_eq!(room.epoch(), 1);
}

#[test]
fn welcome_to_skips_ids_that_are_not_waiting() {
    let mut room = room_with(&["b"], &["c", "d"]);
    room.handle(Input::Departed {
        participant: pid("d"),
        reason: LeaveReason::Disconnect,
    });
    let out = send(&mut room, "a", commit(1, &["b", "c", "c", "d", "zz"]));
    let welcomed: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                message: ServerMessage::Welcome { .. },
            } => Some(to.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(welcomed, vec![pid("c")]);
    assert_eq!(room.counts(), (3, 0));
}

#[test]
fn welcome_to_without_a_welcome_is_a_bad_message_and_changes_nothing() {
    let mut room = room_with(&[], &["b"]);
    let message = ClientMessage::Commit {
        epoch: 0,
        commit: b"c".to_vec(),
        welcome: None,
        welcome_to: vec![pid("b")],
    };
    let out = send(&mut room, "a", message);
    assert_eq!(errors_to(&out, "a"), vec![ErrorCode::BadMessage]);
    assert_eq!(out.len(), 1);
    assert_eq!(room.epoch(), 0);
}

#[test]
fn waiting_participants_may_not_act_as_members() {
    let mut room = room_with(&[], &["b", "c"]);
    let refused = [
        commit(0, &[]),
        ClientMessage::Application { data: vec![1] },
        ClientMessage::RefuseKnock {
            participant: pid("c"),
        },
        ClientMessage::Sdp {
            pc: PcKind::Pub,
            kind: SdpKind::Offer,
            sdp: "v=0".into(),
            tracks: vec![],
        },
        ClientMessage::Ice {
            pc: PcKind::Pub,
            candidate: String::new(),
            sdp_mid: None,
            sdp_mline_index: None,
        },
    ];
    for message in refused {
        let out = send(&mut room, "b", message.clone());
        assert_eq!(
            errors_to(&out, "b"),
            vec![ErrorCode::NotAMember],
            "{message:?}"
        );
        assert_eq!(out.len(), 1);
    }
    assert_eq!(room.epoch(), 0);
    assert_eq!(room.counts(), (1, 2));
}

#[test]
fn application_messages_go_to_every_other_member_only() {
    let mut room = room_with(&["b", "c"], &["d"]);
    let out = send(&mut room, "b", ClientMessage::Application { data: vec![7] });
    let message = ServerMessage::Application {
        from: pid("b"),
        data: vec![7],
    };
    assert_eq!(out, vec![to("a", message.clone()), to("c", message)]);
}

#[test]
fn a_second_key_package_or_one_from_a_member_is_out_of_order() {
    let mut room = room_with(&[], &["b"]);
    let out = key_package(&mut room, "b", b"again");
    assert_eq!(errors_to(&out, "b"), vec![ErrorCode::OutOfOrder]);
    assert_eq!(out.len(), 1);
    let out = key_package(&mut room, "a", b"member");
    assert_eq!(errors_to(&out, "a"), vec![ErrorCode::OutOfOrder]);
    assert_eq!(out.len(), 1);
}

#[test]
fn a_second_join_is_already_joined() {
    let mut room = room_with(&[], &["b"]);
    for who in ["a", "b"] {
        let room_name = crate::RoomName::parse("abc").expect("valid");
        let out = send(&mut room, who, ClientMessage::Join { room: room_name });
        assert_eq!(errors_to(&out, who), vec![ErrorCode::AlreadyJoined]);
        assert_eq!(out.len(), 1);
    }
    assert_eq!(room.counts(), (1, 1));
}

#[test]
fn a_refused_knocker_is_told_closed_and_announced_to_everyone() {
    let mut room = room_with(&["b"], &["k", "w"]);
    let out = send(
        &mut room,
        "b",
        ClientMessage::RefuseKnock {
            participant: pid("k"),
        },
    );
    assert_eq!(
        out,
        vec![
            to("k", ServerMessage::Refused {}),
            Output::Close {
                participant: pid("k"),
                close: Close::Departure(LeaveReason::Refused)
            },
            to("a", left("k", LeaveReason::Refused)),
            to("b", left("k", LeaveReason::Refused)),
            to("w", left("k", LeaveReason::Refused)),
        ]
    );
    assert!(!room.contains(&pid("k")));
}

#[test]
fn refusing_someone_who_is_not_waiting_is_unknown_participant() {
    let mut room = room_with(&["b"], &[]);
    for target in ["b", "a", "nobody"] {
        let out = send(
            &mut room,
            "a",
            ClientMessage::RefuseKnock {
                participant: pid(target),
            },
        );
        assert_eq!(errors_to(&out, "a"), vec![ErrorCode::UnknownParticipant]);
        assert_eq!(out.len(), 1);
    }
    assert_eq!(room.counts(), (2, 0));
}

#[test]
fn a_clean_leave_is_announced_and_closed() {
    let mut room = room_with(&["b", "c"], &[]);
    let out = send(&mut room, "b", ClientMessage::Leave {});
    assert_eq!(
        out,
        vec![
            Output::Close {
                participant: pid("b"),
                close: Close::Departure(LeaveReason::Leave)
            },
            Output::RemoveMember(pid("b")),
            to("a", left("b", LeaveReason::Leave)),
            to("c", left("b", LeaveReason::Leave)),
        ]
    );
}

#[test]
fn every_departure_reason_is_announced_and_only_a_dropped_socket_needs_no_close() {
    for reason in [
        LeaveReason::Disconnect,
        LeaveReason::Timeout,
        LeaveReason::IceFailed,
        LeaveReason::Policy,
    ] {
        let mut room = room_with(&["b"], &["w"]);
        let out = room.handle(Input::Departed {
            participant: pid("b"),
            reason,
        });
        assert!(out.contains(&to("a", left("b", reason))));
        assert!(out.contains(&to("w", left("b", reason))));
        assert!(out.contains(&Output::RemoveMember(pid("b"))));
        let closed = out.iter().any(|o| matches!(o, Output::Close { .. }));
        assert_eq!(closed, reason != LeaveReason::Disconnect, "{reason:?}");
    }
}

#[test]
fn a_waiting_participant_leaving_only_cancels_its_request() {
    let mut room = room_with(&["b"], &["w"]);
    let out = room.handle(Input::Departed {
        participant: pid("w"),
        reason: LeaveReason::Disconnect,
    });
    assert_eq!(
        out,
        vec![
            to("a", left("w", LeaveReason::Disconnect)),
            to("b", left("w", LeaveReason::Disconnect)),
        ]
    );
    assert_eq!(room.epoch(), 1);
}

#[test]
fn the_longest_waiting_becomes_creator_when_the_last_member_leaves() {
    let mut room = room_with(&["b"], &["w1", "w2"]);
    join(&mut room, "w3"); // no key package
    send(&mut room, "a", ClientMessage::Leave {});
    let out = send(&mut room, "b", ClientMessage::Leave {});
    let after_left: Vec<_> = out
        .iter()
        .skip_while(|o| {
            !matches!(
                o,
                Output::Send {
                    message: ServerMessage::Left { .. },
                    ..
                }
            )
        })
        .filter(|o| {
            !matches!(
                o,
                Output::Send {
                    message: ServerMessage::Left { .. },
                    ..
                }
            )
        })
        .cloned()
        .collect();
    assert_eq!(
        after_left,
        vec![
            to("w1", ServerMessage::BecomeCreator {}),
            to(
                "w1",
                ServerMessage::JoinRequest {
                    participant: pid("w2"),
                    key_package: b"w2".to_vec()
                }
            ),
            Output::AddMember(pid("w1")),
        ]
    );
    assert_eq!(room.epoch(), 0, "the new group starts at epoch 0");
    assert_eq!(room.counts(), (1, 2));
    // The new group's first commit is for epoch 0.
    let out = send(&mut room, "w1", commit(0, &["w2"]));
    assert!(out.contains(&to("w1", ServerMessage::CommitAccepted { epoch: 0 })));
}

#[test]
fn an_empty_room_starts_over_with_a_new_creator() {
    let mut room = room_with(&["b"], &[]);
    send(&mut room, "a", ClientMessage::Leave {});
    room.handle(Input::Departed {
        participant: pid("b"),
        reason: LeaveReason::Timeout,
    });
    assert!(room.is_empty());
    let out = join(&mut room, "z");
    assert!(matches!(
        &out[0],
        Output::Send {
            message: ServerMessage::Joined {
                role: Role::Creator,
                ..
            },
            ..
        }
    ));
    assert_eq!(room.epoch(), 0);
}

#[test]
fn a_full_room_refuses_and_closes_the_next_joiner() {
    let mut room = Room::new(settings(2));
    join(&mut room, "a");
    join(&mut room, "b");
    let out = join(&mut room, "c");
    assert_eq!(errors_to(&out, "c"), vec![ErrorCode::RoomFull]);
    assert_eq!(
        out.last(),
        Some(&Output::Close {
            participant: pid("c"),
            close: Close::Fatal(ErrorCode::RoomFull)
        })
    );
    assert!(!room.contains(&pid("c")));
    assert_eq!(room.counts(), (1, 1));
}

#[test]
fn an_oversized_key_package_is_refused_and_never_relayed() {
    let mut room = room_with(&["b"], &[]);
    join(&mut room, "k");
    let before = room.counts();
    let out = key_package(&mut room, "k", &vec![7; MAX_KEY_PACKAGE_BYTES + 1]);
    assert_eq!(errors_to(&out, "k"), vec![ErrorCode::MessageTooLarge]);
    assert_eq!(out.len(), 1, "only the error, no join_request: {out:?}");
    assert_eq!(room.counts(), before);
    // A new member is not handed it either: it was not stored.
    let epoch = room.epoch();
    let out = send(&mut room, "a", commit(epoch, &[]));
    assert!(out.iter().all(|o| !matches!(
        o,
        Output::Send {
            message: ServerMessage::JoinRequest { .. },
            ..
        }
    )));
    // The knocker may still send one of a proper size, which members get.
    let out = key_package(&mut room, "k", &[7; MAX_KEY_PACKAGE_BYTES]);
    let relayed = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send {
                    message: ServerMessage::JoinRequest { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(relayed, 2, "{out:?}");
}

#[test]
fn a_room_refuses_and_closes_a_joiner_beyond_its_waiting_cap() {
    let mut room = Room::new(settings(100)).with_max_waiting(2);
    join(&mut room, "a");
    join(&mut room, "w1");
    key_package(&mut room, "w1", b"kp-w1");
    join(&mut room, "w2");
    let out = join(&mut room, "w3");
    assert_eq!(errors_to(&out, "w3"), vec![ErrorCode::TooManyWaiting]);
    assert_eq!(
        out.last(),
        Some(&Output::Close {
            participant: pid("w3"),
            close: Close::Fatal(ErrorCode::TooManyWaiting)
        })
    );
    assert_eq!(out.len(), 2, "nobody else hears of it: {out:?}");
    assert!(!room.contains(&pid("w3")));
    assert_eq!(room.counts(), (1, 2));
    // Once one is let in, the next one may wait.
    let out = send(&mut room, "a", commit(0, &["w1"]));
    assert!(out.contains(&Output::AddMember(pid("w1"))));
    let out = join(&mut room, "w3");
    assert!(errors_to(&out, "w3").is_empty(), "{out:?}");
    assert_eq!(room.counts(), (2, 2));
}

#[test]
fn rooms_hold_eight_waiting_participants_by_default() {
    let mut room = Room::new(settings(100));
    join(&mut room, "a");
    for i in 0..DEFAULT_MAX_WAITING {
        let out = join(&mut room, &format!("w{i}"));
        assert!(errors_to(&out, &format!("w{i}")).is_empty());
    }
    let out = join(&mut room, "late");
    assert_eq!(errors_to(&out, "late"), vec![ErrorCode::TooManyWaiting]);
    assert_eq!(DEFAULT_MAX_WAITING, 8);
}

#[test]
fn a_resync_replays_the_waiting_key_packages_to_that_member_only() {
    let mut room = room_with(&["b"], &["w", "x"]);
    join(&mut room, "y"); // no key package: nothing to replay
    let out = room.handle(Input::Resync { member: pid("b") });
    let kp = |w: &str| ServerMessage::JoinRequest {
        participant: pid(w),
        key_package: w.as_bytes().to_vec(),
    };
    assert_eq!(out, vec![to("b", kp("w")), to("b", kp("x"))]);
    // Not for a waiting participant, nor for someone not in the room.
    assert!(room.handle(Input::Resync { member: pid("w") }).is_empty());
    assert!(room.handle(Input::Resync { member: pid("zz") }).is_empty());
}

#[test]
fn media_negotiation_follows_who_offers_on_which_connection() {
    let mut room = room_with(&[], &[]);
    let sdp = |pc, kind| ClientMessage::Sdp {
        pc,
        kind,
        sdp: "v=0".into(),
        tracks: vec![],
    };
    for message in [
        sdp(PcKind::Pub, SdpKind::Offer),
        sdp(PcKind::Sub, SdpKind::Answer),
    ] {
        let out = send(&mut room, "a", message.clone());
        assert_eq!(
            out,
            vec![Output::Signal {
                from: pid("a"),
                message
            }]
        );
    }
    for message in [
        sdp(PcKind::Sub, SdpKind::Offer),
        sdp(PcKind::Pub, SdpKind::Answer),
    ] {
        let out = send(&mut room, "a", message);
        assert_eq!(errors_to(&out, "a"), vec![ErrorCode::OutOfOrder]);
    }
}

#[test]
fn media_messages_reach_members_only() {
    let mut room = room_with(&[], &["w"]);
    let message = ServerMessage::Ice {
        pc: PcKind::Sub,
        candidate: String::new(),
        sdp_mid: None,
        sdp_mline_index: None,
    };
    for (who, delivered) in [("a", true), ("w", false), ("gone", false)] {
        let out = room.handle(Input::Media {
            to: pid(who),
            message: message.clone(),
        });
        assert_eq!(!out.is_empty(), delivered, "{who}");
    }
}

#[test]
fn shutdown_tells_and_closes_everyone() {
    let mut room = room_with(&["b"], &["w"]);
    let out = room.handle(Input::Shutdown);
    for who in ["a", "b", "w"] {
        assert_eq!(errors_to(&out, who), vec![ErrorCode::ShuttingDown]);
        assert!(out.contains(&Output::Close {
            participant: pid(who),
            close: Close::Fatal(ErrorCode::ShuttingDown)
        }));
    }
    assert!(out.contains(&Output::RemoveMember(pid("a"))));
    assert!(out.contains(&Output::RemoveMember(pid("b"))));
    assert!(!out.contains(&Output::RemoveMember(pid("w"))));
    assert!(
        !out.iter().any(|o| matches!(
            o,
            Output::Send {
                message: ServerMessage::Left { .. },
                ..
            }
        )),
        "nobody is left to tell"
    );
    assert!(room.is_empty());
}

#[test]
fn messages_from_someone_no_longer_in_the_room_are_ignored() {
    let mut room = room_with(&["b"], &[]);
    send(&mut room, "b", ClientMessage::Leave {});
    assert!(send(&mut room, "b", commit(1, &[])).is_empty());
    assert!(send(&mut room, "b", ClientMessage::Leave {}).is_empty());
    assert_eq!(room.epoch(), 1);
}

#[test]
fn close_codes_say_why() {
    assert_eq!(Close::Departure(LeaveReason::Leave).code(), 1000);
    assert_eq!(Close::Departure(LeaveReason::Policy).code(), 1008);
    assert_eq!(Close::Fatal(ErrorCode::ShuttingDown).code(), 1001);
    assert_eq!(Close::Fatal(ErrorCode::VersionMismatch).code(), 1008);
    assert_eq!(Close::Fatal(ErrorCode::RoomFull).code(), 1013);
    assert_eq!(Close::TooLarge.code(), 1009);
}

mod random_walk;
