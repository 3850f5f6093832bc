//! The web client, embedded at build time from `client/web/public/`
//! (see `build.rs`).

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path below `client/web/public/`, with `/`.
    pub path: &'static str,
    /// Contents.
    pub bytes: &'static [u8],
    /// The contents gzipped, when that is worth it.
    pub gzip: Option<&'static [u8]>,
    /// A content hash (16 hex digits), the base of the `ETag`s.
    pub etag: &'static str,
}

static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path`, if any. Lookup is by exact name in a
/// fixed table: no path ever reaches the filesystem.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The `Content-Type` for a file name.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, e)| e);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_page_is_embedded() {
        let index = find("index.html").expect("client/web/public/index.html");
        assert!(index.bytes.starts_with(b"<!doctype html>"));
        assert_eq!(index.etag.len(), 16);
        assert!(index.etag.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(find("../Cargo.toml").is_none());
    }

    #[test]
    fn the_wasm_is_embedded_gzipped_too() {
        let wasm = find("pkg/sotto_web_bg.wasm").expect("the wasm bundle");
        let gz = wasm.gzip.expect("a gzipped copy");
        assert!(
            gz.len() < wasm.bytes.len() / 2,
            "{} of {}",
            gz.len(),
            wasm.bytes.len()
        );
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut back)
            .expect("valid gzip");
        assert!(back == wasm.bytes, "the gzipped copy is another file");
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("app.wasm"), "application/wasm");
        assert_eq!(content_type("a/b/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    /// Words of the test instrumentation (`tests/browser/lib/`) and of the
    /// hooks the app once had (`?sotto-test=no-decrypt`, the frame
    /// Worker's pass-through). None may reach a user.
    const TEST_HOOKS: [&str; 5] = [
        "sotto-test",
        "no-decrypt",
        "passthrough",
        "__sotto",
        "sottoFake",
    ];

    #[test]
    fn no_test_hook_is_served() {
        assert!(
            ASSETS.iter().any(|a| a.path == "app.js"),
            "the client is embedded"
        );
        assert!(
            ASSETS.iter().any(|a| a.path.ends_with(".wasm")),
            "and its wasm"
        );
        for asset in ASSETS {
            for hook in TEST_HOOKS {
                let found = asset
                    .bytes
                    .windows(hook.len())
                    .any(|w| w.eq_ignore_ascii_case(hook.as_bytes()));
                assert!(!found, "{} contains {hook:?}", asset.path);
            }
        }
    }
}
