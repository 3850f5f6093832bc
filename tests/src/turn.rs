//! A real TURN server for the tests: Debian's coturn on 127.0.0.1, with
//! the shared secret of coturn's `use-auth-secret` (what `sotto-server
//! --turn-secret` mints credentials for). Loopback peers are allowed: the
//! SFU is on 127.0.0.1 too. Stopped when dropped.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `turnserver`.
pub struct Coturn {
    child: Child,
    /// Its UDP listening port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

impl Coturn {
    /// Starts coturn with `secret`; panics with a hint if it is not
    /// installed (tests/run-all installs it).
    pub fn start(secret: &str) -> Coturn {
        let port = free_udp_port();
        let relay = free_udp_port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("turnserver.log");
        let child = Command::new("turnserver")
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint"])
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            // A small range of relay ports around a free one.
            .args([
                "--min-port",
                &relay.saturating_sub(50).max(1024).to_string(),
            ])
            .args(["--max-port", &relay.saturating_add(50).to_string()])
            .args(["--use-auth-secret", "--static-auth-secret", secret])
            .args([
                "--realm",
                "sotto.test",
                "--allow-loopback-peers",
                "--verbose",
            ])
            .args(["--simple-log", "--log-file"])
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver runs (tests/run-all installs Debian's coturn)");
        // It reads its configuration and binds within a moment.
        std::thread::sleep(Duration::from_millis(700));
        Coturn {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// `turn:127.0.0.1:PORT?transport=udp`.
    pub fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    /// `turn:127.0.0.1:PORT?transport=tcp`: coturn listens for TCP on the
    /// same port, for clients whose UDP is blocked.
    pub fn tcp_url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=tcp", self.port)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        // coturn may add a date to the file name it was given.
        let dir = self.log.parent().expect("a directory");
        let mut text = String::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
        text
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
