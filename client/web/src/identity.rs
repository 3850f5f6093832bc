//! Identities and link secrets for the page.

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use wasm_bindgen::prelude::*;

use crate::BindingError;

pub(crate) fn load_identity(bytes: &[u8]) -> Result<Identity, BindingError> {
    Identity::from_bytes(bytes).map_err(|_| BindingError::BadIdentity)
}

pub(crate) fn secret(fragment: &str) -> Result<RoomSecret, BindingError> {
    RoomSecret::from_fragment(fragment).map_err(|_| BindingError::BadSecret)
}

/// A new random identity, serialised (kept in memory for one call, or
/// stored when the person chooses to keep it). Throws `bad_identity` only
/// if the browser has no random source.
#[wasm_bindgen(js_name = generateIdentity)]
pub fn generate_identity() -> Result<Vec<u8>, JsError> {
    let id = Identity::generate().map_err(|_| JsError::from(BindingError::BadIdentity))?;
    Ok(id.to_bytes().to_vec())
}

/// The fingerprint (30 digits, grouped by five) of a serialised identity.
#[wasm_bindgen(js_name = identityFingerprint)]
pub fn identity_fingerprint(identity: &[u8]) -> Result<String, JsError> {
    Ok(load_identity(identity)?.fingerprint().to_string())
}

/// A new link secret, as the URL fragment.
#[wasm_bindgen(js_name = generateSecret)]
pub fn generate_secret() -> Result<String, JsError> {
    let s = RoomSecret::generate().map_err(|_| JsError::from(BindingError::BadSecret))?;
    Ok(s.to_fragment().to_string())
}

/// Whether `fragment` is a well-formed link secret.
#[wasm_bindgen(js_name = isSecret)]
pub fn is_secret(fragment: &str) -> bool {
    secret(fragment).is_ok()
}
