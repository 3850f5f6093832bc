//! Invariants of the room under a seeded random sequence of inputs.

use super::*;

/// A seeded random walk through joins, key packages, commits, leaves and
/// refusals, checking the invariants the clients rely on after every step.
#[test]
fn random_walks_keep_the_room_consistent() {
    let mut seed: u64 = 0x0005_eed0_f507_7000;
    let mut next = move |n: usize| {
        // xorshift64*: deterministic, no dependency.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    };
    for _walk in 0..200 {
        let mut room = Room::new(settings(6));
        let mut ids: Vec<String> = Vec::new();
        let mut fresh = 0;
        for _step in 0..60 {
            let pick = |ids: &Vec<String>, i: usize| {
                ids.get(i).cloned().unwrap_or_else(|| "nobody".into())
            };
            let epoch_before = room.epoch();
            let input = match next(7) {
                0 | 1 => {
                    fresh += 1;
                    let id = format!("p{fresh}");
                    ids.push(id.clone());
                    Input::Join {
                        participant: pid(&id),
                    }
                }
                2 => Input::Message {
                    from: pid(&pick(&ids, next(ids.len() + 1))),
                    message: ClientMessage::KeyPackage {
                        key_package: vec![1],
                    },
                },
                3 => {
                    let welcome_to: Vec<_> = (0..next(3))
                        .map(|_| pid(&pick(&ids, next(ids.len() + 1))))
                        .collect();
                    Input::Message {
                        from: pid(&pick(&ids, next(ids.len() + 1))),
                        message: ClientMessage::Commit {
                            epoch: room.epoch() + (next(4) == 0) as u64,
                            commit: vec![2],
                            welcome: Some(vec![3]),
                            welcome_to,
                        },
                    }
                }
                4 => Input::Message {
                    from: pid(&pick(&ids, next(ids.len() + 1))),
                    message: ClientMessage::RefuseKnock {
                        participant: pid(&pick(&ids, next(ids.len() + 1))),
                    },
                },
                5 => Input::Message {
                    from: pid(&pick(&ids, next(ids.len() + 1))),
                    message: ClientMessage::Leave {},
                },
                _ => Input::Departed {
                    participant: pid(&pick(&ids, next(ids.len() + 1))),
                    reason: LeaveReason::Disconnect,
                },
            };
            let out = room.handle(input.clone());
            let (members, waiting) = room.counts();
            // A room with anyone in it has a member to admit the others.
            assert!(room.is_empty() || members >= 1, "{input:?}");
            assert!(members + waiting <= 6);
            // The epoch moves by one per winning commit, or restarts at 0.
            let accepted = out
                .iter()
                .filter(|o| {
                    matches!(
                        o,
                        Output::Send {
                            message: ServerMessage::CommitAccepted { .. },
                            ..
                        }
                    )
                })
                .count();
            assert!(accepted <= 1);
            assert!(
                room.epoch() == epoch_before + accepted as u64 || room.epoch() == 0,
                "{input:?}: {epoch_before} -> {}",
                room.epoch()
            );
            // Messages go only to participants in the room, except what
            // a departing participant is told before its close.
            let closed: Vec<_> = out
                .iter()
                .filter_map(|o| match o {
                    Output::Close { participant, .. } => Some(participant.clone()),
                    _ => None,
                })
                .collect();
            for o in &out {
                if let Output::Send { to, .. } = o {
                    assert!(room.contains(to) || closed.contains(to), "{o:?}");
                }
            }
        }
    }
}
