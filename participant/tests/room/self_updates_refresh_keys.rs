//! Every member commits a self-update (a fresh leaf and path, RFC 9420
//! §12.4) about every 10 minutes, jittered, for post-compromise security.

use std::collections::BTreeSet;
use std::time::Duration;

use sotto_crypto::session::SessionConfig;

use crate::harness::Room;

#[test]
fn every_member_refreshes_its_leaf_periodically() {
    let (mut room, ids) = Room::of_size(3);
    let before = room.ds.won.len();
    let leaves_before = room.get(&ids[0]).participant.members();
    room.advance(Duration::from_secs(12 * 60));
    let committers: BTreeSet<_> = room.ds.won[before..]
        .iter()
        .map(|w| w.from.clone())
        .collect();
    assert_eq!(
        committers,
        ids.iter().cloned().collect(),
        "everyone updated"
    );
    // No member updated more than twice in 12 minutes (interval 8..12 min).
    for id in &ids {
        let n = room.ds.won[before..]
            .iter()
            .filter(|w| &w.from == id)
            .count();
        assert!((1..=2).contains(&n), "{id:?} updated {n} times");
    }
    room.assert_consistent();
    room.assert_no_errors();
    room.assert_media_flows();
    // Same members, same identities (fingerprints), new leaves.
    let after = room.get(&ids[0]).participant.members();
    assert_eq!(
        leaves_before
            .iter()
            .map(|m| &m.fingerprint)
            .collect::<Vec<_>>(),
        after.iter().map(|m| &m.fingerprint).collect::<Vec<_>>()
    );
}

#[test]
fn the_interval_is_configurable() {
    let config = SessionConfig {
        self_update_interval: Duration::from_secs(60),
        ..SessionConfig::default()
    };
    let mut room = Room::with_session(config);
    let a = room.create();
    room.connect(true);
    room.settle();
    let before = room.ds.won.len();
    room.advance(Duration::from_secs(10 * 60));
    let by_a = room.ds.won[before..].iter().filter(|w| w.from == a).count();
    assert!(
        (8..=13).contains(&by_a),
        "{by_a} self-updates in 10 minutes at ~1/min"
    );
    room.assert_consistent();
    room.assert_no_errors();
}
