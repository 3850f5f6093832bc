//! The browser client's wasm bundle (`sotto_web.js` and
//! `sotto_web_bg.wasm`), built from source by the build script
//! (client/web/bundle.rs) and embedded in the binary, to be served under
//! `/static/` next to the static files of `client/web/public/`.

include!(concat!(env!("OUT_DIR"), "/web_bundle.rs"));
