//! Precedence and validation. (Environment variables are covered by
//! `tests/config_from_the_environment.rs`, which runs the binary: setting
//! them in-process is `unsafe`.)

use super::*;

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["sotto-server"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).expect("flags parse")
}

/// A config file in a fresh directory; returns its path.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sotto-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("sotto.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn no_flags_give_the_documented_defaults() {
    let config = Config::resolve(&cli(&[])).expect("valid");
    assert_eq!(config, Config::default());
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.media.udp_port, 10000);
    assert_eq!(config.limits.max_message_bytes, 524_288);
    assert_eq!(config.limits.max_waiting, 8);
}

#[test]
fn public_origins_come_from_flags_or_the_file() {
    let c = Config::resolve(&cli(&[
        "--public-origin",
        "https://a.example,https://b.example",
    ]))
    .expect("valid");
    assert_eq!(c.public_origins, ["https://a.example", "https://b.example"]);
    let path = file("origins", "public_origin = [\"https://c.example\"]\n");
    let c = Config::resolve(&cli(&["--config", path.to_str().expect("utf-8")])).expect("valid");
    assert_eq!(c.public_origins, ["https://c.example"]);
}

#[test]
fn metrics_get_their_own_listener_only_when_asked() {
    assert_eq!(
        Config::resolve(&cli(&[])).expect("valid").metrics_listen,
        None
    );
    let c = Config::resolve(&cli(&["--metrics-listen", "127.0.0.1:9100"])).expect("valid");
    assert_eq!(
        c.metrics_listen,
        Some("127.0.0.1:9100".parse().expect("addr"))
    );
    let err = Config::resolve(&cli(&["--metrics-listen", "127.0.0.1:8080"]))
        .expect_err("the same address twice");
    assert!(err.to_string().contains("metrics_listen"), "{err}");
}

#[test]
fn connection_limits_default_to_16_per_address_and_4096_and_0_is_off() {
    let c = Config::resolve(&cli(&[])).expect("valid");
    assert_eq!(
        (c.limits.max_connections_per_ip, c.limits.max_connections),
        (16, 4096)
    );
    let c = Config::resolve(&cli(&[
        "--max-connections-per-ip",
        "0",
        "--max-connections",
        "10",
    ]))
    .expect("0 is a valid limit: off");
    assert_eq!(
        (c.limits.max_connections_per_ip, c.limits.max_connections),
        (0, 10)
    );
    let path = file(
        "connections",
        "[limits]\nmax_connections_per_ip = 64\nmax_connections = 0\n",
    );
    let c = Config::resolve(&cli(&["--config", path.to_str().expect("utf-8")])).expect("valid");
    assert_eq!(
        (c.limits.max_connections_per_ip, c.limits.max_connections),
        (64, 0)
    );
}

#[test]
fn the_waiting_cap_comes_from_the_flag() {
    let c = Config::resolve(&cli(&["--max-waiting", "2"])).expect("valid");
    assert_eq!(c.limits.max_waiting, 2);
    assert!(c.describe().contains("max_waiting = 2"), "{}", c.describe());
}

#[test]
fn the_public_ip_defaults_to_a_specific_listen_address_else_loopback() {
    let c = Config::resolve(&cli(&["--listen", "192.0.2.7:80"])).expect("valid");
    assert_eq!(
        c.media.public_ips,
        vec!["192.0.2.7".parse::<IpAddr>().expect("ip")]
    );
    let c = Config::resolve(&cli(&["--listen", "0.0.0.0:80"])).expect("valid");
    assert_eq!(c.media.public_ips, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let c = Config::resolve(&cli(&["--public-ip", "198.51.100.1,2001:db8::1"])).expect("valid");
    assert_eq!(c.media.public_ips.len(), 2);
}

#[test]
fn flags_beat_the_file_and_the_file_beats_defaults() {
    let path = file(
        "precedence",
        r#"
listen = "127.0.0.1:9000"
udp_port = 0
tcp_port = 4443
tls_cert = "cert.pem"
tls_key = "/abs/key.pem"
log = "debug"

[limits]
max_rooms = 5
max_waiting = 3
messages_per_second = 7

[[ice_servers]]
urls = ["turn:turn.example.org:3478"]
username = "u"
credential = "c"
"#,
    );
    let path_str = path.to_str().expect("utf-8 temp path");
    let c = Config::resolve(&cli(&["--config", path_str, "--max-rooms", "9"])).expect("valid");
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.media.udp_port, 0);
    assert_eq!(c.media.tcp_port, Some(4443));
    assert_eq!(c.limits.max_rooms, 9, "flag wins");
    assert_eq!(c.limits.messages_per_second, 7, "file wins over default");
    assert_eq!(c.limits.max_participants, 100, "default");
    assert_eq!(c.limits.max_waiting, 3, "file wins over default");
    assert_eq!(c.log, "debug");
    assert_eq!(c.ice_servers.len(), 1);
    let tls = c.tls.expect("tls from file");
    assert_eq!(
        tls.cert,
        path.parent().expect("dir").join("cert.pem"),
        "relative to the file"
    );
    assert_eq!(tls.key, PathBuf::from("/abs/key.pem"));

    let c = Config::resolve(&cli(&["--config", path_str, "--stun", "stun:a:1,stun:b:2"]))
        .expect("valid");
    assert_eq!(
        c.ice_servers,
        vec![IceServer {
            urls: vec!["stun:a:1".into(), "stun:b:2".into()],
            username: None,
            credential: None
        }],
        "ICE servers from flags replace the file's"
    );
}

#[test]
fn turn_flags_make_one_server_with_credentials() {
    let c = Config::resolve(&cli(&[
        "--turn",
        "turn:t:3478",
        "--turn-username",
        "sotto",
        "--turn-credential",
        "hunter2",
    ]))
    .expect("valid");
    assert_eq!(c.ice_servers[0].credential.as_deref(), Some("hunter2"));
    assert!(!c.describe().contains("hunter2"), "{}", c.describe());
}

#[test]
fn a_turn_secret_mints_credentials_instead_of_fixed_ones() {
    let c = Config::resolve(&cli(&[
        "--stun",
        "stun:s:3478",
        "--turn",
        "turn:t:3478,turns:t:5349",
        "--turn-secret",
        "hunter2",
    ]))
    .expect("valid");
    assert_eq!(
        c.ice_servers.len(),
        1,
        "only STUN is fixed: {:?}",
        c.ice_servers
    );
    let turn = c.turn_rest.as_ref().expect("minted TURN");
    assert_eq!(turn.urls, ["turn:t:3478", "turns:t:5349"]);
    assert!(!c.describe().contains("hunter2"), "{}", c.describe());
    assert!(!format!("{c:?}").contains("hunter2"));

    for (args, needle) in [
        (&["--turn-secret", "s"][..], "--turn"),
        (
            &[
                "--turn",
                "turn:t:1",
                "--turn-secret",
                "s",
                "--turn-credential",
                "c",
            ][..],
            "drop --turn-username",
        ),
        (
            &["--turn", "stun:t:1", "--turn-secret", "s"][..],
            "turn: or turns:",
        ),
    ] {
        let err = Config::resolve(&cli(args)).expect_err(needle);
        assert!(err.to_string().contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn bad_configurations_are_explained() {
    let unknown = file("unknown", "listen = \"127.0.0.1:1\"\nlisten_adress = 3\n");
    let err = Config::resolve(&cli(&["--config", unknown.to_str().expect("utf-8")]))
        .expect_err("unknown key");
    assert!(err.to_string().contains("listen_adress"), "{err}");

    let err = Config::resolve(&cli(&["--config", "/nonexistent/sotto.toml"])).expect_err("no file");
    assert!(err.to_string().contains("/nonexistent/sotto.toml"), "{err}");

    for (args, needle) in [
        (&["--tls-cert", "c.pem"][..], "both"),
        (&["--max-rooms", "0"][..], "at least 1"),
        (&["--max-waiting", "0"][..], "max_waiting"),
        (&["--max-message-bytes", "10"][..], "max_message_bytes"),
        (&["--public-ip", "0.0.0.0"][..], "0.0.0.0"),
        (&["--stun", "http://x"][..], "stun:"),
        (&["--public-origin", "call.example"][..], "public origin"),
        (&["--log", "sotto=nonsense=1"][..], "log filter"),
    ] {
        let err = Config::resolve(&cli(args)).expect_err(needle);
        assert!(err.to_string().contains(needle), "{args:?}: {err}");
    }
    assert!(Cli::try_parse_from(["sotto-server", "--listen", "nowhere"]).is_err());
}
