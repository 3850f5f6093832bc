//! The media key ring: SFrame keys per MLS epoch (RFC 9605 §5.2).
//!
//! A [`KeyRing`] is separate from the [`Session`](crate::session::Session)
//! because in a browser the frame transform runs in a Worker: the session
//! (main thread) hands it one [`EpochKeys`] per epoch and the
//! acknowledgements it hears, the Worker seals and opens frames.
//!
//! * A new epoch decrypts at once.
//! * The ring keeps *sending* with the previous epoch until every other
//!   member of the new epoch acknowledged it ([`KeyRing::acknowledge`]) or
//!   [`KeyRingConfig::switch_timeout`] passed, so nobody receives frames it
//!   cannot decrypt yet. A member the server reported gone
//!   ([`KeyRing::departed`]) is not waited for: it will never acknowledge.
//! * Older epochs stay for decryption for [`KeyRingConfig::retention`]
//!   after a newer one arrives (late frames in jitter buffers), and there
//!   are never more than 2^E = 16 (a new epoch evicts the one whose epoch
//!   has the same low E bits, RFC 9605 §5.2). A member the newer epoch
//!   removed is heard in the older ones for [`KeyRingConfig::leaver_grace`]
//!   only: after that an ex-member (with the server's help) cannot play
//!   frames under its old keys.
//! * Receivers derive a [`FrameKey`] per KID on first use and keep a
//!   [`ReplayWindow`] per KID. A frame must come from an occupied leaf of
//!   its epoch that is not the ring's own, and opening it tells who sent it
//!   on which [`TrackSource`], so the app can check that it matches the
//!   track it arrived on.

mod epoch;
mod kid;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

pub use epoch::{BASE_KEY_BYTES, BASE_KEY_LABEL, BadEpochKeys, EpochKeys};
pub use kid::{EPOCH_BITS, KidError, KidLayout, KidParts, TrackSource, epoch_bits, kid_epoch_bits};

use crate::ParticipantId;
use crate::media::{self, Codec, MediaError, Open, Seal};
use crate::sframe::{
    self, CipherSuite, Counter, FrameKey, Header, KeyId, ReplayWindow, SenderContext,
};
use crate::time::Instant;

/// Most epochs held at once: 2^E.
pub const MAX_EPOCHS: usize = 1 << EPOCH_BITS;

/// Timing of a [`KeyRing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRingConfig {
    /// Longest wait for acknowledgements before sending with a new epoch.
    pub switch_timeout: Duration,
    /// How long an epoch still decrypts after a newer one arrived.
    pub retention: Duration,
    /// How long frames of a member that a newer epoch removed still open
    /// in the older epochs: its last frames in flight when the commit
    /// came. Shorter than `retention`, which is for those who stay.
    pub leaver_grace: Duration,
}

impl Default for KeyRingConfig {
    fn default() -> Self {
        KeyRingConfig {
            switch_timeout: Duration::from_millis(1500),
            retention: Duration::from_secs(10),
            leaver_grace: Duration::from_secs(2),
        }
    }
}

/// Why the key ring refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An epoch not newer than one already given: re-adding it could make
    /// a sender reuse counters under the same key.
    #[error("epoch {epoch} is not newer than epoch {newest}")]
    StaleEpoch {
        /// The epoch given.
        epoch: u64,
        /// The newest epoch the ring has seen.
        newest: u64,
    },
    /// The ring does not hold this epoch (never given, or dropped).
    #[error("epoch {0} is not held")]
    UnknownEpoch(u64),
    /// The own leaf does not fit the epoch's KID layout.
    #[error(transparent)]
    Kid(#[from] KidError),
}

/// Who sent a frame, on which stream, in which epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOrigin {
    /// The sender's participant id.
    pub participant: ParticipantId,
    /// The sender's leaf in `epoch`.
    pub leaf: u32,
    /// The stream.
    pub source: TrackSource,
    /// The MLS epoch whose key protected the frame.
    pub epoch: u64,
}

/// An opened frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// Who sent it.
    pub origin: FrameOrigin,
    /// Its SFrame counter.
    pub ctr: Counter,
    /// The encoded frame as the sender's encoder made it.
    pub frame: Vec<u8>,
}

struct ReceiveKey {
    key: FrameKey,
    window: ReplayWindow,
}

struct Epoch {
    keys: EpochKeys,
    layout: KidLayout,
    senders: [Option<SenderContext>; 4],
    receivers: HashMap<KeyId, ReceiveKey>,
    acks: BTreeSet<u32>,
    /// When to send with this epoch even without every acknowledgement.
    switch_at: Instant,
    /// When it stops decrypting (set once a newer epoch arrives).
    expires: Option<Instant>,
    /// Leaves whose member a newer epoch removed.
    leavers: Vec<Leaver>,
}

/// A leaf of an older epoch whose member a newer epoch removed.
struct Leaver {
    leaf: u32,
    /// When its frames stop opening.
    until: Instant,
    /// Set by the timer once `until` passed.
    closed: bool,
}

impl Epoch {
    /// Whether every other member acknowledged, but for those gone.
    fn everyone_acknowledged(&self, departed: &BTreeSet<ParticipantId>) -> bool {
        self.keys.members().iter().all(|(leaf, who)| {
            *leaf == self.keys.own_leaf() || self.acks.contains(leaf) || departed.contains(who)
        })
    }
}

/// SFrame keys of the recent epochs of one MLS group, for sending and
/// receiving media. One ring per group: a new group needs a new ring.
pub struct KeyRing {
    suite: CipherSuite,
    config: KeyRingConfig,
    /// Sorted by epoch, at most [`MAX_EPOCHS`].
    epochs: Vec<Epoch>,
    sending: Option<u64>,
    newest: Option<u64>,
    /// Members of held epochs that are gone: their acknowledgements are
    /// not awaited. Forgotten once no held epoch has them.
    departed: BTreeSet<ParticipantId>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "epochs",
                &self
                    .epochs
                    .iter()
                    .map(|e| e.keys.epoch())
                    .collect::<Vec<_>>(),
            )
            .field("sending", &self.sending)
            .finish()
    }
}

impl KeyRing {
    /// An empty ring using AES_128_GCM_SHA256_128 (RFC 9605 §4.5).
    pub fn new(config: KeyRingConfig) -> KeyRing {
        KeyRing {
            suite: CipherSuite::AesGcm128Sha256,
            config,
            epochs: Vec::new(),
            sending: None,
            newest: None,
            departed: BTreeSet::new(),
        }
    }

    /// Adds a new epoch: it decrypts at once, and is sent with once every
    /// other member acknowledged it or the switch timeout passed (at once
    /// if it is the first epoch).
    pub fn add_epoch(&mut self, keys: EpochKeys, now: Instant) -> Result<(), KeyError> {
        if let Some(newest) = self.newest
            && keys.epoch() <= newest
        {
            return Err(KeyError::StaleEpoch {
                epoch: keys.epoch(),
                newest,
            });
        }
        let layout = keys.layout();
        // Checked here so that sealing never meets a leaf that does not fit.
        layout.kid(TrackSource::Mic, keys.own_leaf(), keys.epoch())?;
        let bits = epoch_bits(keys.epoch());
        self.epochs.retain(|e| epoch_bits(e.keys.epoch()) != bits);
        let expiry = now + self.config.retention;
        let leaver_expiry = now + self.config.leaver_grace;
        for e in &mut self.epochs {
            e.expires = Some(e.expires.map_or(expiry, |x| x.min(expiry)));
            for (leaf, who) in e.keys.members() {
                let removed = !keys.members().iter().any(|(_, p)| p == who);
                if removed && !e.leavers.iter().any(|l| l.leaf == *leaf) {
                    e.leavers.push(Leaver {
                        leaf: *leaf,
                        until: leaver_expiry,
                        closed: false,
                    });
                }
            }
        }
        let epoch = keys.epoch();
        self.epochs.push(Epoch {
            keys,
            layout,
            senders: Default::default(),
            receivers: HashMap::new(),
            acks: BTreeSet::new(),
            switch_at: now + self.config.switch_timeout,
            expires: None,
            leavers: Vec::new(),
        });
        self.newest = Some(epoch);
        self.forget_departed();
        let sending_gone = self
            .sending
            .is_some_and(|s| !self.epochs.iter().any(|e| e.keys.epoch() == s));
        if self.sending.is_none() || sending_gone {
            self.sending = Some(epoch);
        }
        self.maybe_switch(now);
        Ok(())
    }

    /// `leaf` says it holds the key of `epoch` (an `ack` message).
    pub fn acknowledge(&mut self, epoch: u64, leaf: u32, now: Instant) {
        if let Some(e) = self.epochs.iter_mut().find(|e| e.keys.epoch() == epoch) {
            e.acks.insert(leaf);
        }
        self.maybe_switch(now);
    }

    /// `participant` is gone (the server said it left or was dropped): no
    /// epoch waits for its acknowledgement any more, in an epoch held now
    /// or in a later one that still has it (until a commit removes it).
    ///
    /// Told by the server, which could lie: then senders switch before
    /// that member holds the new key, and it misses up to the switch delay
    /// of frames, which the server could as well have dropped. Nobody
    /// outside the epoch gets its key.
    pub fn departed(&mut self, participant: &ParticipantId, now: Instant) {
        // Kept even if no epoch held has it: a waiting joiner hears of
        // departures before the Welcome into a group that may still have
        // them. The next epoch or timer forgets those no held epoch has.
        self.departed.insert(participant.clone());
        self.maybe_switch(now);
    }

    /// Keeps only the departed that a held epoch still has as a member
    /// (all of them while no epoch is held).
    fn forget_departed(&mut self) {
        if self.epochs.is_empty() {
            return;
        }
        let epochs = &self.epochs;
        self.departed.retain(|p| {
            epochs
                .iter()
                .any(|e| e.keys.members().iter().any(|(_, who)| who == p))
        });
    }

    /// Sends with `epoch` from now on, whatever the acknowledgements.
    pub fn switch_sending(&mut self, epoch: u64) -> Result<(), KeyError> {
        if !self.epochs.iter().any(|e| e.keys.epoch() == epoch) {
            return Err(KeyError::UnknownEpoch(epoch));
        }
        self.sending = Some(epoch);
        Ok(())
    }

    /// Runs the timers: switches the sending epoch after its timeout and
    /// drops expired epochs (never the one being sent with).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.maybe_switch(now);
        let sending = self.sending;
        self.epochs
            .retain(|e| Some(e.keys.epoch()) == sending || e.expires.is_none_or(|x| x > now));
        for l in self.epochs.iter_mut().flat_map(|e| e.leavers.iter_mut()) {
            l.closed |= l.until <= now;
        }
        self.forget_departed();
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sending = self.sending;
        self.epochs
            .iter()
            .filter_map(|e| {
                if sending.is_some_and(|s| e.keys.epoch() > s) {
                    Some(e.switch_at)
                } else if Some(e.keys.epoch()) != sending {
                    e.expires
                } else {
                    None
                }
            })
            .chain(
                self.epochs
                    .iter()
                    .flat_map(|e| e.leavers.iter())
                    .filter(|l| !l.closed)
                    .map(|l| l.until),
            )
            .min()
    }

    /// The newest epoch that may be sent with now, if it is newer than the
    /// current one.
    fn maybe_switch(&mut self, now: Instant) {
        let current = self.sending.unwrap_or(0);
        let departed = &self.departed;
        if let Some(e) = self.epochs.iter().rev().find(|e| {
            e.keys.epoch() > current && (e.switch_at <= now || e.everyone_acknowledged(departed))
        }) {
            self.sending = Some(e.keys.epoch());
        }
    }

    /// The epoch frames are sent with.
    pub fn sending_epoch(&self) -> Option<u64> {
        self.sending
    }

    /// The epochs held, oldest first.
    pub fn epochs(&self) -> impl Iterator<Item = u64> + '_ {
        self.epochs.iter().map(|e| e.keys.epoch())
    }

    /// A handle that seals frames of `source`, for [`media::protect`].
    pub fn sender(&mut self, source: TrackSource) -> SendStream<'_> {
        SendStream { ring: self, source }
    }

    /// Protects one encoded frame of `source`.
    pub fn protect(
        &mut self,
        codec: Codec,
        source: TrackSource,
        frame: &[u8],
    ) -> Result<Vec<u8>, MediaError> {
        media::protect(codec, &mut self.sender(source), frame)
    }

    /// Opens one received frame and says who sent it. Any error means: drop
    /// the frame.
    pub fn unprotect(&mut self, codec: Codec, wire: &[u8]) -> Result<ReceivedFrame, MediaError> {
        let opened = media::unprotect(codec, self, wire)?;
        let origin = self
            .origin(opened.kid)
            .ok_or(MediaError::Sframe(sframe::Error::UnknownKeyId(opened.kid)))?;
        Ok(ReceivedFrame {
            origin,
            ctr: opened.ctr,
            frame: opened.frame,
        })
    }

    /// Opens one frame that arrived on the track of `owner`'s `source`,
    /// the way a receiver must: the KID is matched against the track
    /// before anything is decrypted, so a frame the server moved onto
    /// another track is refused without touching the replay window of the
    /// KID it carries (the genuine frame, arriving on its own track, still
    /// opens). Any error means: drop the frame.
    pub fn unprotect_on_track(
        &mut self,
        codec: Codec,
        owner: &ParticipantId,
        source: TrackSource,
        wire: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        let mut open = OnTrack {
            ring: self,
            owner,
            source,
            wrong_track: None,
        };
        match media::unprotect(codec, &mut open, wire) {
            Ok(opened) => Ok(opened.frame),
            Err(e) => Err(open.wrong_track.take().unwrap_or(OpenError::Media(e))),
        }
    }

    /// Who a KID belongs to, if it fits an epoch held.
    pub fn origin(&self, kid: KeyId) -> Option<FrameOrigin> {
        let (e, parts) = self.locate(kid).ok()?;
        let participant = e.keys.participant(parts.leaf)?.clone();
        Some(FrameOrigin {
            participant,
            leaf: parts.leaf,
            source: parts.source,
            epoch: e.keys.epoch(),
        })
    }

    /// Every epoch key this ring holds: what a member that leaves takes
    /// with it (tests use it to show it cannot open later frames).
    pub fn held_keys(&self) -> Vec<EpochKeys> {
        self.epochs.iter().map(|e| e.keys.clone()).collect()
    }

    /// The epoch entry and KID parts for a received KID, checking that the
    /// sender is an occupied leaf other than our own.
    fn locate(&self, kid: KeyId) -> Result<(&Epoch, KidParts), sframe::Error> {
        let bits = kid_epoch_bits(kid);
        let e = self
            .epochs
            .iter()
            .find(|e| epoch_bits(e.keys.epoch()) == bits)
            .ok_or(sframe::Error::UnknownKeyId(kid))?;
        let parts = e
            .layout
            .parse(kid)
            .map_err(|_| sframe::Error::UnknownKeyId(kid))?;
        // The layout must reproduce the KID exactly (no stray high bits).
        let canonical = e
            .layout
            .kid(parts.source, parts.leaf, e.keys.epoch())
            .map_err(|_| sframe::Error::UnknownKeyId(kid))?;
        if canonical != kid
            || parts.leaf == e.keys.own_leaf()
            || e.keys.participant(parts.leaf).is_none()
            || e.leavers.iter().any(|l| l.leaf == parts.leaf && l.closed)
        {
            return Err(sframe::Error::UnknownKeyId(kid));
        }
        Ok((e, parts))
    }
}

impl Open for KeyRing {
    fn open_into(
        &mut self,
        metadata: &[u8],
        sframe_bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), sframe::Error> {
        let (header, header_len) = Header::decode(sframe_bytes)?;
        self.open_header(&header, header_len, metadata, sframe_bytes, out)
    }
}

impl KeyRing {
    /// Opens an SFrame whose header is already decoded.
    fn open_header(
        &mut self,
        header: &Header,
        header_len: usize,
        metadata: &[u8],
        sframe_bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), sframe::Error> {
        let kid = header.kid;
        self.locate(kid)?;
        let bits = kid_epoch_bits(kid);
        let suite = self.suite;
        let e = self
            .epochs
            .iter_mut()
            .find(|e| epoch_bits(e.keys.epoch()) == bits)
            .ok_or(sframe::Error::UnknownKeyId(kid))?;
        let rk = match e.receivers.entry(kid) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(ReceiveKey {
                key: FrameKey::derive(suite, kid, e.keys.base_key())?,
                window: ReplayWindow::new(),
            }),
        };
        rk.window.check(kid, header.ctr)?;
        rk.key.open_into(
            header,
            &sframe_bytes[..header_len],
            metadata,
            &sframe_bytes[header_len..],
            out,
        )?;
        rk.window.accept(header.ctr);
        Ok((kid, header.ctr))
    }
}

/// Why [`KeyRing::unprotect_on_track`] dropped a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The frame did not parse, authenticate or pass the replay window,
    /// or its KID names no sender we hold a key for.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The KID names another member than the one whose track carried it.
    #[error("frame keyed by {0} on another member's track")]
    WrongSender(ParticipantId),
    /// The KID names another source of the track's owner (e.g. screen
    /// frames on the camera track).
    #[error("frame keyed for the {0:?} on another source's track")]
    WrongSource(TrackSource),
}

/// The ring opening frames that arrived on `owner`'s `source` track: the
/// KID is matched against the track before the replay window or the key
/// are touched. A mismatch is kept in `wrong_track` (the `Open` trait only
/// carries SFrame errors) and reported instead of the SFrame error.
struct OnTrack<'a> {
    ring: &'a mut KeyRing,
    owner: &'a ParticipantId,
    source: TrackSource,
    wrong_track: Option<OpenError>,
}

impl Open for OnTrack<'_> {
    fn open_into(
        &mut self,
        metadata: &[u8],
        sframe_bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), sframe::Error> {
        let (header, header_len) = Header::decode(sframe_bytes)?;
        let (e, parts) = self.ring.locate(header.kid)?;
        match e.keys.participant(parts.leaf) {
            Some(sender) if sender != self.owner => {
                self.wrong_track = Some(OpenError::WrongSender(sender.clone()));
            }
            _ if parts.source != self.source => {
                self.wrong_track = Some(OpenError::WrongSource(parts.source));
            }
            _ => {}
        }
        if self.wrong_track.is_some() {
            return Err(sframe::Error::UnknownKeyId(header.kid));
        }
        self.ring
            .open_header(&header, header_len, metadata, sframe_bytes, out)
    }
}

/// Seals the frames of one source with the ring's sending epoch.
pub struct SendStream<'a> {
    ring: &'a mut KeyRing,
    source: TrackSource,
}

impl Seal for SendStream<'_> {
    fn seal_into(
        &mut self,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), sframe::Error> {
        let sending = self.ring.sending.ok_or(sframe::Error::NoSendingKey)?;
        let suite = self.ring.suite;
        let e = self
            .ring
            .epochs
            .iter_mut()
            .find(|e| e.keys.epoch() == sending)
            .ok_or(sframe::Error::NoSendingKey)?;
        let slot = &mut e.senders[self.source.context() as usize];
        if slot.is_none() {
            let kid = e
                .layout
                .kid(self.source, e.keys.own_leaf(), e.keys.epoch())
                .map_err(|_| sframe::Error::NoSendingKey)?;
            *slot = Some(SenderContext::new(suite, kid, e.keys.base_key())?);
        }
        match slot {
            Some(tx) => tx.encrypt_into(metadata, plaintext, out),
            None => Err(sframe::Error::NoSendingKey),
        }
    }
}

#[cfg(test)]
mod tests;
