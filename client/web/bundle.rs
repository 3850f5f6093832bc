//! Builds the browser bundle from source: the `sotto-web` crate compiled to
//! wasm32, then wasm-bindgen's JS glue for it.
//!
//! This is a plain Rust file, not part of the `sotto-web` crate: the
//! server's build script imports it with
//! `#[path = "../client/web/bundle.rs"] mod bundle;` and calls [`build`],
//! so that `cargo run --release -p sotto-server` needs nothing but the Rust
//! toolchain. It needs `wasm-bindgen-cli-support` as a build-dependency, at
//! exactly the version of the `wasm-bindgen` crate that `sotto-web` pins.
//!
//! A toolchain without the `wasm32-unknown-unknown` target gets it from
//! `rustup target add` ([`ensure_wasm_target`]): the root
//! `rust-toolchain.toml` lists it, but a toolchain can lack it all the same
//! (one that `RUSTUP_TOOLCHAIN`, `+toolchain` or an override picks instead,
//! or with rustup's automatic installs off).
//!
//! The nested cargo builds into its own target directory (`sotto-web/`
//! inside the outer one): the outer cargo holds the lock on its own build
//! directory for as long as build scripts run, so sharing it would deadlock.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One file of the built bundle, to be served as `/static/{name}`.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// Path under `/static/`, e.g. `pkg/sotto_web_bg.wasm`.
    pub name: String,
    /// Where the build left it (inside `out_dir`).
    pub path: PathBuf,
}

/// The target triple of the browser build.
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The cargo profile of the browser build (root `Cargo.toml`).
const PROFILE: &str = "wasm-release";

/// Environment that the outer cargo sets for build scripts and that must
/// not reach the nested cargo: flags meant for the host build, the lint
/// wrapper `cargo clippy` installs, the outer jobserver and target.
const SCRUBBED: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "OPT_LEVEL",
    "PROFILE",
    "DEBUG",
    "NUM_JOBS",
];

/// Prefixes of more such variables (package metadata, cfg and features of
/// the outer crate).
const SCRUBBED_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_CFG_", "CARGO_FEATURE_", "DEP_"];

/// Builds the bundle into `out_dir` and returns its files.
///
/// `workspace` is the workspace root (where `Cargo.lock` is); `out_dir` is
/// the calling build script's `OUT_DIR`. Prints the `cargo:rerun-if-changed`
/// lines for everything the bundle is built from.
pub fn build(workspace: &Path, out_dir: &Path) -> Result<Vec<BundleFile>, String> {
    for input in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        "crypto/Cargo.toml",
        "crypto/src",
        "client/web/Cargo.toml",
        "client/web/src",
        "client/web/bundle.rs",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }

    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    ensure_wasm_target(
        workspace,
        "rustc".as_ref(),
        "rustup".as_ref(),
        toolchain.as_deref(),
    )?;

    let target_dir = outer_target_dir(workspace, out_dir).join("sotto-web");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = nested(&cargo, workspace);
    cmd.args(["build", "-p", "sotto-web", "--lib", "--target", WASM_TARGET])
        .args(["--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo for the web bundle: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building sotto-web for {WASM_TARGET} failed ({status}); \
             is the target installed? `rustup target add {WASM_TARGET}`"
        ));
    }

    let wasm = target_dir
        .join(WASM_TARGET)
        .join(PROFILE)
        .join("sotto_web.wasm");
    let pkg = out_dir.join("pkg");
    std::fs::create_dir_all(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    bindgen(&wasm, &pkg)?;

    Ok(["sotto_web.js", "sotto_web_bg.wasm"]
        .into_iter()
        .map(|f| BundleFile {
            name: format!("pkg/{f}"),
            path: pkg.join(f),
        })
        .collect())
}

/// wasm-bindgen's JS glue for `wasm`, into `pkg`.
#[cfg(not(test))]
fn bindgen(wasm: &Path, pkg: &Path) -> Result<(), String> {
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(wasm)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e}"))?
        .typescript(false)
        .omit_default_module_path(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(pkg)
        .map_err(|e| format!("wasm-bindgen on {}: {e:#}", wasm.display()))
}

/// The server's tests include this file to test [`ensure_wasm_target`];
/// wasm-bindgen is a build-dependency only, which tests cannot link.
#[cfg(test)]
fn bindgen(_wasm: &Path, _pkg: &Path) -> Result<(), String> {
    Err("tests do not run wasm-bindgen".into())
}

/// A command for the nested build, with the outer build's environment
/// scrubbed, run in the workspace: it sees the toolchain the outer cargo
/// runs (rustup passes `RUSTUP_TOOLCHAIN` on) and `rust-toolchain.toml`.
fn nested(program: &OsStr, workspace: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(workspace);
    for var in SCRUBBED {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if SCRUBBED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Makes sure that the toolchain the nested build uses has the standard
/// library for [`WASM_TARGET`], so that `cargo run --release -p
/// sotto-server` works on a fresh rustup install: if `rustc` (as the
/// nested cargo finds it) has no library directory for the target,
/// `rustup target add` it, for `toolchain` (`RUSTUP_TOOLCHAIN`, which
/// rustup sets to the toolchain it picked, from `rust-toolchain.toml` or an
/// override) or else the one rustup picks in the workspace. Without rustup,
/// or if that fails, the error names the one command to run.
///
/// A `rustc` that cannot say where the target's library would be is not
/// judged: the build goes on and reports for itself.
pub fn ensure_wasm_target(
    workspace: &Path,
    rustc: &OsStr,
    rustup: &OsStr,
    toolchain: Option<&str>,
) -> Result<(), String> {
    match wasm_target_installed(workspace, rustc) {
        Some(false) => {}
        Some(true) | None => return Ok(()),
    }
    let mut add = vec!["target", "add", WASM_TARGET];
    if let Some(toolchain) = toolchain {
        add.extend(["--toolchain", toolchain]);
    }
    let command = format!("rustup {}", add.join(" "));
    let missing = format!(
        "the web client is built for {WASM_TARGET}, which this Rust toolchain does not have"
    );
    println!("cargo:warning={missing}; running `{command}`");
    let why = match nested(rustup, workspace).args(&add).status() {
        Ok(status) if status.success() => match wasm_target_installed(workspace, rustc) {
            Some(false) => format!("`{command}` succeeded but the target is still missing"),
            Some(true) | None => return Ok(()),
        },
        Ok(status) => format!("`{command}` failed ({status})"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "rustup is not installed".into(),
        Err(e) => format!("could not run rustup: {e}"),
    };
    Err(format!(
        "{missing}, and {why}. Run `{command}` (or install the {WASM_TARGET} standard library for this Rust) and build again"
    ))
}

/// Whether `rustc` has a standard library for [`WASM_TARGET`]; `None` if
/// it cannot say (`rustc --print target-libdir` is the directory rustup
/// installs the target into, printed whether it is there or not).
fn wasm_target_installed(workspace: &Path, rustc: &OsStr) -> Option<bool> {
    let output = nested(rustc, workspace)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = Path::new(dir.trim());
    Some(dir.is_dir() && std::fs::read_dir(dir).ok()?.next().is_some())
}

/// The outer build's target directory: the ancestor of `OUT_DIR` where
/// cargo keeps `.rustc_info.json`; in a fresh target directory, where
/// cargo writes that file only at the end of the first build, the one
/// `OUT_DIR`'s layout names (`<target>/[<triple>/]<profile>/build/<pkg>/out`;
/// `triple` is the build script's `TARGET`); else `target/` in the
/// workspace.
fn outer_target_dir(workspace: &Path, out_dir: &Path) -> PathBuf {
    if let Some(dir) = out_dir
        .ancestors()
        .find(|p| p.join(".rustc_info.json").is_file())
    {
        return dir.to_path_buf();
    }
    let triple = std::env::var("TARGET").ok();
    target_dir_of(out_dir, triple.as_deref()).unwrap_or_else(|| workspace.join("target"))
}

/// The target directory in `out_dir`'s path, if it has cargo's layout.
pub fn target_dir_of(out_dir: &Path, triple: Option<&str>) -> Option<PathBuf> {
    let up: Vec<&Path> = out_dir.ancestors().take(6).collect();
    if up.get(2)?.file_name()? != "build" {
        return None;
    }
    let dir = *up.get(4)?;
    let named_for_triple = triple.is_some_and(|t| dir.file_name().is_some_and(|n| n == t));
    Some(if named_for_triple { dir.parent()? } else { dir }.to_path_buf())
}
