//! The browser downloads the wasm bundle before it can join a call: it has
//! a size budget (STYLE.md §7), checked on what sotto-server embeds.

use std::io::Write;

use sotto_server::web_bundle::WEB_BUNDLE;

/// Budget for the gzip-compressed wasm, in bytes. The MLS stack (openmls)
/// is most of it: FACTS.md measured 458 KB gzipped for openmls + AES-GCM
/// after wasm-opt, and the bundle is built without wasm-opt.
const WASM_GZIP_BUDGET: usize = 700 * 1024;

fn gzip_len(bytes: &[u8]) -> usize {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("gzip into memory");
    gz.finish().expect("gzip into memory").len()
}

#[test]
fn embedded_wasm_stays_under_its_gzip_budget() {
    let (_, wasm) = WEB_BUNDLE
        .iter()
        .find(|(name, _)| name.ends_with(".wasm"))
        .expect("the bundle has a .wasm");
    assert_eq!(&wasm[..4], b"\0asm", "not a wasm module");
    let gz = gzip_len(wasm);
    println!(
        "sotto_web_bg.wasm: {} bytes, {gz} gzipped (budget {WASM_GZIP_BUDGET})",
        wasm.len()
    );
    assert!(
        gz <= WASM_GZIP_BUDGET,
        "the web bundle's wasm is {gz} bytes gzipped, over its budget of {WASM_GZIP_BUDGET}"
    );
}

#[test]
fn embedded_bundle_has_its_glue() {
    let names: Vec<&str> = WEB_BUNDLE.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["pkg/sotto_web.js", "pkg/sotto_web_bg.wasm"]);
    let (_, js) = WEB_BUNDLE[0];
    let js = std::str::from_utf8(js).expect("utf-8 glue");
    assert!(
        js.contains("FrameCrypto"),
        "glue without the Worker's class"
    );
}
