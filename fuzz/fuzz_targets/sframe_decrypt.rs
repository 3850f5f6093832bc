//! Decryption of arbitrary input never panics and never accepts a frame
//! that differs from one the sender produced.
//!
//! Input: byte 0 picks the cipher suite, byte 1 the metadata length; the
//! rest is either decrypted as is (even byte 2) or used as XOR mutations
//! of a genuine frame (odd byte 2), which must then fail unless the
//! mutation changed nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_crypto::sframe::{CipherSuite, KeyId, ReceiverContext, SenderContext};

const BASE_KEY: [u8; 16] = *b"sotto fuzz key!!";

fuzz_target!(|data: &[u8]| {
    let [suite, meta_len, mode, rest @ ..] = data else {
        return;
    };
    let suite = CipherSuite::ALL[*suite as usize % CipherSuite::ALL.len()];
    let meta_len = (*meta_len as usize).min(rest.len());
    let (metadata, input) = rest.split_at(meta_len);

    let mut rx = ReceiverContext::new(suite);
    for kid in [0u64, 7, 8, 0x1234, u64::MAX] {
        rx.add_key(KeyId(kid), &BASE_KEY).expect("valid base key");
    }

    if mode % 2 == 0 {
        let result = rx.decrypt(metadata, input);
        // A 32-bit tag can be hit by chance in a long run (2^-32 per try);
        // 64 bits and more cannot.
        if suite.nt() >= 8 {
            assert!(result.is_err(), "accepted a frame nobody sent");
        }
        return;
    }

    let mut tx = SenderContext::new(suite, KeyId(0x1234), &BASE_KEY).expect("sender");
    let genuine = tx.encrypt(metadata, b"the plaintext of a media frame").expect("encrypt");
    let mut mutated = genuine.clone();
    for (i, m) in input.iter().enumerate() {
        if let Some(b) = mutated.get_mut(i) {
            *b ^= m;
        }
    }
    let result = rx.decrypt(metadata, &mutated);
    if mutated == genuine {
        assert!(result.is_ok(), "a genuine frame failed: {result:?}");
    } else {
        assert!(result.is_err(), "a mutated frame was accepted");
    }
});
