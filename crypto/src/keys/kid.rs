//! The KID layout of RFC 9605 §5.2 for MLS-keyed SFrame.
//!
//! ```text
//! KID = context << (S + E) | leaf_index << E | (epoch mod 2^E)
//! ```
//!
//! with E = [`EPOCH_BITS`] = 4 and S the smallest value such that
//! `group_size <= 1 << S`, where `group_size` is one more than the largest
//! occupied leaf index of the epoch. Every member computes the same S for
//! an epoch; a receiver finds the epoch from the low E bits first and then
//! reads the rest with that epoch's S.

use crate::sframe::KeyId;
pub use sotto_proto::TrackSource;

/// E of RFC 9605 §5.2: low KID bits that carry the epoch.
pub const EPOCH_BITS: u32 = 4;

/// Why a KID does not fit an epoch's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KidError {
    /// The leaf index needs more than S bits.
    #[error("leaf {leaf} does not fit in {leaf_bits} bits")]
    LeafTooLarge {
        /// The leaf index.
        leaf: u32,
        /// S of the epoch.
        leaf_bits: u32,
    },
    /// The context bits are not one of the four sources.
    #[error("{0} has no valid media context")]
    BadContext(KeyId),
}

/// Where a KID came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KidParts {
    /// The stream.
    pub source: TrackSource,
    /// The sender's MLS leaf index.
    pub leaf: u32,
    /// The epoch, mod 2^E.
    pub epoch_bits: u8,
}

/// The KID layout of one epoch: its S.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KidLayout {
    leaf_bits: u32,
}

/// The low E bits of `epoch`.
pub fn epoch_bits(epoch: u64) -> u8 {
    (epoch & ((1 << EPOCH_BITS) - 1)) as u8
}

/// The low E bits of a KID: the epoch it was made in, mod 2^E.
pub fn kid_epoch_bits(kid: KeyId) -> u8 {
    epoch_bits(kid.0)
}

impl KidLayout {
    /// The layout for a group of `group_size` leaves (1 + largest occupied
    /// leaf index): S is the smallest value with `group_size <= 1 << S`.
    pub fn for_group_size(group_size: u64) -> KidLayout {
        let leaf_bits = if group_size <= 1 {
            0
        } else {
            64 - (group_size - 1).leading_zeros()
        };
        KidLayout { leaf_bits }
    }

    /// The layout for an epoch whose occupied leaves are `leaves`.
    pub fn for_leaves(leaves: impl IntoIterator<Item = u32>) -> KidLayout {
        let size = leaves.into_iter().max().map_or(1, |m| u64::from(m) + 1);
        Self::for_group_size(size)
    }

    /// S.
    pub fn leaf_bits(&self) -> u32 {
        self.leaf_bits
    }

    /// The KID for `source` sent by `leaf` in `epoch`.
    pub fn kid(&self, source: TrackSource, leaf: u32, epoch: u64) -> Result<KeyId, KidError> {
        if u64::from(leaf) >> self.leaf_bits != 0 {
            return Err(KidError::LeafTooLarge {
                leaf,
                leaf_bits: self.leaf_bits,
            });
        }
        let kid = source.context() << (self.leaf_bits + EPOCH_BITS)
            | u64::from(leaf) << EPOCH_BITS
            | u64::from(epoch_bits(epoch));
        Ok(KeyId(kid))
    }

    /// Splits a KID made with this layout.
    pub fn parse(&self, kid: KeyId) -> Result<KidParts, KidError> {
        let leaf_mask = (1u64 << self.leaf_bits) - 1;
        let leaf = (kid.0 >> EPOCH_BITS) & leaf_mask;
        let context = kid.0 >> (self.leaf_bits + EPOCH_BITS);
        let source = TrackSource::from_context(context).ok_or(KidError::BadContext(kid))?;
        Ok(KidParts {
            source,
            // S <= 32, so the mask keeps it within u32.
            leaf: leaf as u32,
            epoch_bits: kid_epoch_bits(kid),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_is_the_smallest_that_fits_the_group() {
        for (size, s) in [
            (0, 0),
            (1, 0),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (8, 3),
            (9, 4),
        ] {
            assert_eq!(KidLayout::for_group_size(size).leaf_bits(), s, "{size}");
        }
        assert_eq!(KidLayout::for_group_size(1 << 32).leaf_bits(), 32);
        assert_eq!(KidLayout::for_leaves([0, 4, 2]).leaf_bits(), 3);
        assert_eq!(KidLayout::for_leaves([]).leaf_bits(), 0);
    }

    #[test]
    fn kids_round_trip_and_follow_the_rfc_layout() {
        let l = KidLayout::for_group_size(5); // S = 3
        let kid = l.kid(TrackSource::Screen, 4, 0x23).expect("fits");
        assert_eq!(kid.0, 2 << 7 | 4 << 4 | 0x3);
        assert_eq!(
            l.parse(kid),
            Ok(KidParts {
                source: TrackSource::Screen,
                leaf: 4,
                epoch_bits: 3
            })
        );
        assert!(l.kid(TrackSource::Camera, 8, 0).is_err());
        assert_eq!(
            l.parse(KeyId(4 << 7)),
            Err(KidError::BadContext(KeyId(4 << 7)))
        );
        let one = KidLayout::for_group_size(1);
        assert_eq!(one.kid(TrackSource::Mic, 0, 17).expect("fits"), KeyId(1));
    }
}
