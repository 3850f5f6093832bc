//! The web client in Debian's headless Chromium, driven by playwright-core
//! scripts under `tests/browser/` (`tests/run-all` installs Chromium and
//! runs `npm ci` there), against a real `sotto-server` that serves it.
//! Each script prints one line per check and a closing
//! `N passed, N failed`; a missing browser or node is a failure, never a
//! skip.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// The `sotto-server` binary of this build, built first if need be. It is
/// built as `cargo test --workspace` builds it (for the server's own
/// integration tests), with the same features: under `tests/run-all` this
/// is a no-op, where a plain `cargo build -p sotto-server` would resolve
/// features differently and rebuild half the tree.
fn server_binary() -> PathBuf {
    binaries().join(format!("sotto-server{}", std::env::consts::EXE_SUFFIX))
}

/// The native client's `sotto` binary of this build (built with the
/// server: `sotto-client` has integration tests, so `cargo test
/// --workspace` builds its binary).
fn sotto_binary() -> PathBuf {
    binaries().join(format!("sotto{}", std::env::consts::EXE_SUFFIX))
}

/// The directory holding this build's binaries, built first if need be.
fn binaries() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_binaries).clone()
}

fn build_binaries() -> PathBuf {
    // This test runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("<target>/<profile>/deps")
        .to_path_buf();
    // `cargo test --workspace` (tests/run-all) has built both binaries,
    // fresh, before running any test: use them. A nested cargo here can
    // otherwise rebuild dependencies when its environment differs from the
    // outer one. Running this test alone (`-p sotto-tests`) after changing
    // the server or client: build them first, e.g. with `cargo test
    // --workspace --no-run`.
    let built = ["sotto-server", "sotto"].iter().all(|b| {
        dir.join(format!("{b}{}", std::env::consts::EXE_SUFFIX))
            .is_file()
    });
    if built {
        return dir;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace())
        .args(["test", "--workspace", "--no-run"])
        .status()
        .expect("run cargo");
    assert!(status.success(), "building sotto-server failed");
    dir
}

fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// A sotto-server on loopback, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let port = free_tcp_port();
        let child = Command::new(server_binary())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--udp-port", &free_udp_port().to_string()])
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("start sotto-server");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sotto-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the test run leaves its screenshots (git-ignored).
fn screenshots() -> PathBuf {
    workspace().join("tests/browser/screenshots")
}

fn run(script: &str, extra: &[&std::ffi::OsStr]) {
    run_against(script, &[], extra);
}

/// Runs `script` against a server started with `server_args`.
fn run_against(script: &str, server_args: &[&str], extra: &[&std::ffi::OsStr]) {
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
    let server = Server::start(server_args);
    let out = Command::new("node")
        .current_dir(&browser)
        .arg(script)
        .arg("--base")
        .arg(&server.url)
        .arg("--shots")
        .arg(screenshots())
        .args(extra)
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
    run("loopback.mjs", &[]);
}

#[test]
fn home_and_pre_join_work_in_english_french_and_on_a_phone() {
    run("ui.mjs", &[]);
}

#[test]
fn the_wasm_bundle_passes_the_rfc_9605_vectors_in_the_browser() {
    run("vectors.mjs", &[]);
}

/// Two browsers and the native `sotto` client in one room through the SFU
/// (call.mjs lists the checks). The native client sends the committed
/// fixtures (`tests/fixtures/`) and records what the browsers send.
#[test]
fn two_browsers_and_a_native_client_see_hear_and_verify_each_other() {
    let sotto = sotto_binary();
    assert!(sotto.is_file(), "{} was not built", sotto.display());
    let fixtures = workspace().join("tests/fixtures");
    run(
        "call.mjs",
        &[
            "--sotto".as_ref(),
            sotto.as_os_str(),
            "--fixtures".as_ref(),
            fixtures.as_os_str(),
        ],
    );
}

/// The participant core's rules in the browser (rules.mjs lists them):
/// missed commits and unmergeable verdicts make the page join again, a
/// swapped knock KeyPackage is dropped, and fatal refusals end with their
/// own screen and no reconnecting.
#[test]
fn a_browser_follows_the_participant_rules_and_ends_on_fatal_refusals() {
    run_against(
        "rules.mjs",
        &["--max-participants", "3", "--max-rooms", "2"],
        &[],
    );
}

/// Meeting by an agreed room name (first_contact.mjs lists the checks):
/// the typed name lands on its canonical form, the first arrival opens
/// the room, the second knocks and is let in by the fingerprint both
/// see, and paths that are no room get their own screen with a 404.
#[test]
fn two_browsers_meet_by_a_room_name_typed_as_people_type_it() {
    run("first_contact.mjs", &[]);
}

/// The call screen (call_screen.mjs lists the checks): the speaker view,
/// muted and camera-off marks, hands, reactions, recording with its notice
/// and a playable file (ffprobe), shortcuts, axe-core, screenshots.
#[test]
fn the_call_screen_shows_who_speaks_mutes_raises_a_hand_and_records() {
    run("call_screen.mjs", &[]);
}

/// ICE over TCP: a browser whose UDP to the server is blocked connects to
/// the SFU's TCP port (ice_tcp.mjs lists the checks).
#[test]
fn a_browser_without_udp_calls_over_ice_tcp() {
    let tcp = free_tcp_port().to_string();
    run_against("ice_tcp.mjs", &["--tcp-port", &tcp], &[]);
}

/// A media server nobody can reach (it announces 192.0.2.1, TEST-NET-1 of
/// RFC 5737): Chromium and Firefox say so within a bound, never that keys
/// are missing, and stay in the room while media is retried
/// (unreachable.mjs lists the checks). Firefox needs no network namespace
/// here: that its media cannot connect is the point.
#[test]
fn an_unreachable_media_server_is_named_and_retried_without_rejoining() {
    run_against("unreachable.mjs", &["--public-ip", "192.0.2.1"], &[]);
}

/// Two browsers that may use relayed candidates only call through a real
/// coturn with credentials the server minted for each, and a third whose
/// UDP is unusable reaches coturn over TCP (turn.mjs lists the checks).
#[test]
fn two_browsers_limited_to_turn_relays_call_through_coturn() {
    let secret = "sotto-test-turn-secret";
    let coturn = sotto_tests::turn::Coturn::start(secret);
    run_against(
        "turn.mjs",
        &[
            "--turn",
            &format!("{},{}", coturn.url(), coturn.tcp_url()),
            "--turn-secret",
            secret,
        ],
        &[],
    );
    let log = coturn.log();
    assert!(
        log.contains("ALLOCATE processed, success"),
        "coturn allocated nothing:\n{log}"
    );
}

/// A network namespace of the test's own, with a veth pair: the SFU
/// announces 10.77.0.1 there, since Firefox gathers no loopback candidate
/// (FACTS.md). It has no way out; nothing leaves the machine. Deleted when
/// dropped. Needs root, as CI runs; anything else fails, saying so.
struct Netns {
    name: String,
}

impl Netns {
    const SFU_IP: &'static str = "10.77.0.1";

    fn create() -> Netns {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("sotto-test-{}-{n}", std::process::id());
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2) runs");
            assert!(
                out.status.success(),
                "ip {}: {} (the mixed-browser test makes a network namespace: run it as root, as CI does)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        let n = ns.name.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&[
            "-n", n, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
        ]);
        ip(&["-n", n, "addr", "add", "10.77.0.1/24", "dev", "veth-a"]);
        ip(&["-n", n, "addr", "add", "10.77.0.2/24", "dev", "veth-b"]);
        ip(&["-n", n, "link", "set", "veth-a", "up"]);
        ip(&["-n", n, "link", "set", "veth-b", "up"]);
        // Without a default route Firefox gathers no candidate at all.
        ip(&["-n", n, "route", "add", "default", "dev", "veth-a"]);
        ns
    }

    /// `program` run inside the namespace.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A PulseAudio server with a null sink, for Firefox: without a sound
/// server its AudioContext stays suspended and no tone can be heard
/// (FACTS.md). Its socket is a file, so it serves network namespaces
/// too. Stopped when dropped.
struct NullSink {
    child: Child,
    dir: tempfile::TempDir,
}

impl NullSink {
    fn start() -> NullSink {
        let dir = tempfile::tempdir().expect("a runtime directory");
        let child = Command::new("pulseaudio")
            .env("XDG_RUNTIME_DIR", dir.path())
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--use-pid-file=no",
                "--load=module-native-protocol-unix",
                "--load=module-null-sink sink_name=nullsink",
                "--load=module-always-sink",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio runs (tests/run-all installs it)");
        let sink = NullSink { child, dir };
        let socket = sink.dir.path().join("pulse/native");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "pulseaudio made no socket");
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// The `PULSE_SERVER` value for its clients.
    fn server(&self) -> String {
        format!("unix:{}", self.dir.path().join("pulse/native").display())
    }
}

impl Drop for NullSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn firefox_is_installed() {
    let firefox = std::env::var("SOTTO_FIREFOX").unwrap_or_else(|_| "/usr/bin/firefox-esr".into());
    assert!(
        Path::new(&firefox).exists(),
        "{firefox} is missing: run tests/run-all (it installs Debian's firefox-esr)"
    );
}

/// Runs `script` with the server, the browsers and the native client in
/// a network namespace of the test's own (Firefox gathers no loopback
/// candidate), with the native client's binary and fixtures, and `extra`.
fn run_in_netns(script: &str, extra: &[&str], env: &[(&str, String)]) {
    let root = workspace();
    let browser = root.join("tests/browser");
    let ns = Netns::create();
    let port = free_tcp_port();
    let mut server = ns
        .command(server_binary())
        .args(["--listen", &format!("0.0.0.0:{port}")])
        .args(["--udp-port", &free_udp_port().to_string()])
        .args(["--public-ip", Netns::SFU_IP])
        .stdout(Stdio::null())
        .spawn()
        .expect("start sotto-server in the namespace");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = ns
            .command("bash")
            .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if up {
            break;
        }
        assert!(Instant::now() < deadline, "sotto-server did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let sotto = sotto_binary();
    let fixtures = root.join("tests/fixtures");
    let out = ns
        .command("node")
        .current_dir(&browser)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg(script)
        .args(["--base", &format!("http://127.0.0.1:{port}")])
        .arg("--shots")
        .arg(screenshots())
        .arg("--sotto")
        .arg(&sotto)
        .arg("--fixtures")
        .arg(&fixtures)
        .args(extra)
        .output()
        .expect("node runs");
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed: {}", out.status);
    assert!(
        stdout.lines().any(|l| l.ends_with(" 0 failed")),
        "{script} printed no closing line"
    );
    drop(ns);
}

/// Chromium, Firefox ESR and the native client in one call (mixed.mjs
/// lists the checks), in a network namespace of the test's own.
#[test]
fn chromium_firefox_and_the_native_client_share_one_call() {
    firefox_is_installed();
    run_in_netns("mixed.mjs", &[], &[]);
}

/// call.mjs with Bob in Firefox ESR: every check of the Chromium call
/// (decoding, tones, chat, room code and fingerprints, safety numbers and
/// verification, a rejoin, screen share both ways, knocks, the native
/// client's recording) with Firefox on one side. In a network namespace,
/// with a null sound sink so that Firefox plays audio.
#[test]
fn the_whole_call_works_with_one_side_in_firefox() {
    firefox_is_installed();
    let sink = NullSink::start();
    run_in_netns(
        "call.mjs",
        &["--bob", "firefox"],
        &[("PULSE_SERVER", sink.server())],
    );
}
