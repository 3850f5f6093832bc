//! Build script of sotto-server.
//!
//! Builds the web client's wasm bundle from source (client/web/bundle.rs)
//! and writes `$OUT_DIR/web_bundle.rs`, the table that `src/web_bundle.rs`
//! embeds, so that the one binary serves the whole browser client.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[path = "../client/web/bundle.rs"]
mod bundle;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let workspace = manifest.parent().expect("server/ is in the workspace");
    web_bundle(workspace, &out_dir);
}

/// The wasm bundle, as `WEB_BUNDLE: &[(&str, &[u8])]` (path under
/// `/static/`, bytes).
fn web_bundle(workspace: &Path, out_dir: &Path) {
    let files = match bundle::build(workspace, out_dir) {
        Ok(files) => files,
        Err(e) => panic!("the web bundle did not build: {e}"),
    };
    let mut table = String::from(
        "/// The browser client's wasm bundle: (path under `/static/`, bytes).\n\
         pub static WEB_BUNDLE: &[(&str, &[u8])] = &[\n",
    );
    for f in files {
        let _ = writeln!(
            table,
            "    ({:?}, include_bytes!({:?})),",
            f.name,
            f.path.display().to_string()
        );
    }
    table.push_str("];\n");
    let dest = out_dir.join("web_bundle.rs");
    if let Err(e) = std::fs::write(&dest, table) {
        panic!("{}: {e}", dest.display());
    }
}
