//! HTTP: the web client, `/healthz`, `/metrics` and the signalling
//! WebSocket at `/ws` (spec §1, "Server paths"). `/metrics` can be moved
//! to a listener of its own ([`metrics_router`]), so that a public
//! instance does not tell the world how many calls it carries.
//!
//! A room's page is at `/` + its canonical name, percent-encoded; any other
//! spelling of it (`/Alice-and-Bob`, `/alice-and-bob/`) is redirected
//! there. Any other page is the web client with `404`, so that a mistyped
//! link still shows the site (the client tells what is wrong); a missing
//! asset is a plain `404`.

mod assets;
mod error_page;
mod origin;

pub use origin::{AllowedOrigins, BadOrigin};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sotto_proto::RoomName;

use crate::media::MediaStats;
use crate::signal::{self, Signalling};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Signalling, for `/ws` and the room gauges.
    pub signalling: Arc<Signalling>,
    /// The media plane's counters.
    pub media_stats: Arc<MediaStats>,
    /// Whose pages may open `/ws`.
    pub origins: Arc<AllowedOrigins>,
    /// The server speaks TLS itself: responses carry HSTS.
    pub tls: bool,
}

/// The client's address (the TCP peer), as the listeners hand it to the
/// router (`into_make_service_with_connect_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// HSTS (RFC 6797) for a server that serves TLS itself: a year, the
/// commonly recommended minimum. Not `includeSubDomains`: the operator's
/// other hosts are not ours to decide for. Behind a reverse proxy the
/// proxy owns TLS and sets this.
const HSTS: &str = "max-age=31536000";

/// Content-Security-Policy for the web client: its own scripts and wasm
/// only (`'wasm-unsafe-eval'` compiles WebAssembly without allowing
/// `eval`), workers from itself or blobs (the frame transform), media from
/// blobs and streams, connections to this origin (the WebSocket).
const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    worker-src 'self' blob:; style-src 'self'; img-src 'self' data: blob:; \
    media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The router of the main listener; with `with_metrics` false `/metrics`
/// is a missing page there (it is served by [`metrics_router`] instead).
pub fn router(state: AppState, with_metrics: bool) -> Router {
    let tls = state.tls;
    let router = Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz));
    let router = if with_metrics {
        router.route("/metrics", get(metrics))
    } else {
        router.route("/metrics", get(not_found))
    };
    let router = router
        .route("/ws", get(websocket))
        .route("/static/{*path}", get(static_asset))
        .route("/favicon.ico", get(favicon))
        .route("/{room}", get(room_page))
        .route("/{room}/", get(room_page))
        .fallback(missing_page);
    layers(router, tls).with_state(state)
}

/// What every response of the main listener goes through: a panic becomes
/// the `500` page, then the security headers (so the `500` has them too),
/// then HSTS when the server speaks TLS itself.
fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>, tls: bool) -> Router<S> {
    let router = router
        .layer(axum::middleware::from_fn(error_page::catch_panic))
        .layer(axum::middleware::map_response(security_headers));
    if tls {
        router.layer(axum::middleware::map_response(strict_transport_security))
    } else {
        router
    }
}

/// The router of the metrics listener: `/metrics`, and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    response
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "referrer-policy", "no-referrer");
    set(
        headers,
        "permissions-policy",
        "camera=(self), microphone=(self), display-capture=(self)",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "cross-origin-opener-policy", "same-origin");
    response
}

async fn healthz() -> Response {
    plain(StatusCode::OK, "ok")
}

async fn metrics(State(state): State<AppState>) -> Response {
    let rooms = &state.signalling.rooms;
    let text = rooms.metrics().render(rooms.counts(), &state.media_stats);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn websocket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    request: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header = |name| {
        request
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if !state
        .origins
        .allows(header(header::ORIGIN), header(header::HOST))
    {
        tracing::debug!("WebSocket from a foreign origin refused");
        return plain(
            StatusCode::FORBIDDEN,
            "this origin may not open the WebSocket",
        );
    }
    let signalling = state.signalling;
    // Held by the connection until it closes (or by the upgrade until it
    // fails), so the count is of WebSockets actually open.
    let slot = match signalling.connections.open(peer.0.ip()) {
        Ok(slot) => slot,
        Err(refused) => {
            // No address in the log: the reason is enough.
            tracing::info!("WebSocket refused: {refused}");
            return plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections; try again later",
            );
        }
    };
    let cap = signalling.hard_message_cap();
    upgrade
        .max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| async move {
            signal::serve(socket, signalling).await;
            drop(slot);
        })
}

async fn index(request: HeaderMap) -> Response {
    page(&request, StatusCode::OK)
}

/// `/NAME` and `/NAME/`: the page of the room NAME names (spec §1), at
/// its one path `/` + the canonical name percent-encoded, where every other
/// spelling is redirected. The query is not carried over; the fragment
/// (the room secret) stays in the browser, which keeps it across a
/// redirect whose `Location` has none (RFC 9110 §10.2.2). A segment that
/// names no room is a missing page.
async fn room_page(uri: Uri, request: HeaderMap) -> Response {
    let path = uri.path();
    let segment = path.strip_prefix('/').unwrap_or(path);
    let segment = segment.strip_suffix('/').unwrap_or(segment);
    let Ok(room) = RoomName::from_path_segment(segment) else {
        return page(&request, StatusCode::NOT_FOUND);
    };
    let canonical = format!("/{}", room.path_segment());
    if path == canonical {
        return page(&request, StatusCode::OK);
    }
    match HeaderValue::from_str(&canonical) {
        Ok(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [
                (header::LOCATION, location),
                // Not cached for good, as a 301 may be: a later version
                // could normalise a name differently.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
        )
            .into_response(),
        // Percent-encoded, so always a valid header value.
        Err(_) => error_page::server_error(),
    }
}

/// Any other path: the web client, so that the visitor sees the site and
/// why there is nothing here, but with `404`.
async fn missing_page(request: HeaderMap) -> Response {
    page(&request, StatusCode::NOT_FOUND)
}

/// `index.html`, never cached: a new release must reach every browser.
/// With another `status` than `200` it is sent whole, without an `ETag`
/// (never a `304`: the status is the point).
fn page(request: &HeaderMap, status: StatusCode) -> Response {
    let mut response = if status == StatusCode::OK {
        asset("index.html", request)
    } else {
        let mut request = request.clone();
        request.remove(header::IF_NONE_MATCH);
        let mut response = asset("index.html", &request);
        if response.status() == StatusCode::OK {
            *response.status_mut() = status;
            response.headers_mut().remove(header::ETAG);
        }
        response
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn static_asset(Path(path): Path<String>, request: HeaderMap) -> Response {
    asset(&path, &request)
}

async fn favicon(request: HeaderMap) -> Response {
    asset("favicon.ico", &request)
}

/// An embedded file; names are not content-hashed, so browsers revalidate
/// (`no-cache`) and get a 304 while the ETag matches. Files that compress
/// well are sent gzipped to browsers that accept it (each encoding has its
/// own ETag, as RFC 9110 §8.8.3 asks of different representations).
fn asset(path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = assets::find(path) else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let gzip = asset.gzip.filter(|_| accepts_gzip(request));
    let etag = if gzip.is_some() {
        format!("\"{}-gz\"", asset.etag)
    } else {
        format!("\"{}\"", asset.etag)
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        gzip.unwrap_or(asset.bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(assets::content_type(asset.path)),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if asset.gzip.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if gzip.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` lists gzip with a non-zero weight.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero
        })
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
