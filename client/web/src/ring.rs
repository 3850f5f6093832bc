//! The media key ring: which key protects a frame and who sent it.
//!
//! Every epoch of the room's MLS group yields one SFrame base key
//! (RFC 9605 §5.2). Each sender protects each of its sources under its own
//! KID (spec/protocol.md §8, `mls-profile.md`):
//!
//! ```text
//! KID = context << (S + E) | leaf << E | epoch mod 2^E
//! ```
//!
//! so that no two streams ever share a (key, counter) pair, and so that a
//! receiver learns from the KID which member (MLS leaf) and which source a
//! frame claims to come from. Only a holder of the epoch's base key could
//! have produced a frame that authenticates under that KID.
//!
//! Keys of a new epoch open frames at once; the sender switches to it when
//! told (after members have had time to install it); old epochs are
//! forgotten when told. Timing lives with the caller: this type reads no
//! clock.

use std::collections::HashMap;

use sotto_crypto::media::Open;
use sotto_crypto::sframe::{
    self, CipherSuite, Counter, Header, KeyId, ReceiverContext, SenderContext,
};
use zeroize::Zeroizing;

/// Bits of the KID that carry the epoch (`E`).
pub const EPOCH_BITS: u32 = 4;
/// Bits of the KID that carry the sender's leaf index (`S`).
pub const LEAF_BITS: u32 = 16;
/// How many epochs' keys a ring holds at most; older ones are dropped.
/// Fewer than `2^EPOCH_BITS`, so that `epoch mod 2^E` is unambiguous.
pub const MAX_EPOCHS: usize = 4;

/// An outgoing media source: the KID context (spec/protocol.md §6, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The microphone.
    Mic = 0,
    /// The camera.
    Camera = 1,
    /// Screen share video.
    Screen = 2,
    /// Screen share audio.
    ScreenAudio = 3,
}

impl Source {
    /// The source for its protocol name (`mic`, `camera`, `screen`,
    /// `screen_audio`).
    pub fn from_name(name: &str) -> Option<Source> {
        Some(match name {
            "mic" => Source::Mic,
            "camera" => Source::Camera,
            "screen" => Source::Screen,
            "screen_audio" => Source::ScreenAudio,
            _ => return None,
        })
    }

    fn from_context(context: u64) -> Option<Source> {
        Some(match context {
            0 => Source::Mic,
            1 => Source::Camera,
            2 => Source::Screen,
            3 => Source::ScreenAudio,
            _ => return None,
        })
    }
}

/// The KID for `source` of the member at `leaf` in `epoch`.
pub fn kid(source: Source, leaf: u32, epoch: u64) -> KeyId {
    let e = epoch & ((1 << EPOCH_BITS) - 1);
    let l = u64::from(leaf) & ((1 << LEAF_BITS) - 1);
    KeyId((source as u64) << (LEAF_BITS + EPOCH_BITS) | l << EPOCH_BITS | e)
}

/// What a KID claims: the source, the sender's leaf and the epoch modulo
/// `2^E`. `None` if the context is not a known source.
pub fn split_kid(kid: KeyId) -> Option<(Source, u32, u64)> {
    let e = kid.0 & ((1 << EPOCH_BITS) - 1);
    let leaf = (kid.0 >> EPOCH_BITS) & ((1 << LEAF_BITS) - 1);
    let source = Source::from_context(kid.0 >> (LEAF_BITS + EPOCH_BITS))?;
    // `leaf` has LEAF_BITS (16) bits: it fits.
    Some((source, u32::try_from(leaf).ok()?, e))
}

/// Why a frame could not be opened, as the interface tells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The frame's epoch is not (or no longer) held: "waiting for keys".
    #[error("no key for this frame's epoch")]
    NoKey,
    /// The KID names a different member or source than the track that
    /// carried the frame: someone is replaying another member's frames.
    #[error(
        "frame from leaf {got_leaf} {got_source:?} on the track of leaf {want_leaf} {want_source:?}"
    )]
    WrongSender {
        /// The leaf the track belongs to.
        want_leaf: u32,
        /// The source the track carries.
        want_source: Source,
        /// The leaf in the frame's KID.
        got_leaf: u32,
        /// The source in the frame's KID.
        got_source: Source,
    },
    /// The frame does not parse or authenticate, or is a replay.
    #[error(transparent)]
    Sframe(#[from] sframe::Error),
}

/// One member's media keys: what it sends with and what it opens.
pub struct KeyRing {
    suite: CipherSuite,
    own_leaf: u32,
    /// Base keys by epoch, oldest first, at most [`MAX_EPOCHS`].
    epochs: Vec<(u64, Zeroizing<Vec<u8>>)>,
    /// The epoch senders use; `None` until one is chosen.
    send_epoch: Option<u64>,
    senders: HashMap<Source, SenderContext>,
    receiver: ReceiverContext,
    /// The KIDs whose keys `receiver` holds.
    derived: Vec<KeyId>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("own_leaf", &self.own_leaf)
            .field(
                "epochs",
                &self.epochs.iter().map(|e| e.0).collect::<Vec<_>>(),
            )
            .field("send_epoch", &self.send_epoch)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl KeyRing {
    /// An empty ring for the member at `own_leaf`.
    pub fn new(own_leaf: u32) -> Self {
        KeyRing {
            suite: CipherSuite::AesGcm128Sha256,
            own_leaf,
            epochs: Vec::new(),
            send_epoch: None,
            senders: HashMap::new(),
            receiver: ReceiverContext::new(CipherSuite::AesGcm128Sha256),
            derived: Vec::new(),
        }
    }

    /// Our own leaf changed (we rejoined, or the tree was compacted):
    /// sending starts over with fresh KIDs.
    pub fn set_own_leaf(&mut self, leaf: u32) {
        if leaf != self.own_leaf {
            self.own_leaf = leaf;
            self.senders.clear();
        }
    }

    /// Installs the base key of `epoch`; frames of that epoch open at once.
    /// Beyond [`MAX_EPOCHS`] the oldest epoch is forgotten.
    pub fn add_epoch(&mut self, epoch: u64, base_key: &[u8]) -> Result<(), sframe::Error> {
        if base_key.len() < self.suite.nk() {
            return Err(sframe::Error::BaseKeyTooShort {
                min: self.suite.nk(),
                got: base_key.len(),
            });
        }
        self.forget_epoch(epoch);
        self.epochs.push((epoch, Zeroizing::new(base_key.to_vec())));
        while self.epochs.len() > MAX_EPOCHS {
            let (old, _) = self.epochs.remove(0);
            self.forget_epoch(old);
        }
        Ok(())
    }

    /// Sends with the keys of `epoch` from now on (it must be installed).
    pub fn send_with(&mut self, epoch: u64) -> Result<(), OpenError> {
        if !self.epochs.iter().any(|(e, _)| *e == epoch) {
            return Err(OpenError::NoKey);
        }
        if self.send_epoch != Some(epoch) {
            self.send_epoch = Some(epoch);
            self.senders.clear();
        }
        Ok(())
    }

    /// Forgets `epoch`: its frames no longer open (forward secrecy for
    /// whoever was removed), and nothing is sent with it any more.
    pub fn forget_epoch(&mut self, epoch: u64) {
        let before = self.epochs.len();
        self.epochs.retain(|(e, _)| *e != epoch);
        if self.epochs.len() == before {
            return;
        }
        if self.send_epoch == Some(epoch) {
            self.send_epoch = None;
            self.senders.clear();
        }
        // Receive keys are derived lazily per KID; drop those of this epoch.
        let mask = (1 << EPOCH_BITS) - 1;
        let receiver = &mut self.receiver;
        self.derived.retain(|k| {
            let keep = k.0 & mask != epoch & mask;
            if !keep {
                receiver.remove_key(*k);
            }
            keep
        });
    }

    /// The epoch senders use, if any.
    pub fn send_epoch(&self) -> Option<u64> {
        self.send_epoch
    }

    /// A sealer for `source`: protects frames under our KID for it.
    pub fn sealer(&mut self, source: Source) -> Result<&mut SenderContext, OpenError> {
        let epoch = self.send_epoch.ok_or(OpenError::NoKey)?;
        if !self.senders.contains_key(&source) {
            let base = self
                .epochs
                .iter()
                .find(|(e, _)| *e == epoch)
                .map(|(_, k)| k)
                .ok_or(OpenError::NoKey)?;
            let tx = SenderContext::new(self.suite, kid(source, self.own_leaf, epoch), base)?;
            self.senders.insert(source, tx);
        }
        self.senders.get_mut(&source).ok_or(OpenError::NoKey)
    }

    /// An opener for frames on the track of `leaf`'s `source`: it refuses
    /// frames whose KID names anyone or anything else.
    pub fn opener(&mut self, leaf: u32, source: Source) -> Opener<'_> {
        Opener {
            ring: self,
            leaf,
            source,
            last_error: None,
        }
    }

    fn open(
        &mut self,
        want_leaf: u32,
        want_source: Source,
        metadata: &[u8],
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), OpenError> {
        let (header, _) = Header::decode(frame).map_err(sframe::Error::Header)?;
        let (got_source, got_leaf, e) =
            split_kid(header.kid).ok_or(sframe::Error::UnknownKeyId(header.kid))?;
        if got_leaf != want_leaf || got_source != want_source {
            return Err(OpenError::WrongSender {
                want_leaf,
                want_source,
                got_leaf,
                got_source,
            });
        }
        if !self.receiver.has_key(header.kid) {
            let mask = (1 << EPOCH_BITS) - 1;
            let (_, base) = self
                .epochs
                .iter()
                .rev()
                .find(|(epoch, _)| epoch & mask == e)
                .ok_or(OpenError::NoKey)?;
            self.receiver.add_key(header.kid, base)?;
            self.derived.push(header.kid);
        }
        Ok(self.receiver.decrypt_into(metadata, frame, out)?)
    }
}

/// Opens the frames of one track (see [`KeyRing::opener`]). Implements
/// [`Open`] for `media::unprotect`; the precise reason of a failure is kept
/// in [`Opener::last_error`].
pub struct Opener<'a> {
    ring: &'a mut KeyRing,
    leaf: u32,
    source: Source,
    /// Why the last frame failed to open, if it did.
    pub last_error: Option<OpenError>,
}

impl Open for Opener<'_> {
    fn open_into(
        &mut self,
        metadata: &[u8],
        sframe: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), sframe::Error> {
        self.ring
            .open(self.leaf, self.source, metadata, sframe, out)
            .map_err(|e| {
                let mapped = match &e {
                    OpenError::Sframe(s) => s.clone(),
                    OpenError::NoKey | OpenError::WrongSender { .. } => {
                        sframe::Error::Authentication
                    }
                };
                self.last_error = Some(e);
                mapped
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_crypto::media::{self, Codec};

    const OPUS: [u8; 6] = [0x78, 1, 2, 3, 4, 5];

    fn ring(leaf: u32, epochs: &[(u64, u8)], send: u64) -> KeyRing {
        let mut r = KeyRing::new(leaf);
        for &(e, k) in epochs {
            r.add_epoch(e, &[k; 16]).expect("key");
        }
        r.send_with(send).expect("send epoch");
        r
    }

    #[test]
    fn kid_layout_round_trips() {
        let k = kid(Source::Screen, 513, 37);
        assert_eq!(k.0, 2 << 20 | 513 << 4 | 5);
        assert_eq!(split_kid(k), Some((Source::Screen, 513, 5)));
    }

    #[test]
    fn a_member_opens_what_another_sealed_and_learns_who() {
        let mut alice = ring(0, &[(3, 9)], 3);
        let mut bob = ring(1, &[(3, 9)], 3);
        let wire = media::protect(Codec::Opus, alice.sealer(Source::Mic).expect("tx"), &OPUS)
            .expect("protect");
        let clear =
            media::unprotect(Codec::Opus, &mut bob.opener(0, Source::Mic), &wire).expect("open");
        assert_eq!(clear.frame, OPUS);
        assert_eq!(split_kid(clear.kid), Some((Source::Mic, 0, 3)));
    }

    #[test]
    fn frames_on_the_wrong_track_are_refused() {
        let mut alice = ring(0, &[(3, 9)], 3);
        let mut bob = ring(1, &[(3, 9)], 3);
        let wire = media::protect(Codec::Opus, alice.sealer(Source::Mic).expect("tx"), &OPUS)
            .expect("protect");
        for (leaf, source) in [(2, Source::Mic), (0, Source::ScreenAudio)] {
            let mut rx = bob.opener(leaf, source);
            assert!(media::unprotect(Codec::Opus, &mut rx, &wire).is_err());
            assert!(matches!(rx.last_error, Some(OpenError::WrongSender { .. })));
        }
    }

    #[test]
    fn unknown_and_forgotten_epochs_wait_for_keys() {
        let mut alice = ring(0, &[(4, 1)], 4);
        let mut bob = ring(1, &[(3, 9)], 3);
        let wire = media::protect(Codec::Opus, alice.sealer(Source::Mic).expect("tx"), &OPUS)
            .expect("protect");
        let mut rx = bob.opener(0, Source::Mic);
        assert!(media::unprotect(Codec::Opus, &mut rx, &wire).is_err());
        assert_eq!(rx.last_error, Some(OpenError::NoKey));

        bob.add_epoch(4, &[1; 16]).expect("key");
        assert!(media::unprotect(Codec::Opus, &mut bob.opener(0, Source::Mic), &wire).is_ok());

        bob.forget_epoch(4);
        let wire = media::protect(Codec::Opus, alice.sealer(Source::Mic).expect("tx"), &OPUS)
            .expect("protect");
        let mut rx = bob.opener(0, Source::Mic);
        assert!(media::unprotect(Codec::Opus, &mut rx, &wire).is_err());
        assert_eq!(rx.last_error, Some(OpenError::NoKey));
    }

    #[test]
    fn a_wrong_key_for_the_epoch_fails_authentication() {
        let mut alice = ring(0, &[(2, 1)], 2);
        let mut eve = ring(1, &[(2, 7)], 2);
        let wire = media::protect(Codec::Opus, alice.sealer(Source::Mic).expect("tx"), &OPUS)
            .expect("protect");
        let mut rx = eve.opener(0, Source::Mic);
        assert!(media::unprotect(Codec::Opus, &mut rx, &wire).is_err());
        assert_eq!(
            rx.last_error,
            Some(OpenError::Sframe(sframe::Error::Authentication))
        );
    }

    #[test]
    fn nothing_is_sent_without_a_send_epoch_and_old_epochs_age_out() {
        let mut r = KeyRing::new(0);
        assert!(matches!(r.sealer(Source::Camera), Err(OpenError::NoKey)));
        for e in 0..(MAX_EPOCHS as u64 + 2) {
            r.add_epoch(e, &[e as u8; 16]).expect("key");
        }
        assert!(r.send_with(0).is_err());
        assert!(r.send_with(MAX_EPOCHS as u64 + 1).is_ok());
    }
}
