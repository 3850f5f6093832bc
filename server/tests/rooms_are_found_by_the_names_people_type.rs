//! People agree on a room name and open `https://HOST/NAME` as they typed
//! it (issue 17): every spelling of a room is redirected to its one path,
//! the canonical name percent-encoded, which serves the web client (spec
//! §1); anything else is the web client with `404`; `join` takes only the
//! canonical name, so two spellings are never two rooms.

#[path = "support/harness.rs"]
mod harness;

use harness::{TestServer, test_config};
use sotto_proto::{ErrorCode, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path`: (status, the `Location` as sent). The harness lower-cases
/// headers, and the case of percent-encoding is part of the path.
async fn redirect(server: &TestServer, path: &str) -> (u16, Option<String>) {
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response);
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let location = head.lines().find_map(|l| {
        let (name, value) = l.split_once(": ")?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.to_owned())
    });
    (status, location)
}

#[tokio::test]
async fn every_spelling_of_a_room_is_redirected_to_its_canonical_path() {
    let server = TestServer::start(test_config()).await;
    let (_, _, index) = server.get("/").await;

    for (typed, canonical) in [
        ("/Alice-and-Bob-03-May-2020", "/alice-and-bob-03-may-2020"),
        ("/alice-and-bob-03-may-2020/", "/alice-and-bob-03-may-2020"),
        ("/Alice-and-Bob-03-May-2020/", "/alice-and-bob-03-may-2020"),
        ("/Alice_and_Bob.03.May.2020", "/alice-and-bob-03-may-2020"),
        ("/Alice%20and%20Bob", "/alice-and-bob"),
        (
            "/Alice-and-Bob-03-May-2020?utm=x",
            "/alice-and-bob-03-may-2020",
        ),
        ("/%C3%89mile-et-Zo%C3%A9", "/%C3%A9mile-et-zo%C3%A9"),
        // The same name with e + combining acute, as macOS may send it.
        ("/E%CC%81mile-et-Zoe%CC%81", "/%C3%A9mile-et-zo%C3%A9"),
        // Lower-case hex is another spelling of the same path.
        ("/%c3%a9mile-et-zo%c3%a9", "/%C3%A9mile-et-zo%C3%A9"),
        ("/%EF%BC%A1%EF%BC%A2%EF%BC%A3", "/abc"),
    ] {
        let (status, location) = redirect(&server, typed).await;
        assert_eq!(status, 301, "{typed}");
        assert_eq!(location.as_deref(), Some(canonical), "{typed}");
        let (_, head, _) = server.get(typed).await;
        assert!(head.contains("cache-control: no-cache"), "{head}");

        let (status, head, page) = server.get(canonical).await;
        assert_eq!(status, 200, "{canonical}: {head}");
        assert!(page == index, "{canonical} serves the web client");
        assert!(head.contains("cache-control: no-store"), "{head}");
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
    }

    // The canonical path with a query is the page itself.
    let (status, _, page) = server.get("/alice-and-bob-03-may-2020?x=1").await;
    assert_eq!(status, 200);
    assert!(page == index);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn paths_that_are_no_room_show_the_site_with_404() {
    let server = TestServer::start(test_config()).await;
    let (_, _, index) = server.get("/").await;

    for missing in [
        "/no/such/path",
        "/x",
        "/ab",
        "/a%2Fb%2Fc",
        "/not-a-room!",
        "/emoji-%F0%9F%98%80",
        "/abc%FF",
        "/Metrics",
        "/robots.txt",
        "/api",
        "/api/",
        "//",
    ] {
        let (status, head, page) = server.get(missing).await;
        assert_eq!(status, 404, "{missing}: {head}");
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{missing}: {head}"
        );
        assert!(page == index, "{missing} shows the web client");
        assert!(head.contains("cache-control: no-store"), "{head}");
        assert!(!head.contains("etag"), "{head}");
        assert!(
            head.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
    }
    let too_long = format!("/{}", "a".repeat(65));
    let (status, _, page) = server.get(&too_long).await;
    assert_eq!(status, 404);
    assert!(page == index);

    // A revalidating browser gets the page too, not a 304 without one.
    let (_, head, _) = server.get("/static/index.html").await;
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("etag");
    let (status, _, page) = server
        .request(&format!(
            "GET /no/such/path HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
        ))
        .await;
    assert_eq!(status, 404);
    assert!(page == index);

    // A missing asset is a plain 404: a script or style sheet that fails
    // to load must not be handed a page instead.
    for asset in ["/static/nope.js", "/favicon.ico"] {
        let (status, head, body) = server.get(asset).await;
        assert_eq!(status, 404, "{asset}");
        assert!(head.contains("content-type: text/plain"), "{asset}: {head}");
        assert_eq!(body, b"not found");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn join_takes_canonical_unicode_names_and_refuses_other_spellings() {
    let server = TestServer::start(test_config()).await;

    let (_creator, _, role) = server.join("émile-et-zoé").await;
    assert_eq!(role, Role::Creator);
    let (_joiner, _, role) = server.join("émile-et-zoé").await;
    assert_eq!(role, Role::Joiner, "the same room");

    for spelling in [
        "Émile-et-Zoé",
        "E\u{301}mile-et-zoe\u{301}",
        "émile--et-zoé",
        "-émile-et-zoé",
    ] {
        let mut c = server.connect().await;
        c.send_text(&format!(r#"{{"v":1,"type":"join","room":"{spelling}"}}"#))
            .await;
        c.expect_error(ErrorCode::BadRoomName).await;
        assert_eq!(c.expect_close().await, Some(1008), "{spelling}");
    }
    server.stop().await.expect("clean stop");
}
