//! SFrame primitives exposed only so that the web client's tests can check
//! `spec/vectors/` (RFC 9605 Appendix C) through the wasm bundle: the
//! browser must run the same, correct code as the native client.
//!
//! Not for protecting media: these take an explicit counter, which real
//! senders never do ([`crate::frames::FrameCrypto`] manages counters).

use sotto_crypto::sframe::{CipherSuite, Counter, FrameKey, Header, KeyId, ReceiverContext};
use wasm_bindgen::prelude::*;

fn suite(id: u16) -> Result<CipherSuite, JsError> {
    CipherSuite::from_id(id).map_err(|e| JsError::new(&e.to_string()))
}

/// The encoded SFrame header for `kid` and `ctr` (RFC 9605 §4.3).
#[wasm_bindgen(js_name = vectorHeader)]
pub fn vector_header(kid: u64, ctr: u64) -> Vec<u8> {
    Header::new(KeyId(kid), Counter(ctr))
        .encode()
        .as_bytes()
        .to_vec()
}

/// `header || ciphertext || tag` for one RFC 9605 §C.3 vector.
#[wasm_bindgen(js_name = vectorSeal)]
pub fn vector_seal(
    suite_id: u16,
    kid: u64,
    ctr: u64,
    base_key: &[u8],
    metadata: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, JsError> {
    let key = FrameKey::derive(suite(suite_id)?, KeyId(kid), base_key)
        .map_err(|e| JsError::new(&e.to_string()))?;
    let mut out = Vec::new();
    key.seal_into(Counter(ctr), metadata, plaintext, &mut out)
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(out)
}

/// The plaintext of an RFC 9605 §C.3 ciphertext, through a receiver context.
#[wasm_bindgen(js_name = vectorOpen)]
pub fn vector_open(
    suite_id: u16,
    kid: u64,
    base_key: &[u8],
    metadata: &[u8],
    sframe: &[u8],
) -> Result<Vec<u8>, JsError> {
    let mut rx = ReceiverContext::new(suite(suite_id)?);
    rx.add_key(KeyId(kid), base_key)
        .map_err(|e| JsError::new(&e.to_string()))?;
    rx.decrypt(metadata, sframe)
        .map(|d| d.plaintext)
        .map_err(|e| JsError::new(&e.to_string()))
}
