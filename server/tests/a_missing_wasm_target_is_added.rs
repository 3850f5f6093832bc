//! `cargo run --release -p sotto-server` builds the web client for
//! wasm32 (client/web/bundle.rs, from the server's build script). On a
//! toolchain without that target the build adds it with rustup, for the
//! toolchain in use, or fails naming the one command to run. Checked with
//! stand-in `rustc` and `rustup` scripts, so that this machine's toolchain
//! is never touched.
#![cfg(unix)]

#[path = "../../client/web/bundle.rs"]
#[allow(dead_code)]
mod bundle;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One test at a time: each writes shell scripts and runs them, and a
/// script written while another test forks can fail to run ("text file
/// busy": the child holds the writer's descriptor until its exec), which
/// the bundle code reads as "cannot tell" and goes on, as it should.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scratch directory of its own for each test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sotto-bundle-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A `rustc` whose wasm32 library directory is `dir/libdir` (missing until
/// something creates it), and a `rustup` that logs its arguments and then
/// runs `then`.
fn toolchain(dir: &Path, then: &str) -> (PathBuf, PathBuf) {
    let libdir = dir.join("libdir");
    let rustc = dir.join("rustc");
    script(&rustc, &format!("echo '{}'", libdir.display()));
    let rustup = dir.join("rustup");
    script(
        &rustup,
        &format!(
            "echo \"$@\" > '{}'\n{then}",
            dir.join("rustup.log").display()
        ),
    );
    (rustc, rustup)
}

fn install(dir: &Path) -> String {
    let libdir = dir.join("libdir");
    format!(
        "mkdir -p '{0}' && touch '{0}/libcore.rlib'",
        libdir.display()
    )
}

fn rustup_log(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("rustup.log"))
        .ok()
        .map(|l| l.trim().to_owned())
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_owned()
}

#[test]
fn the_installed_target_needs_no_rustup() {
    let _one_at_a_time = serial();
    // This machine's real toolchain has the target (the server built).
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    bundle::ensure_wasm_target(
        &workspace(),
        "rustc".as_ref(),
        "/nonexistent/rustup".as_ref(),
        toolchain.as_deref(),
    )
    .expect("nothing to add");
}

#[test]
fn a_missing_target_is_added_for_the_toolchain_in_use() {
    let _one_at_a_time = serial();
    let dir = scratch("add");
    let (rustc, rustup) = toolchain(&dir, &install(&dir));
    bundle::ensure_wasm_target(
        &workspace(),
        rustc.as_os_str(),
        rustup.as_os_str(),
        Some("1.95.0-x86_64-unknown-linux-gnu"),
    )
    .expect("added");
    assert_eq!(
        rustup_log(&dir).as_deref(),
        Some("target add wasm32-unknown-unknown --toolchain 1.95.0-x86_64-unknown-linux-gnu")
    );

    // Once it is there, rustup is not run again.
    std::fs::remove_file(dir.join("rustup.log")).expect("rm");
    bundle::ensure_wasm_target(&workspace(), rustc.as_os_str(), rustup.as_os_str(), None)
        .expect("there");
    assert_eq!(rustup_log(&dir), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_rustup_toolchain_rustup_picks_the_workspaces_toolchain() {
    let _one_at_a_time = serial();
    let dir = scratch("no-toolchain");
    let (rustc, rustup) = toolchain(&dir, &install(&dir));
    bundle::ensure_wasm_target(&workspace(), rustc.as_os_str(), rustup.as_os_str(), None)
        .expect("added");
    assert_eq!(
        rustup_log(&dir).as_deref(),
        Some("target add wasm32-unknown-unknown")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_rustup_the_error_names_the_command() {
    let _one_at_a_time = serial();
    let dir = scratch("no-rustup");
    let (rustc, _) = toolchain(&dir, "");
    let err = bundle::ensure_wasm_target(
        &workspace(),
        rustc.as_os_str(),
        dir.join("not-installed").as_os_str(),
        Some("1.95.0-x86_64-unknown-linux-gnu"),
    )
    .expect_err("cannot add");
    assert!(err.contains("rustup is not installed"), "{err}");
    assert!(
        err.contains(
            "Run `rustup target add wasm32-unknown-unknown --toolchain 1.95.0-x86_64-unknown-linux-gnu`"
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_rustup_is_reported_with_the_command() {
    let _one_at_a_time = serial();
    let dir = scratch("rustup-fails");
    let (rustc, rustup) = toolchain(&dir, "exit 1");
    let err = bundle::ensure_wasm_target(&workspace(), rustc.as_os_str(), rustup.as_os_str(), None)
        .expect_err("cannot add");
    assert!(
        err.contains("`rustup target add wasm32-unknown-unknown` failed"),
        "{err}"
    );
    assert!(
        err.contains("Run `rustup target add wasm32-unknown-unknown`"),
        "{err}"
    );

    // A rustup that says it succeeded but added nothing is no success.
    let (rustc, rustup) = toolchain(&dir, "exit 0");
    let err = bundle::ensure_wasm_target(&workspace(), rustc.as_os_str(), rustup.as_os_str(), None)
        .expect_err("still missing");
    assert!(err.contains("still missing"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The nested build goes into the outer target directory even on the first
/// build in a fresh one (a cold `CARGO_TARGET_DIR=/tmp/x cargo build` once
/// put it in the workspace's `target/`).
#[test]
fn the_nested_build_finds_the_outer_target_directory_from_out_dir() {
    let _one_at_a_time = serial();
    let out = Path::new("/tmp/t/release/build/sotto-server-0123/out");
    assert_eq!(
        bundle::target_dir_of(out, Some("x86_64-unknown-linux-gnu")),
        Some(PathBuf::from("/tmp/t"))
    );
    let out = Path::new("/tmp/t/x86_64-unknown-linux-gnu/debug/build/sotto-server-0123/out");
    assert_eq!(
        bundle::target_dir_of(out, Some("x86_64-unknown-linux-gnu")),
        Some(PathBuf::from("/tmp/t"))
    );
    assert_eq!(
        bundle::target_dir_of(Path::new("/somewhere/out"), None),
        None
    );
}
