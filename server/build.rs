//! Embeds `client/web/public/` in the binary, so that one file is all an
//! operator installs: writes `$OUT_DIR/assets.rs`, a table of
//! `Asset { path, bytes, etag }` with `include_bytes!` for each file.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

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
    files.sort();

    let mut table = String::from("&[\n");
    for (path, full) in files {
        let bytes = std::fs::read(&full).expect("read asset");
        // A content hash for ETag revalidation. DefaultHasher::new() has
        // fixed keys, so the tag is stable across builds.
        let mut hasher = DefaultHasher::new();
        hasher.write(&bytes);
        let _ = writeln!(
            table,
            "    Asset {{ path: {path:?}, bytes: include_bytes!({:?}), etag: \"\\\"{:016x}\\\"\" }},",
            full.canonicalize().expect("canonical path").display(),
            hasher.finish()
        );
    }
    table.push(']');
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("assets.rs"), table).expect("write assets.rs");
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
