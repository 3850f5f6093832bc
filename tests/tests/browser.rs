//! The web client in Debian's headless Chromium, driven by playwright-core
//! scripts under `tests/browser/` (`tests/run-all` installs Chromium and
//! runs `npm ci` there). Each script prints one line per check and a
//! closing `N passed, N failed`; a missing browser or node is a failure,
//! never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use sotto_server::web_bundle::WEB_BUNDLE;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// Writes the embedded wasm bundle to disk for the static server.
fn bundle_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-bundle");
    for (name, bytes) in WEB_BUNDLE {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))
            .expect("create the bundle directory");
        std::fs::write(&path, bytes).expect("write the bundle");
    }
    dir
}

/// Where the test run leaves its screenshots (git-ignored).
fn screenshots() -> PathBuf {
    workspace().join("tests/browser/screenshots")
}

fn run(script: &str) {
    let root = workspace();
    let browser = root.join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run tests/run-all (it runs `npm ci` in tests/browser)"
    );
    let chromium = std::env::var("SOTTO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run tests/run-all (it installs Debian's chromium)"
    );
    let out = Command::new("node")
        .current_dir(&browser)
        .arg(script)
        .arg("--public")
        .arg(root.join("client/web/public"))
        .arg("--bundle")
        .arg(bundle_dir())
        .arg("--shots")
        .arg(screenshots())
        .output()
        .expect("node runs (tests/run-all installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed: {}", out.status);
    assert!(
        stdout.lines().any(|l| l.ends_with(" 0 failed")),
        "{script} printed no closing line"
    );
}

#[test]
fn frames_leave_the_worker_encrypted_and_only_the_key_opens_them() {
    run("loopback.mjs");
}
