//! What a key ring needs to know about one MLS epoch.

use std::fmt;

use zeroize::Zeroizing;

use super::kid::KidLayout;
use crate::ParticipantId;

/// The MLS exporter label of RFC 9605 §5.2.
pub const BASE_KEY_LABEL: &str = "SFrame 1.0 Base Key";
/// Nk of AES_128_GCM_SHA256_128 (RFC 9605 §4.5): the base key length.
pub const BASE_KEY_BYTES: usize = 16;

const WIRE_VERSION: u8 = 1;

/// One epoch's SFrame base key and roster, as handed from a
/// [`Session`](crate::session::Session) to a [`KeyRing`](super::KeyRing)
/// (possibly in another thread or a browser Worker: see
/// [`to_bytes`](Self::to_bytes)). The key is wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochKeys {
    epoch: u64,
    base_key: Zeroizing<[u8; BASE_KEY_BYTES]>,
    own_leaf: u32,
    /// Occupied leaves and who sits in them, sorted by leaf.
    members: Vec<(u32, ParticipantId)>,
}

/// Why [`EpochKeys::from_bytes`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed epoch keys")]
pub struct BadEpochKeys;

impl fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochKeys")
            .field("epoch", &self.epoch)
            .field("own_leaf", &self.own_leaf)
            .field("members", &self.members.len())
            .field("base_key", &"[redacted]")
            .finish()
    }
}

impl EpochKeys {
    /// Keys of `epoch`: `base_key` from the MLS exporter, the receiver's own
    /// leaf, and every occupied leaf with its participant.
    pub fn new(
        epoch: u64,
        base_key: [u8; BASE_KEY_BYTES],
        own_leaf: u32,
        mut members: Vec<(u32, ParticipantId)>,
    ) -> EpochKeys {
        members.sort_by_key(|(leaf, _)| *leaf);
        members.dedup_by_key(|(leaf, _)| *leaf);
        EpochKeys {
            epoch,
            base_key: Zeroizing::new(base_key),
            own_leaf,
            members,
        }
    }

    /// The MLS epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The SFrame base key (secret).
    pub fn base_key(&self) -> &[u8; BASE_KEY_BYTES] {
        &self.base_key
    }

    /// The holder's own leaf.
    pub fn own_leaf(&self) -> u32 {
        self.own_leaf
    }

    /// Occupied leaves with their participants, sorted by leaf.
    pub fn members(&self) -> &[(u32, ParticipantId)] {
        &self.members
    }

    /// The participant at `leaf`, if occupied.
    pub fn participant(&self, leaf: u32) -> Option<&ParticipantId> {
        self.members
            .binary_search_by_key(&leaf, |(l, _)| *l)
            .ok()
            .map(|i| &self.members[i].1)
    }

    /// The KID layout of this epoch.
    pub fn layout(&self) -> KidLayout {
        KidLayout::for_leaves(self.members.iter().map(|(l, _)| *l).chain([self.own_leaf]))
    }

    /// A compact encoding for handing the keys to a Worker (secret):
    /// `version(1) || epoch(u64) || own_leaf(u32) || count(u32) ||
    /// count * (leaf(u32) || id_len(u8) || id) || base_key(16)`, big-endian.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        out.push(WIRE_VERSION);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.own_leaf.to_be_bytes());
        out.extend_from_slice(&(self.members.len() as u32).to_be_bytes());
        for (leaf, id) in &self.members {
            out.extend_from_slice(&leaf.to_be_bytes());
            // Participant ids are at most 64 bytes.
            out.push(id.as_str().len() as u8);
            out.extend_from_slice(id.as_str().as_bytes());
        }
        out.extend_from_slice(&self.base_key[..]);
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<EpochKeys, BadEpochKeys> {
        let mut r = Reader(bytes);
        if r.take(1)? != [WIRE_VERSION] {
            return Err(BadEpochKeys);
        }
        let epoch = u64::from_be_bytes(r.array()?);
        let own_leaf = u32::from_be_bytes(r.array()?);
        let count = u32::from_be_bytes(r.array()?) as usize;
        // Each member takes at least 6 bytes: refuse absurd counts early.
        if count > r.0.len() / 6 {
            return Err(BadEpochKeys);
        }
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            let leaf = u32::from_be_bytes(r.array()?);
            let len = r.take(1)?[0] as usize;
            let id = ParticipantId::from_bytes(r.take(len)?).map_err(|_| BadEpochKeys)?;
            members.push((leaf, id));
        }
        let base_key: [u8; BASE_KEY_BYTES] = r.array()?;
        if !r.0.is_empty() {
            return Err(BadEpochKeys);
        }
        Ok(EpochKeys::new(epoch, base_key, own_leaf, members))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadEpochKeys> {
        if self.0.len() < n {
            return Err(BadEpochKeys);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BadEpochKeys> {
        self.take(N)?.try_into().map_err(|_| BadEpochKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ParticipantId {
        ParticipantId::new(s).expect("valid id")
    }

    #[test]
    fn the_worker_encoding_round_trips_and_refuses_damage() {
        let k = EpochKeys::new(9, [5; 16], 2, vec![(2, id("me")), (0, id("alice"))]);
        let bytes = k.to_bytes();
        assert_eq!(EpochKeys::from_bytes(&bytes), Ok(k.clone()));
        for n in 0..bytes.len() {
            assert!(EpochKeys::from_bytes(&bytes[..n]).is_err());
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(EpochKeys::from_bytes(&longer).is_err());
        assert_eq!(k.participant(0), Some(&id("alice")));
        assert_eq!(k.participant(1), None);
        assert!(format!("{k:?}").contains("[redacted]"));
    }
}
