//! Identities and link secrets for the page.

use sotto_crypto::admission::RoomSecret;
use sotto_crypto::identity::Identity;
use sotto_proto::{RoomLink, RoomName};
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

/// The room a person typed or pasted (spec/protocol.md §1): a name as
/// typed (`Alice-and-Bob-03-May-2020`), or a link to one, whose own secret
/// comes back too. JSON `{"room": canonical name, "path": its URL path
/// segment, "secret": fragment or null}`; throws `bad_room_name` with the
/// rule it breaks.
#[wasm_bindgen(js_name = roomName)]
pub fn room_name(typed: &str) -> Result<String, JsError> {
    let typed = typed.trim();
    let (name, secret) = match RoomLink::parse(typed) {
        Ok(link) => (link.room, link.secret.filter(|s| secret(s).is_ok())),
        Err(_) => (
            RoomName::from_typed(typed)
                .map_err(|e| JsError::new(&format!("bad_room_name: {e}")))?,
            None,
        ),
    };
    Ok(
        serde_json::json!({"room": name.as_str(), "path": name.path_segment(), "secret": secret})
            .to_string(),
    )
}

/// The room a page's URL path segment names (percent-encoded, without
/// `/`), as [`room_name`] says; throws `bad_room_name` if none.
#[wasm_bindgen(js_name = roomFromPath)]
pub fn room_from_path(segment: &str) -> Result<String, JsError> {
    let name = RoomName::from_path_segment(segment)
        .map_err(|e| JsError::new(&format!("bad_room_name: {e}")))?;
    Ok(
        serde_json::json!({"room": name.as_str(), "path": name.path_segment(), "secret": null})
            .to_string(),
    )
}
