//! Known-answer tests: every vector of RFC 9605 Appendix C, read from
//! `spec/vectors/rfc9605.json` (its source is recorded in the file).

use serde::Deserialize;

use super::aead::tests::{ctr_hmac_open, ctr_hmac_seal};
use super::key::{derive_for_test, label_for_test};
use super::{CipherSuite, Counter, FrameKey, Header, KeyId, ReceiverContext};

const VECTORS: &str = include_str!("../../../spec/vectors/rfc9605.json");

#[derive(Deserialize)]
struct Vectors {
    header: Vec<HeaderVector>,
    aes_ctr_hmac: Vec<AeadVector>,
    sframe: Vec<SframeVector>,
}

#[derive(Deserialize)]
struct HeaderVector {
    kid: u64,
    ctr: u64,
    encoded: String,
}

#[derive(Deserialize)]
struct AeadVector {
    cipher_suite: u16,
    key: String,
    enc_key: String,
    auth_key: String,
    nonce: String,
    aad: String,
    pt: String,
    ct: String,
}

#[derive(Deserialize)]
struct SframeVector {
    cipher_suite: u16,
    kid: u64,
    ctr: u64,
    base_key: String,
    sframe_key_label: String,
    sframe_salt_label: String,
    sframe_key: String,
    sframe_salt: String,
    metadata: String,
    nonce: String,
    pt: String,
    ct: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(VECTORS).expect("spec/vectors/rfc9605.json parses")
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

fn nonce(s: &str) -> [u8; 12] {
    h(s).try_into().expect("12-byte nonce")
}

#[test]
fn rfc9605_c1_headers_encode_and_decode() {
    let v = vectors();
    assert_eq!(v.header.len(), 289, "all of Appendix C.1");
    for t in v.header {
        let header = Header::new(KeyId(t.kid), Counter(t.ctr));
        let want = h(&t.encoded);
        assert_eq!(header.encode().as_bytes(), &want[..], "{header:?}");
        assert_eq!(Header::decode(&want), Ok((header, want.len())));
    }
}

#[test]
fn rfc9605_c2_ctr_hmac_aead() {
    let v = vectors();
    assert_eq!(v.aes_ctr_hmac.len(), 3);
    for t in v.aes_ctr_hmac {
        let suite = CipherSuite::from_id(t.cipher_suite).expect("suite");
        let key = h(&t.key);
        assert_eq!(&key[..16], &h(&t.enc_key)[..]);
        assert_eq!(&key[16..], &h(&t.auth_key)[..]);
        let ct = ctr_hmac_seal(suite, &key, &nonce(&t.nonce), &h(&t.aad), &h(&t.pt));
        assert_eq!(hex::encode(&ct), t.ct, "{suite:?}");
        let pt = ctr_hmac_open(suite, &key, &nonce(&t.nonce), &h(&t.aad), &ct).expect("open");
        assert_eq!(hex::encode(pt), t.pt);
        let mut bad = ct.clone();
        *bad.last_mut().expect("non-empty") ^= 1;
        assert!(ctr_hmac_open(suite, &key, &nonce(&t.nonce), &h(&t.aad), &bad).is_err());
    }
}

#[test]
fn rfc9605_c3_sframe_every_suite() {
    let v = vectors();
    let suites: Vec<u16> = v.sframe.iter().map(|t| t.cipher_suite).collect();
    assert_eq!(suites, [1, 2, 3, 4, 5], "one vector per registered suite");
    for t in v.sframe {
        let suite = CipherSuite::from_id(t.cipher_suite).expect("suite");
        let kid = KeyId(t.kid);
        let base_key = h(&t.base_key);

        assert_eq!(
            hex::encode(label_for_test(false, kid, suite)),
            t.sframe_key_label
        );
        assert_eq!(
            hex::encode(label_for_test(true, kid, suite)),
            t.sframe_salt_label
        );
        let (key, salt) = derive_for_test(suite, kid, &base_key);
        assert_eq!(hex::encode(&key), t.sframe_key, "{suite:?} key");
        assert_eq!(hex::encode(&salt), t.sframe_salt, "{suite:?} salt");

        let fk = FrameKey::derive(suite, kid, &base_key).expect("derive");
        assert_eq!(hex::encode(fk.salt_for_test()), t.sframe_salt);
        assert_eq!(hex::encode(fk.nonce_for_test(Counter(t.ctr))), t.nonce);

        let mut ct = Vec::new();
        fk.seal_into(Counter(t.ctr), &h(&t.metadata), &h(&t.pt), &mut ct)
            .expect("seal");
        assert_eq!(hex::encode(&ct), t.ct, "{suite:?} ciphertext");

        let mut rx = ReceiverContext::new(suite);
        rx.add_key(kid, &base_key).expect("key");
        let got = rx.decrypt(&h(&t.metadata), &ct).expect("decrypt");
        assert_eq!(hex::encode(got.plaintext), t.pt);
        assert_eq!((got.kid, got.ctr), (kid, Counter(t.ctr)));
        assert!(rx.decrypt(b"other metadata", &h(&t.ct)).is_err());
    }
}
