//! The media frame layout: arbitrary received frames never panic and are
//! never passed through; protect/unprotect round-trips any frame that the
//! codec's layout accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_crypto::media::{self, Codec};
use sotto_crypto::sframe::{CipherSuite, KeyId, ReceiverContext, SenderContext};

const CODECS: [Codec; 5] = [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1];
const BASE_KEY: [u8; 16] = *b"sotto fuzz media";

fuzz_target!(|data: &[u8]| {
    let [codec, frame @ ..] = data else {
        return;
    };
    let codec = CODECS[*codec as usize % CODECS.len()];
    let suite = CipherSuite::default();
    let mut rx = ReceiverContext::new(suite);
    rx.add_key(KeyId(3), &BASE_KEY).expect("key");
    assert!(media::unprotect(codec, &mut rx, frame).is_err(), "unencrypted frame accepted");

    let mut tx = SenderContext::new(suite, KeyId(3), &BASE_KEY).expect("sender");
    if let Ok(wire) = media::protect(codec, &mut tx, frame) {
        let back = media::unprotect(codec, &mut rx, &wire).expect("own frame decrypts");
        assert_eq!(back.frame, frame);
    }
});
