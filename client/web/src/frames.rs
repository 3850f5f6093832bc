//! The frame-transform Worker's object: protect outgoing encoded frames,
//! unprotect incoming ones (spec/protocol.md §7), over sotto-crypto's
//! [`KeyRing`].
//!
//! The Worker holds one [`FrameCrypto`]. The page's MLS session hands it
//! each epoch's keys (serialised [`EpochKeys`], by `postMessage`) and the
//! key acknowledgements it hears; the ring decides when to send with a new
//! epoch. The Worker calls [`FrameCrypto::encrypt`] on each frame of its
//! senders and [`FrameCrypto::decrypt`] on each frame of its receivers. A
//! frame that fails throws an `Error` whose `message` is one of the codes
//! of [`failure_code`]; the Worker then drops it.

use sotto_crypto::ParticipantId;
use sotto_crypto::keys::{EpochKeys, KeyRing, KeyRingConfig, OpenError, TrackSource};
use sotto_crypto::media::{Codec, MediaError};
use sotto_crypto::sframe;
use wasm_bindgen::prelude::*;

use crate::instant;

/// Media keys and frame protection for one member, owned by the Worker.
#[wasm_bindgen]
#[derive(Debug)]
pub struct FrameCrypto {
    ring: KeyRing,
}

fn codec(kind: &str) -> Result<Codec, JsError> {
    match kind {
        "audio" | "opus" | "audio/opus" => Ok(Codec::Opus),
        "video" | "vp8" | "video/VP8" => Ok(Codec::Vp8),
        _ => Err(JsError::new("unsupported_codec")),
    }
}

/// The source for its signalling name (`mic`, `camera`, `screen`,
/// `screen_audio`).
pub fn source(name: &str) -> Option<TrackSource> {
    TrackSource::ALL.into_iter().find(|s| s.as_str() == name)
}

fn source_js(name: &str) -> Result<TrackSource, JsError> {
    source(name).ok_or_else(|| JsError::new("unknown_source"))
}

/// The failure codes the Worker counts and the page shows: `no_key` (no
/// key for the frame's KID: its epoch is not held, or its leaf is empty or
/// ours: waiting for keys), `replay`, `auth` (does not authenticate: not
/// encrypted, tampered, or another key), `malformed` (too short for its
/// codec or its header).
pub fn failure_code(e: &MediaError) -> &'static str {
    match e {
        MediaError::Sframe(sframe::Error::UnknownKeyId(_) | sframe::Error::NoSendingKey) => {
            "no_key"
        }
        MediaError::Sframe(sframe::Error::Replay { .. } | sframe::Error::TooOld { .. }) => "replay",
        MediaError::Sframe(sframe::Error::Header(_) | sframe::Error::TooShort { .. })
        | MediaError::Empty(_)
        | MediaError::TooShort { .. } => "malformed",
        _ => "auth",
    }
}

/// Serialised [`EpochKeys`] built from parts, for tests that exercise the
/// Worker without an MLS group: `leaves[i]` is the leaf of `participants[i]`.
#[wasm_bindgen(js_name = epochKeysFromParts)]
pub fn epoch_keys_from_parts(
    epoch: u32,
    base_key: &[u8],
    own_leaf: u32,
    leaves: Vec<u32>,
    participants: Vec<String>,
) -> Result<Vec<u8>, JsError> {
    let key: [u8; 16] = base_key.try_into().map_err(|_| JsError::new("bad_key"))?;
    let members = leaves
        .into_iter()
        .zip(participants)
        .map(|(l, p)| ParticipantId::new(p).map(|p| (l, p)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| JsError::new("bad_participant"))?;
    let keys = EpochKeys::new(u64::from(epoch), key, own_leaf, members);
    Ok(keys.to_bytes().to_vec())
}

impl Default for FrameCrypto {
    fn default() -> Self {
        FrameCrypto::new()
    }
}

#[wasm_bindgen]
impl FrameCrypto {
    /// An empty ring: every frame is dropped until the first epoch.
    #[wasm_bindgen(constructor)]
    pub fn new() -> FrameCrypto {
        FrameCrypto {
            ring: KeyRing::new(KeyRingConfig::default()),
        }
    }

    /// Installs one epoch's serialised keys (from the session's
    /// `takeEpochKeys`). `now` is `Date.now()`.
    #[wasm_bindgen(js_name = addEpoch)]
    pub fn add_epoch(&mut self, keys: &[u8], now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(|e| JsError::new(&e.to_string()))?;
        let keys = EpochKeys::from_bytes(keys).map_err(|_| JsError::new("bad_keys"))?;
        self.ring
            .add_epoch(keys, now)
            .map_err(|_| JsError::new("stale_epoch"))
    }

    /// The member at `leaf` holds `epoch`'s key (a `key_ack` event).
    pub fn acknowledge(&mut self, epoch: f64, leaf: u32, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(|e| JsError::new(&e.to_string()))?;
        if !epoch.is_finite() || epoch < 0.0 || epoch.fract() != 0.0 {
            return Err(JsError::new("bad_epoch"));
        }
        // Integral and non-negative; epochs are far below 2^53.
        self.ring.acknowledge(epoch as u64, leaf, now);
        Ok(())
    }

    /// `participant` is gone (the server's `left`): senders stop waiting
    /// for its acknowledgements.
    pub fn departed(&mut self, participant: &str, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(|e| JsError::new(&e.to_string()))?;
        let participant =
            ParticipantId::new(participant).map_err(|_| JsError::new("bad_participant"))?;
        self.ring.departed(&participant, now);
        Ok(())
    }

    /// Runs the ring's timers (switching the sending epoch, dropping old
    /// ones).
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) -> Result<(), JsError> {
        let now = instant(now).map_err(|e| JsError::new(&e.to_string()))?;
        self.ring.handle_timeout(now);
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work (ms
    /// since the Unix epoch), or `undefined`.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        // Milliseconds since 1970 are far below 2^53.
        self.ring.poll_timeout().map(|t| t.as_millis() as f64)
    }

    /// The epoch used for sending, or `undefined`.
    #[wasm_bindgen(js_name = sendEpoch)]
    pub fn send_epoch(&self) -> Option<f64> {
        // Epochs are far below 2^53.
        self.ring.sending_epoch().map(|e| e as f64)
    }

    /// Protects one encoded frame of our `source` (`mic`, `camera`,
    /// `screen`, `screen_audio`); `kind` is `audio` or `video`. Throws
    /// `no_key` before any epoch: the frame must then be dropped, never
    /// sent in the clear.
    pub fn encrypt(
        &mut self,
        kind: &str,
        source_name: &str,
        frame: &[u8],
    ) -> Result<Vec<u8>, JsError> {
        let codec = codec(kind)?;
        let src = source_js(source_name)?;
        if self.ring.sending_epoch().is_none() {
            return Err(JsError::new("no_key"));
        }
        self.ring
            .protect(codec, src, frame)
            .map_err(|e| JsError::new(failure_code(&e)))
    }

    /// Unprotects one frame received on the track of `participant`'s
    /// `source`. Throws, and the frame must be dropped, with a code of
    /// [`failure_code`], or `wrong_sender` when the frame opens but its KID
    /// names another member or source than the track carries.
    pub fn decrypt(
        &mut self,
        kind: &str,
        participant: &str,
        source_name: &str,
        frame: &[u8],
    ) -> Result<Vec<u8>, JsError> {
        let codec = codec(kind)?;
        let src = source_js(source_name)?;
        let owner = ParticipantId::new(participant).map_err(|_| JsError::new("wrong_sender"))?;
        // The track is checked before the frame is opened: a frame moved
        // onto another track does not spend its replay slot.
        self.ring
            .unprotect_on_track(codec, &owner, src, frame)
            .map_err(|e| match e {
                OpenError::Media(e) => JsError::new(failure_code(&e)),
                _ => JsError::new("wrong_sender"),
            })
    }
}
