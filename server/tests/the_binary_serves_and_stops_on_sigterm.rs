//! The real binary: configuration precedence through the environment,
//! `--help`, serving `/` and `/healthz`, and a graceful stop on SIGTERM
//! (participants told `shutting_down`, sockets closed with 1001, exit 0).

#[path = "support/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{Client, parse_http};
use sotto_proto::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_sotto-server");

fn clean_command() -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("SOTTO_") {
            command.env_remove(key);
        }
    }
    command
}

#[test]
fn help_explains_the_options() {
    let output = clean_command().arg("--help").output().expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--listen",
        "SOTTO_LISTEN",
        "--public-ip",
        "--udp-port",
        "--tls-cert",
        "--max-rooms",
        "--config",
        "--max-waiting",
        "SOTTO_MAX_WAITING",
        "--public-origin",
        "--metrics-listen",
        "SOTTO_METRICS_LISTEN",
        "a public instance should set this",
        "--max-connections-per-ip",
        "SOTTO_MAX_CONNECTIONS_PER_IP",
        "--max-connections",
        "--turn-secret",
        "SOTTO_TURN_SECRET",
    ] {
        assert!(
            help.contains(needle),
            "{needle} missing from --help:\n{help}"
        );
    }
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = std::env::temp_dir().join(format!("sotto-bin-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("sotto.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7001\"\nudp_port = 7002\n[limits]\nmax_rooms = 7\n",
    )
    .expect("write");
    let output = clean_command()
        .args([
            "--config",
            file.to_str().expect("utf-8"),
            "--print-config",
            "--max-rooms",
            "9",
        ])
        .env("SOTTO_UDP_PORT", "7003")
        .env("SOTTO_MAX_ROOMS", "8")
        .env("SOTTO_TURN", "turn:t.example:3478")
        .env("SOTTO_TURN_CREDENTIAL", "do-not-print-me")
        .env("SOTTO_MAX_WAITING", "5")
        .env("SOTTO_METRICS_LISTEN", "127.0.0.1:9100")
        .env("SOTTO_PUBLIC_ORIGIN", "https://call.example")
        .env("SOTTO_MAX_CONNECTIONS_PER_IP", "0")
        .env("SOTTO_MAX_CONNECTIONS", "99")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("listen = 127.0.0.1:7001"),
        "file: {printed}"
    );
    assert!(
        printed.contains("udp_port = 7003"),
        "env beats file: {printed}"
    );
    assert!(
        printed.contains("max_rooms = 9"),
        "flag beats env: {printed}"
    );
    assert!(
        printed.contains("turn:t.example:3478 (with credential)"),
        "{printed}"
    );
    assert!(!printed.contains("do-not-print-me"), "{printed}");
    for line in [
        "max_waiting = 5",
        "metrics_listen = 127.0.0.1:9100",
        "public_origin = [\"https://call.example\"]",
        "max_connections_per_ip = 0",
        "max_connections = 99",
    ] {
        assert!(
            printed.contains(line),
            "{line} from the environment: {printed}"
        );
    }

    let output = clean_command()
        .args(["--max-message-bytes", "1"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_message_bytes"));
}

#[tokio::test]
async fn serves_and_stops_gracefully_on_sigterm() {
    let mut child = clean_command()
        .args(["--listen", "127.0.0.1:0", "--udp-port", "0"])
        .env("SOTTO_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listening on http://").nth(1) {
                let _ = addr_tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server says where it listens");

    for (path, needle) in [("/healthz", "ok"), ("/", "sotto")] {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("tcp");
        tcp.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut response = Vec::new();
        tcp.read_to_end(&mut response).await.expect("read");
        let (status, _, body) = parse_http(&response);
        assert_eq!(status, 200, "{path}");
        assert!(String::from_utf8_lossy(&body).contains(needle), "{path}");
    }

    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("websocket");
    let mut client = Client { ws };
    client.join("sigterm-room").await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    client.expect_error(ErrorCode::ShuttingDown).await;
    assert_eq!(client.expect_close().await, Some(1001));

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "did not exit in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
}
