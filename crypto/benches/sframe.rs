//! SFrame against the bare AEAD it wraps, same sizes, same run.
//!
//! `bare/*` is AES-128-GCM from `aes-gcm` sealing a copy of the plaintext in
//! place and appending the tag, or opening it: the least any frame
//! encryption can cost. `sframe/*` is the full sotto path for the default
//! suite: header, nonce, AAD, counter bookkeeping and, on receipt, the KID
//! lookup and the replay window. The ratio sframe/bare is the cost of
//! SFrame itself. Goal (issue 2): at most 1.15x at 1.2 KB and above.

use std::hint::black_box;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce, Tag};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sotto_crypto::media::{self, Codec};
use sotto_crypto::sframe::{CipherSuite, KeyId, ReceiverContext, SenderContext};

const SIZES: [(usize, &str); 3] = [(100, "100B"), (1200, "1.2KB"), (100_000, "100KB")];
const BASE_KEY: [u8; 16] = [0x42; 16];
const KID: KeyId = KeyId(0x1a);

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7) as u8).collect()
}

/// Frames with consecutive counters, enough to cycle through without the
/// replay window refusing any: the receiver is rebuilt when the ring wraps.
fn ring(len: usize) -> Vec<Vec<u8>> {
    let n = (64 << 20) / len.max(1);
    let n = n.clamp(64, 4096);
    let mut tx = SenderContext::new(CipherSuite::default(), KID, &BASE_KEY).expect("sender");
    let pt = plaintext(len);
    (0..n)
        .map(|_| tx.encrypt(b"", &pt).expect("encrypt"))
        .collect()
}

fn receiver() -> ReceiverContext {
    let mut rx = ReceiverContext::new(CipherSuite::default());
    rx.add_key(KID, &BASE_KEY).expect("key");
    rx
}

fn encrypt(c: &mut Criterion) {
    let mut g = c.benchmark_group("encrypt");
    let bare = Aes128Gcm::new((&[0x42u8; 16]).into());
    let nonce = [7u8; 12];
    for (len, name) in SIZES {
        let pt = plaintext(len);
        g.throughput(Throughput::Bytes(len as u64));
        let mut buf = Vec::with_capacity(len + 64);
        g.bench_with_input(BenchmarkId::new("bare", name), &pt, |b, pt| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(pt);
                let tag = bare
                    .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut buf)
                    .expect("seal");
                buf.extend_from_slice(&tag);
                black_box(&buf);
            })
        });
        let mut tx = SenderContext::new(CipherSuite::default(), KID, &BASE_KEY).expect("sender");
        g.bench_with_input(BenchmarkId::new("sframe", name), &pt, |b, pt| {
            b.iter(|| {
                buf.clear();
                tx.encrypt_into(b"", pt, &mut buf).expect("encrypt");
                black_box(&buf);
            })
        });
        // The media layout on top (VP8 delta frame: 3 clear bytes as metadata).
        let mut frame = pt.clone();
        frame[0] = 0x31;
        g.bench_with_input(BenchmarkId::new("sframe_vp8", name), &frame, |b, frame| {
            b.iter(|| {
                buf.clear();
                media::protect_into(Codec::Vp8, &mut tx, frame, &mut buf).expect("protect");
                black_box(&buf);
            })
        });
    }
    g.finish();
}

fn decrypt(c: &mut Criterion) {
    let mut g = c.benchmark_group("decrypt");
    let bare = Aes128Gcm::new((&[0x42u8; 16]).into());
    for (len, name) in SIZES {
        g.throughput(Throughput::Bytes(len as u64));
        // Both sides cycle through rings of the same size, so that both
        // read their input from the same level of the memory hierarchy.
        let frames = ring(len);
        let sealed: Vec<([u8; 12], Vec<u8>, Tag)> = (0..frames.len())
            .map(|i| {
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
                let mut ct = plaintext(len);
                let tag = bare
                    .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut ct)
                    .expect("seal");
                (nonce, ct, tag)
            })
            .collect();
        let mut buf = Vec::with_capacity(len + 64);
        let mut i = 0;
        g.bench_function(BenchmarkId::new("bare", name), |b| {
            b.iter(|| {
                let (nonce, ct, tag) = &sealed[i % sealed.len()];
                buf.clear();
                buf.extend_from_slice(ct);
                bare.decrypt_in_place_detached(Nonce::from_slice(nonce), b"", &mut buf, tag)
                    .expect("open");
                i += 1;
                black_box(&buf);
            })
        });
        let mut rx = receiver();
        let mut i = 0;
        g.bench_function(BenchmarkId::new("sframe", name), |b| {
            b.iter(|| {
                if i == frames.len() {
                    // Counters are spent: start over with a fresh replay
                    // window (amortised over the whole ring).
                    i = 0;
                    rx = receiver();
                }
                buf.clear();
                rx.decrypt_into(b"", &frames[i], &mut buf).expect("decrypt");
                i += 1;
                black_box(&buf);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, encrypt, decrypt);
criterion_main!(benches);
