//! The browser downloads the wasm bundle before it can join a call: it has
//! a size budget (STYLE.md §7), checked on what the server serves.

#[path = "support/harness.rs"]
mod harness;

use std::io::{Read, Write};

use harness::{TestServer, test_config};

/// Budget for the gzip-compressed wasm, in bytes. The MLS stack (openmls)
/// will be most of it: FACTS.md measured 458 KB gzipped for openmls +
/// AES-GCM after wasm-opt, and this bundle is built without wasm-opt.
const WASM_GZIP_BUDGET: usize = 700 * 1024;

fn gzip_len(bytes: &[u8]) -> usize {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("gzip into memory");
    gz.finish().expect("gzip into memory").len()
}

#[tokio::test]
async fn the_embedded_wasm_stays_under_its_gzip_budget() {
    let server = TestServer::start(test_config()).await;
    let (status, head, wasm) = server.get("/static/pkg/sotto_web_bg.wasm").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/wasm"), "{head}");
    assert_eq!(&wasm[..4], b"\0asm", "not a wasm module");
    let gz = gzip_len(&wasm);

    // What a browser downloads: the server's own gzipped copy.
    let (status, head, served) = server
        .request(
            "GET /static/pkg/sotto_web_bg.wasm HTTP/1.1\r\nHost: test\r\n\
             Accept-Encoding: gzip, deflate, br\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(status, 200);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&served[..])
        .read_to_end(&mut back)
        .expect("the served body is gzip");
    assert!(back == wasm, "the gzipped wasm is not the wasm");
    println!(
        "sotto_web_bg.wasm: {} bytes, {} as served gzipped, {gz} at gzip -9 here (budget {WASM_GZIP_BUDGET})",
        wasm.len(),
        served.len()
    );
    assert!(
        served.len() <= WASM_GZIP_BUDGET,
        "the web bundle's wasm is served as {} bytes gzipped, over its budget of {WASM_GZIP_BUDGET}",
        served.len()
    );

    let (status, head, js) = server.get("/static/pkg/sotto_web.js").await;
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript"), "{head}");
    let js = String::from_utf8_lossy(&js);
    assert!(
        js.contains("FrameCrypto"),
        "glue without the Worker's class"
    );
    server.stop().await.expect("clean stop");
}
