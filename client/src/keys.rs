//! What the media path needs from the key schedule.
//!
//! Senders protect each frame of a source with that source's current key;
//! receivers open a frame and check that its key belongs to the participant
//! and source whose track carried it. The MLS session provides the real
//! implementation (per-epoch SFrame keys, KIDs naming context, leaf and
//! epoch); the media tasks see only this trait, so they neither know nor
//! care how keys are made.

use std::sync::{Arc, Mutex};

use sotto_crypto::keys::{KeyRing, OpenError};
use sotto_crypto::media::{Codec, MediaError};
use sotto_crypto::sframe;
use sotto_proto::{ParticipantId, TrackSource};

/// Why a frame could not be protected or opened. Every one of these means
/// the frame is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// No key yet (not a member, or the sender's epoch is unknown).
    #[error("no key for this frame yet")]
    NoKey,
    /// The frame did not parse, authenticate or pass the replay window.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The frame opened, but with the key of another member than the one
    /// whose track carried it.
    #[error("frame keyed by another member than the track's owner")]
    WrongSender,
    /// The frame opened with the key of another source of the member (e.g.
    /// screen frames on the camera track).
    #[error("frame keyed for another source than its track's")]
    WrongSource,
}

/// Protects outgoing frames and opens incoming ones.
pub trait FrameCrypto: Send + Sync + 'static {
    /// Protects one encoded frame of our `source`.
    fn protect(
        &self,
        source: TrackSource,
        codec: Codec,
        frame: &[u8],
    ) -> Result<Vec<u8>, FrameError>;

    /// Opens a frame that arrived on `from`'s `source` track.
    fn unprotect(
        &self,
        from: &ParticipantId,
        source: TrackSource,
        codec: Codec,
        wire: &[u8],
    ) -> Result<Vec<u8>, FrameError>;
}

/// The real thing: the MLS group's media [`KeyRing`], shared between the
/// connection (which feeds it epochs and acknowledgements) and the media
/// tasks (which seal and open frames with it).
///
/// Sealing runs the ring's timers first, so a sender moves to a new epoch
/// when its switch timeout says, even while the connection's loop is busy
/// (handling an SDP offer takes a while on a loaded machine): the same
/// independence the browser's Worker has from its page.
#[derive(Debug, Clone)]
pub struct RingCrypto {
    ring: Arc<Mutex<KeyRing>>,
    t0: tokio::time::Instant,
}

impl RingCrypto {
    /// Frames are sealed and opened with `ring`, whose times count from
    /// `t0`.
    pub fn new(ring: Arc<Mutex<KeyRing>>, t0: tokio::time::Instant) -> Self {
        RingCrypto { ring, t0 }
    }

    /// Now, on the ring's clock.
    pub fn now(&self) -> sotto_crypto::Instant {
        let ms = u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        sotto_crypto::Instant::from_millis(ms)
    }
}

impl FrameCrypto for RingCrypto {
    fn protect(
        &self,
        source: TrackSource,
        codec: Codec,
        frame: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        let now = self.now();
        let mut ring = self.ring.lock().map_err(|_| FrameError::NoKey)?;
        ring.handle_timeout(now);
        match ring.protect(codec, source, frame) {
            Ok(wire) => Ok(wire),
            Err(MediaError::Sframe(sframe::Error::NoSendingKey)) => Err(FrameError::NoKey),
            Err(e) => Err(FrameError::Media(e)),
        }
    }

    fn unprotect(
        &self,
        from: &ParticipantId,
        source: TrackSource,
        codec: Codec,
        wire: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        let mut ring = self.ring.lock().map_err(|_| FrameError::NoKey)?;
        if ring.sending_epoch().is_none() {
            return Err(FrameError::NoKey);
        }
        // The SFU says whose track this is; the key says who sealed it.
        // A member's frames replayed on another member's track (or a
        // camera frame on the mic track) are refused, before they are
        // opened, so they cannot spend the genuine frame's replay slot.
        ring.unprotect_on_track(codec, from, source, wire)
            .map_err(|e| match e {
                OpenError::WrongSender(_) => FrameError::WrongSender,
                OpenError::WrongSource(_) => FrameError::WrongSource,
                OpenError::Media(e) => FrameError::Media(e),
                _ => FrameError::WrongSender,
            })
    }
}

#[cfg(test)]
pub(crate) mod fixed {
    //! One pre-shared base key, for testing the media path without a group:
    //! KID = context, and every peer is "the" sender.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use sotto_crypto::media::{self, Codec};
    use sotto_crypto::sframe::{CipherSuite, KeyId, ReceiverContext, SenderContext};
    use sotto_proto::{ParticipantId, TrackSource};

    use super::{FrameCrypto, FrameError};

    pub(crate) struct FixedKeys {
        base: [u8; 16],
        tx: Mutex<HashMap<TrackSource, SenderContext>>,
        rx: Mutex<ReceiverContext>,
    }

    impl FixedKeys {
        pub(crate) fn new(base: [u8; 16]) -> Self {
            let mut rx = ReceiverContext::new(CipherSuite::default());
            for c in 0..4 {
                rx.add_key(KeyId(c), &base).expect("key");
            }
            FixedKeys {
                base,
                tx: Mutex::new(HashMap::new()),
                rx: Mutex::new(rx),
            }
        }
    }

    impl FrameCrypto for FixedKeys {
        fn protect(
            &self,
            source: TrackSource,
            codec: Codec,
            frame: &[u8],
        ) -> Result<Vec<u8>, FrameError> {
            let mut tx = self.tx.lock().map_err(|_| FrameError::NoKey)?;
            let ctx = match tx.entry(source) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(
                    SenderContext::new(CipherSuite::default(), KeyId(source.context()), &self.base)
                        .map_err(|_| FrameError::NoKey)?,
                ),
            };
            Ok(media::protect(codec, ctx, frame)?)
        }

        fn unprotect(
            &self,
            _from: &ParticipantId,
            source: TrackSource,
            codec: Codec,
            wire: &[u8],
        ) -> Result<Vec<u8>, FrameError> {
            let mut rx = self.rx.lock().map_err(|_| FrameError::NoKey)?;
            let u = media::unprotect(codec, &mut *rx, wire)?;
            if u.kid != KeyId(source.context()) {
                return Err(FrameError::WrongSource);
            }
            Ok(u.frame)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use sotto_crypto::Instant;
    use sotto_crypto::keys::{EpochKeys, KeyRing, KeyRingConfig};
    use sotto_crypto::media::Codec;
    use sotto_proto::{ParticipantId, TrackSource};

    use super::{FrameCrypto, FrameError, RingCrypto};

    /// The crypto of the member at `own` in a two-member epoch.
    fn member(own: u32) -> RingCrypto {
        let members = vec![
            (0, ParticipantId::new("alice").expect("id")),
            (1, ParticipantId::new("bob").expect("id")),
        ];
        let mut ring = KeyRing::new(KeyRingConfig::default());
        ring.add_epoch(EpochKeys::new(3, [7; 16], own, members), Instant::ZERO)
            .expect("first epoch");
        RingCrypto::new(Arc::new(Mutex::new(ring)), tokio::time::Instant::now())
    }

    // A keyframe (bit 0 of byte 0 clear) with a body.
    const FRAME: [u8; 40] = [0x10; 40];

    #[test]
    fn frames_open_only_on_their_senders_track_and_source() {
        let (alice, bob) = (member(0), member(1));
        let from_alice = ParticipantId::new("alice").expect("valid id");
        let wire = alice
            .protect(TrackSource::Camera, Codec::Vp8, &FRAME)
            .expect("alice has a sending key");
        assert_ne!(&wire[10..], &FRAME[10..]);
        let opened = bob.unprotect(&from_alice, TrackSource::Camera, Codec::Vp8, &wire);
        assert_eq!(opened.as_deref(), Ok(&FRAME[..]));

        // The same sealing presented as bob's track (a server swapping
        // tracks), or as alice's screen: refused.
        let wire = alice
            .protect(TrackSource::Camera, Codec::Vp8, &FRAME)
            .expect("sealed");
        let as_bob = ParticipantId::new("bob").expect("valid id");
        assert_eq!(
            member(1).unprotect(&as_bob, TrackSource::Camera, Codec::Vp8, &wire),
            Err(FrameError::WrongSender)
        );
        assert_eq!(
            member(1).unprotect(&from_alice, TrackSource::Screen, Codec::Vp8, &wire),
            Err(FrameError::WrongSource)
        );
        // A replayed frame does not open twice.
        assert!(matches!(
            bob.unprotect(&from_alice, TrackSource::Camera, Codec::Vp8, &wire)
                .and_then(|_| bob.unprotect(&from_alice, TrackSource::Camera, Codec::Vp8, &wire)),
            Err(FrameError::Media(_))
        ));
    }

    #[test]
    fn sealing_moves_to_a_new_epoch_when_its_switch_timeout_passes() {
        // Nobody runs the ring's timer here (as when the connection's loop
        // is busy): sealing itself must switch once the timeout passed.
        let members = vec![
            (0, ParticipantId::new("alice").expect("id")),
            (1, ParticipantId::new("bob").expect("id")),
        ];
        let config = KeyRingConfig::default();
        let ring = Arc::new(Mutex::new(KeyRing::new(config)));
        let t0 = tokio::time::Instant::now();
        let alice = RingCrypto::new(Arc::clone(&ring), t0);
        for epoch in [3, 4] {
            let keys = EpochKeys::new(epoch, [epoch as u8; 16], 0, members.clone());
            ring.lock()
                .expect("not poisoned")
                .add_epoch(keys, Instant::ZERO)
                .expect("a newer epoch");
        }
        let sending = || ring.lock().expect("not poisoned").sending_epoch();
        // Bob has not acknowledged epoch 4.
        alice
            .protect(TrackSource::Mic, Codec::Opus, &FRAME)
            .expect("sealed");
        assert_eq!(sending(), Some(3));
        // The same ring, on a clock that has passed the switch timeout.
        let later = config.switch_timeout + std::time::Duration::from_millis(1);
        let alice_later =
            RingCrypto::new(Arc::clone(&ring), t0.checked_sub(later).expect("uptime"));
        alice_later
            .protect(TrackSource::Mic, Codec::Opus, &FRAME)
            .expect("sealed");
        assert_eq!(sending(), Some(4));
    }

    #[test]
    fn without_keys_nothing_is_sent_or_opened() {
        let empty = RingCrypto::new(
            Arc::new(Mutex::new(KeyRing::new(KeyRingConfig::default()))),
            tokio::time::Instant::now(),
        );
        assert_eq!(
            empty.protect(TrackSource::Mic, Codec::Opus, &FRAME),
            Err(FrameError::NoKey)
        );
        let wire = member(0)
            .protect(TrackSource::Mic, Codec::Opus, &FRAME)
            .expect("sealed");
        assert_eq!(
            empty.unprotect(
                &ParticipantId::new("alice").expect("valid id"),
                TrackSource::Mic,
                Codec::Opus,
                &wire
            ),
            Err(FrameError::NoKey)
        );
    }
}
