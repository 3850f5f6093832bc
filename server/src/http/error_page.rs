//! A handler that panics is a bug on this server: the request gets `500`
//! with `error.html` (the site's look, English and French), not a
//! connection hyper drops without an answer.

use std::panic::AssertUnwindSafe;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;

use super::asset;

/// Middleware (`axum::middleware::from_fn`): runs the rest of the stack
/// and turns a panic in it into [`server_error`]. What panicked is already
/// on stderr (the panic hook); the log says only that a request failed, so
/// neither a path (a room name) nor a payload reaches it.
pub async fn catch_panic(request: Request, next: Next) -> Response {
    // AssertUnwindSafe: after a panic the handler's state is dropped, not
    // used; what handlers share (rooms, counters) is behind locks that
    // would poison and say so, never half-updated in this future.
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("an HTTP handler panicked; answered 500");
            server_error()
        }
    }
}

/// `500` with `error.html`, never cached; plain text if the binary was
/// built without the web client.
pub fn server_error() -> Response {
    let mut response = asset("error.html", &HeaderMap::new());
    if response.status() != StatusCode::OK {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "something went wrong on this server",
        )
            .into_response();
    }
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.remove(header::ETAG);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn boom() -> &'static str {
        panic!("a bug in a handler")
    }

    /// A router with a handler that panics, behind the layers of
    /// [`super::super::router`], answered over a real socket.
    async fn fetch(path: &str) -> String {
        let app = super::super::layers(
            Router::new()
                .route("/boom", get(boom))
                .route("/fine", get(|| async { "fine" })),
            false,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .expect("write");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("an answer, not a dropped connection");
        server.abort();
        response
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_error_page() {
        let response = fetch("/boom").await;
        assert!(
            response.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{response}"
        );
        let lower = response.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: text/html; charset=utf-8"),
            "{response}"
        );
        assert!(lower.contains("cache-control: no-store"), "{response}");
        assert!(
            lower.contains("content-security-policy: default-src 'none'"),
            "the page keeps the site's headers: {response}"
        );
        assert!(response.contains("Something went wrong on this server."));
        assert!(response.contains("Une erreur s’est produite sur ce serveur."));
        assert!(response.contains(r#"href="/static/style.css""#));
        assert!(response.contains(r#"href="/""#), "a link home");

        let response = fetch("/fine").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    }

    #[test]
    fn the_error_page_is_embedded() {
        let page = super::super::assets::find("error.html").expect("client/web/public/error.html");
        assert!(page.bytes.starts_with(b"<!doctype html>"));
        let text = std::str::from_utf8(page.bytes).expect("utf-8");
        assert!(
            !text.contains("<script"),
            "it must show when scripts fail too"
        );
        assert!(!text.contains("style="), "the CSP allows no inline style");
    }
}
