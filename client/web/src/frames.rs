//! The frame-transform Worker's object: protect outgoing encoded frames,
//! unprotect incoming ones (spec/protocol.md §7).
//!
//! The Worker holds one [`FrameCrypto`]. The page passes it epoch keys (by
//! `postMessage`, from the MLS session) and tells it which epoch to send
//! with; the Worker calls [`FrameCrypto::encrypt`] on each frame of its
//! senders and [`FrameCrypto::decrypt`] on each frame of its receivers.
//! A frame that fails to open throws an `Error` whose `message` is one of
//! the codes of [`FrameCrypto::decrypt`]; the Worker then drops it.

use sotto_crypto::media::{self, Codec, MediaError};
use wasm_bindgen::prelude::*;

use crate::ring::{KeyRing, OpenError, Source};

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

fn source(name: &str) -> Result<Source, JsError> {
    Source::from_name(name).ok_or_else(|| JsError::new("unknown_source"))
}

/// The failure codes the Worker counts and the page shows.
pub fn failure_code(e: &OpenError) -> &'static str {
    match e {
        OpenError::NoKey => "no_key",
        OpenError::WrongSender { .. } => "wrong_sender",
        OpenError::Sframe(sotto_crypto::sframe::Error::Replay { .. })
        | OpenError::Sframe(sotto_crypto::sframe::Error::TooOld { .. }) => "replay",
        OpenError::Sframe(_) => "auth",
    }
}

#[wasm_bindgen]
impl FrameCrypto {
    /// Keys for the member at MLS leaf `own_leaf`.
    #[wasm_bindgen(constructor)]
    pub fn new(own_leaf: u32) -> FrameCrypto {
        FrameCrypto {
            ring: KeyRing::new(own_leaf),
        }
    }

    /// Our leaf changed (after a rejoin).
    #[wasm_bindgen(js_name = setOwnLeaf)]
    pub fn set_own_leaf(&mut self, leaf: u32) {
        self.ring.set_own_leaf(leaf);
    }

    /// Installs the SFrame base key of `epoch` (from the MLS exporter).
    #[wasm_bindgen(js_name = addEpoch)]
    pub fn add_epoch(&mut self, epoch: u32, base_key: &[u8]) -> Result<(), JsError> {
        self.ring
            .add_epoch(u64::from(epoch), base_key)
            .map_err(|_| JsError::new("bad_key"))
    }

    /// Sends with `epoch`'s keys from now on.
    #[wasm_bindgen(js_name = sendWith)]
    pub fn send_with(&mut self, epoch: u32) -> Result<(), JsError> {
        self.ring
            .send_with(u64::from(epoch))
            .map_err(|_| JsError::new("no_key"))
    }

    /// Forgets `epoch`'s keys.
    #[wasm_bindgen(js_name = forgetEpoch)]
    pub fn forget_epoch(&mut self, epoch: u32) {
        self.ring.forget_epoch(u64::from(epoch));
    }

    /// The epoch used for sending, or `undefined`.
    #[wasm_bindgen(js_name = sendEpoch)]
    pub fn send_epoch(&self) -> Option<u32> {
        self.ring.send_epoch().and_then(|e| u32::try_from(e).ok())
    }

    /// Protects one encoded frame of our `source` (`mic`, `camera`,
    /// `screen`, `screen_audio`); `kind` is `audio` or `video`. Throws
    /// `no_key` before any epoch is chosen for sending: the frame must then
    /// be dropped, never sent in the clear.
    pub fn encrypt(
        &mut self,
        kind: &str,
        source_name: &str,
        frame: &[u8],
    ) -> Result<Vec<u8>, JsError> {
        let codec = codec(kind)?;
        let src = source(source_name)?;
        let tx = self.ring.sealer(src).map_err(|_| JsError::new("no_key"))?;
        media::protect(codec, tx, frame).map_err(|e| match e {
            MediaError::Empty(_) | MediaError::TooShort { .. } => JsError::new("malformed"),
            _ => JsError::new("encrypt_failed"),
        })
    }

    /// Unprotects one frame received on the track of the member at `leaf`
    /// for its `source`. Throws, and the frame must be dropped, with one of:
    /// `no_key` (its epoch is not held: waiting for keys), `wrong_sender`
    /// (its KID names another member or source), `replay`, `auth` (does not
    /// authenticate: not encrypted, tampered, or a key we do not have),
    /// `malformed` (too short for its codec's clear prefix).
    pub fn decrypt(
        &mut self,
        kind: &str,
        leaf: u32,
        source_name: &str,
        frame: &[u8],
    ) -> Result<Vec<u8>, JsError> {
        let codec = codec(kind)?;
        let src = source(source_name)?;
        let mut rx = self.ring.opener(leaf, src);
        match media::unprotect(codec, &mut rx, frame) {
            Ok(clear) => Ok(clear.frame),
            Err(MediaError::Sframe(e)) => Err(JsError::new(
                rx.last_error
                    .as_ref()
                    .map(failure_code)
                    .unwrap_or_else(|| failure_code(&OpenError::Sframe(e))),
            )),
            Err(_) => Err(JsError::new("malformed")),
        }
    }
}
