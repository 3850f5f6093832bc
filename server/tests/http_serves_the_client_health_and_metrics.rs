//! `/healthz`, the web client at `/` and `/ROOM`, static assets with their
//! headers, and `/metrics` in Prometheus text that counts errors by code,
//! on the main listener or, with `--metrics-listen`, only on its own.

#[path = "support/harness.rs"]
mod harness;

use harness::{TestServer, get_at, test_config};
use sotto_proto::ErrorCode;

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start(test_config()).await;
    let (status, head, body) = server.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, b"ok");
    // Over plain HTTP (a reverse proxy owns TLS) HSTS is the proxy's.
    assert!(!head.contains("strict-transport-security"), "{head}");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_index_page_is_served_at_the_root_and_at_room_paths() {
    let server = TestServer::start(test_config()).await;
    let (status, head, index) = server.get("/").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&index).contains("sotto"));
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(
        head.contains(
            "content-security-policy: default-src 'none'; script-src 'self' 'wasm-unsafe-eval'"
        ),
        "{head}"
    );
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
    assert!(
        head.contains(
            "permissions-policy: camera=(self), microphone=(self), display-capture=(self)"
        ),
        "{head}"
    );

    let (status, _, page) = server.get("/quiet-otter-lamp-42").await;
    assert_eq!(status, 200);
    assert_eq!(page, index);

    // Other spellings of a room are redirected: see
    // rooms_are_found_by_the_names_people_type.rs.
    for missing in ["/ab", "/a/b", "/static/nope.js", "/static/../Cargo.toml"] {
        let (status, _, _) = server.get(missing).await;
        assert_eq!(status, 404, "{missing}");
    }

    let (status, head, asset) = server.get("/static/index.html").await;
    assert_eq!(status, 200);
    assert_eq!(asset, index);
    assert!(head.contains("cache-control: no-cache"), "{head}");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("etag")
        .to_owned();
    let (status, _, body) = server
        .request(&format!(
            "GET /static/index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
        ))
        .await;
    assert_eq!(status, 304);
    assert!(body.is_empty());
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_errors_by_code() {
    let server = TestServer::start(test_config()).await;
    let (mut client, _, _) = server.join("metric-room").await;
    client.send_text("not json").await;
    client.expect_error(ErrorCode::BadMessage).await;
    client
        .send_text(r#"{"v":1,"type":"commit","epoch":"x","commit":""}"#)
        .await;
    client.expect_error(ErrorCode::BadMessage).await;
    client.key_package(b"kp").await;
    client.expect_error(ErrorCode::OutOfOrder).await;

    let (status, head, body) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let text = String::from_utf8(body).expect("utf-8");
    let samples = parse_prometheus(&text);
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {series}"))
    };
    assert_eq!(value("sotto_rooms"), 1.0);
    assert_eq!(value("sotto_participants{state=\"member\"}"), 1.0);
    assert_eq!(value("sotto_participants{state=\"waiting\"}"), 0.0);
    assert_eq!(
        value("sotto_signalling_errors_total{code=\"bad_message\"}"),
        2.0
    );
    assert_eq!(
        value("sotto_signalling_errors_total{code=\"out_of_order\"}"),
        1.0
    );
    assert_eq!(
        value("sotto_signalling_errors_total{code=\"stale_epoch\"}"),
        0.0
    );
    for code in ErrorCode::ALL {
        value(&format!(
            "sotto_signalling_errors_total{{code=\"{}\"}}",
            code.as_str()
        ));
    }
    for series in [
        "sotto_forwarded_packets_total",
        "sotto_forwarded_bytes_total",
        "sotto_dropped_packets_total",
    ] {
        assert_eq!(value(series), 0.0);
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn with_a_metrics_listener_metrics_are_served_there_only() {
    let mut config = test_config();
    config.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let server = TestServer::start(config).await;
    let metrics_addr = server.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics_addr, server.addr);

    let (status, _, body) = server.get("/metrics").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains("sotto_rooms"));
    let (status, _, _) = server.get("/healthz").await;
    assert_eq!(status, 200, "the rest stays on the main listener");

    let (status, head, body) = get_at(metrics_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4"));
    parse_prometheus(&String::from_utf8(body).expect("utf-8"));
    for elsewhere in ["/", "/healthz", "/ws", "/static/index.html"] {
        let (status, _, _) = get_at(metrics_addr, elsewhere).await;
        assert_eq!(status, 404, "{elsewhere} is not on the metrics listener");
    }
    server.stop().await.expect("clean stop");
}

/// A strict reading of the text format (version 0.0.4): every family has
/// HELP and TYPE before its samples, names and labels are well formed,
/// values are numbers.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashMap::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next(), parts.next().expect("name"));
            match kind {
                Some("HELP") => assert!(parts.next().is_some_and(|h| !h.is_empty())),
                Some("TYPE") => {
                    let t = parts.next().expect("type");
                    assert!(["counter", "gauge"].contains(&t), "{line}");
                    typed.insert(name.to_owned(), t.to_owned());
                }
                _ => panic!("bad comment {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let name = series.split('{').next().expect("name");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        assert!(typed.contains_key(name), "{name} has no TYPE before it");
        if typed[name] == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .expect("braces");
            for pair in inner.split(',') {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                assert!(v.starts_with('"') && v.ends_with('"') && v.len() >= 2);
            }
        }
        samples.push((series.to_owned(), value.parse::<f64>().expect("number")));
    }
    samples
}
