//! Embeds `client/web/public/` in the binary, so that one file is all an
//! operator installs: writes `$OUT_DIR/assets.rs`, a table of
//! `Asset { path, bytes, etag }` with `include_bytes!` for each file.
//!
//! The web client's wasm bundle is built here from source too
//! (`client/web/bundle.rs`: sotto-web for wasm32, then wasm-bindgen) and
//! embedded next to the public files, as `pkg/sotto_web.js` and
//! `pkg/sotto_web_bg.wasm`.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

#[path = "../client/web/bundle.rs"]
mod bundle;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let public = manifest.join("../client/web/public");
    println!("cargo::rerun-if-changed={}", public.display());

    let mut files = Vec::new();
    if public.is_dir() {
        collect(&public, &public, &mut files);
    } else {
        println!(
            "cargo::warning=no web client at {}: the binary serves none",
            public.display()
        );
    }
    files.extend(web_bundle(&manifest));
    files.sort();

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let gz_dir = out.join("gz");
    let mut table = String::from("&[\n");
    for (i, (path, full)) in files.into_iter().enumerate() {
        let bytes = std::fs::read(&full).expect("read asset");
        // A content hash for ETag revalidation. DefaultHasher::new() has
        // fixed keys, so the tag is stable across builds.
        let mut hasher = DefaultHasher::new();
        hasher.write(&bytes);
        let gzip = match gzip(&bytes) {
            Some(gz) => {
                std::fs::create_dir_all(&gz_dir).expect("create gz dir");
                let file = gz_dir.join(format!("{i}.gz"));
                std::fs::write(&file, gz).expect("write gzipped asset");
                format!("Some(include_bytes!({:?}))", file.display())
            }
            None => "None".into(),
        };
        let _ = writeln!(
            table,
            "    Asset {{ path: {path:?}, bytes: include_bytes!({:?}), gzip: {gzip}, etag: \"{:016x}\" }},",
            full.canonicalize().expect("canonical path").display(),
            hasher.finish()
        );
    }
    table.push(']');
    std::fs::write(out.join("assets.rs"), table).expect("write assets.rs");
}

/// `bytes` gzipped, when that saves at least a tenth: served to browsers
/// that accept it (the wasm shrinks to about a third).
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    if bytes.len() < 1024 {
        return None;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("gzip into memory");
    let gz = gz.finish().expect("gzip into memory");
    (gz.len() * 10 <= bytes.len() * 9).then_some(gz)
}

/// The wasm bundle, built from source, as (path under `/static/`, file).
fn web_bundle(manifest: &Path) -> Vec<(String, PathBuf)> {
    let workspace = manifest.parent().expect("server/ is in the workspace");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    match bundle::build(workspace, &out) {
        Ok(files) => files.into_iter().map(|f| (f.name, f.path)).collect(),
        Err(e) => panic!("the web client's wasm bundle did not build: {e}"),
    }
}

/// Every regular file under `dir`, as (path relative to `root` with `/`,
/// full path). Hidden files are skipped.
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).expect("read asset directory");
    for entry in entries {
        let entry = entry.expect("directory entry");
        let full = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            println!(
                "cargo::warning=skipping asset with a non-UTF-8 name: {}",
                full.display()
            );
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type().expect("file type");
        if file_type.is_dir() {
            collect(root, &full, out);
        } else if full.is_file() {
            let relative = full.strip_prefix(root).expect("under root");
            let parts: Vec<&str> = relative
                .components()
                .filter_map(|c| c.as_os_str().to_str())
                .collect();
            out.push((parts.join("/"), full.clone()));
        }
    }
}
