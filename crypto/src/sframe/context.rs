//! Directional key stores (RFC 9605 §4.4.1: a key is for encryption or
//! decryption, "never both").

use std::collections::HashMap;

use super::{CipherSuite, Counter, Error, FrameKey, Header, KeyId, ReplayWindow};

/// Encrypts with one KID and never reuses a counter (RFC 9605 §7.4).
///
/// The counter starts at 0 and only moves forward; there is no way to set
/// it. When it runs out, encryption fails with
/// [`Error::CounterExhausted`] and the sender needs a new KID.
#[derive(Debug)]
pub struct SenderContext {
    key: FrameKey,
    /// Next counter to use; `None` once `u64::MAX` was used.
    next: Option<u64>,
}

impl SenderContext {
    /// A sender for `kid`, keyed from `base_key`.
    pub fn new(suite: CipherSuite, kid: KeyId, base_key: &[u8]) -> Result<Self, Error> {
        Ok(Self::from_key(FrameKey::derive(suite, kid, base_key)?))
    }

    /// A sender for an already derived key, starting at counter 0.
    pub fn from_key(key: FrameKey) -> Self {
        SenderContext { key, next: Some(0) }
    }

    /// The KID this context encrypts with.
    pub fn kid(&self) -> KeyId {
        self.key.kid()
    }

    /// The counter the next frame will use, if any is left.
    pub fn next_counter(&self) -> Option<Counter> {
        self.next.map(Counter)
    }

    /// Encrypts `plaintext`, returning `header || ciphertext || tag`.
    pub fn encrypt(&mut self, metadata: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encrypt_into(metadata, plaintext, &mut out)?;
        Ok(out)
    }

    /// Appends `header || ciphertext || tag` for `plaintext` to `out`.
    pub fn encrypt_into(
        &mut self,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let ctr = self.next.ok_or(Error::CounterExhausted(self.key.kid()))?;
        // The counter is spent before sealing: even a failed seal never
        // lets the same (key, nonce) pair be used again.
        self.next = ctr.checked_add(1);
        self.key.seal_into(Counter(ctr), metadata, plaintext, out)
    }
}

/// A successfully decrypted and authenticated frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The KID it was encrypted with.
    pub kid: KeyId,
    /// Its counter.
    pub ctr: Counter,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

#[derive(Debug)]
struct ReceiveKey {
    key: FrameKey,
    window: ReplayWindow,
}

/// Decrypts frames from any KID it holds a key for, refusing replays.
#[derive(Debug)]
pub struct ReceiverContext {
    suite: CipherSuite,
    keys: HashMap<KeyId, ReceiveKey>,
}

impl ReceiverContext {
    /// An empty store for `suite`.
    pub fn new(suite: CipherSuite) -> Self {
        ReceiverContext {
            suite,
            keys: HashMap::new(),
        }
    }

    /// Adds (or replaces, with a fresh replay window) the key for `kid`.
    pub fn add_key(&mut self, kid: KeyId, base_key: &[u8]) -> Result<(), Error> {
        let key = FrameKey::derive(self.suite, kid, base_key)?;
        self.keys.insert(
            kid,
            ReceiveKey {
                key,
                window: ReplayWindow::new(),
            },
        );
        Ok(())
    }

    /// Forgets the key for `kid`; returns whether there was one.
    pub fn remove_key(&mut self, kid: KeyId) -> bool {
        self.keys.remove(&kid).is_some()
    }

    /// Whether a key for `kid` is held.
    pub fn has_key(&self, kid: KeyId) -> bool {
        self.keys.contains_key(&kid)
    }

    /// Decrypts `header || ciphertext || tag`.
    pub fn decrypt(&mut self, metadata: &[u8], frame: &[u8]) -> Result<Decrypted, Error> {
        let mut plaintext = Vec::new();
        let (kid, ctr) = self.decrypt_into(metadata, frame, &mut plaintext)?;
        Ok(Decrypted {
            kid,
            ctr,
            plaintext,
        })
    }

    /// Decrypts `header || ciphertext || tag`, appending the plaintext to
    /// `out`. Nothing is appended unless the frame authenticated and is not
    /// a replay.
    pub fn decrypt_into(
        &mut self,
        metadata: &[u8],
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(KeyId, Counter), Error> {
        let (header, header_len) = Header::decode(frame)?;
        let entry = self
            .keys
            .get_mut(&header.kid)
            .ok_or(Error::UnknownKeyId(header.kid))?;
        entry.window.check(header.kid, header.ctr)?;
        entry.key.open_into(
            &header,
            &frame[..header_len],
            metadata,
            &frame[header_len..],
            out,
        )?;
        entry.window.accept(header.ctr);
        Ok((header.kid, header.ctr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [u8; 16] = [9; 16];

    fn pair(suite: CipherSuite, kid: u64) -> (SenderContext, ReceiverContext) {
        let tx = SenderContext::new(suite, KeyId(kid), &BASE).expect("sender");
        let mut rx = ReceiverContext::new(suite);
        rx.add_key(KeyId(kid), &BASE).expect("receiver");
        (tx, rx)
    }

    #[test]
    fn every_suite_roundtrips_with_metadata() {
        for suite in CipherSuite::ALL {
            let (mut tx, mut rx) = pair(suite, 1234);
            for len in [0usize, 1, 15, 16, 17, 100, 1200, 5000] {
                let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let ct = tx.encrypt(b"meta", &pt).expect("encrypt");
                let (_, hlen) = Header::decode(&ct).expect("header");
                assert_eq!(ct.len(), hlen + len + suite.nt());
                if len >= 4 {
                    assert_ne!(&ct[hlen..hlen + len], &pt[..], "{suite:?} len {len}");
                }
                let got = rx.decrypt(b"meta", &ct).expect("decrypt");
                assert_eq!(got.plaintext, pt);
                assert_eq!(got.kid, KeyId(1234));
            }
        }
    }

    #[test]
    fn counters_increase_and_are_never_reused() {
        let (mut tx, _) = pair(CipherSuite::default(), 1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            let ct = tx.encrypt(b"", b"x").expect("encrypt");
            let (h, _) = Header::decode(&ct).expect("header");
            assert!(seen.insert(h.ctr), "counter reused: {:?}", h.ctr);
        }
        assert_eq!(tx.next_counter(), Some(Counter(300)));
    }

    #[test]
    fn the_last_counter_is_used_once_then_the_sender_stops() {
        let key = FrameKey::derive(CipherSuite::default(), KeyId(1), &BASE).expect("key");
        let mut tx = SenderContext {
            key,
            next: Some(u64::MAX),
        };
        let ct = tx.encrypt(b"", b"last").expect("the last counter is valid");
        assert_eq!(
            Header::decode(&ct).expect("header").0.ctr,
            Counter(u64::MAX)
        );
        assert_eq!(
            tx.encrypt(b"", b"one more"),
            Err(Error::CounterExhausted(KeyId(1)))
        );
    }

    #[test]
    fn any_flipped_bit_fails_closed() {
        for suite in CipherSuite::ALL {
            let (mut tx, mut rx) = pair(suite, 300);
            let ct = tx
                .encrypt(b"meta", b"a secret media frame")
                .expect("encrypt");
            for i in 0..ct.len() {
                for bit in 0..8 {
                    let mut bad = ct.clone();
                    bad[i] ^= 1 << bit;
                    let mut out = Vec::new();
                    assert!(
                        rx.decrypt_into(b"meta", &bad, &mut out).is_err(),
                        "{suite:?}: flipping bit {bit} of byte {i} went unnoticed"
                    );
                    assert!(out.is_empty(), "plaintext leaked on failure");
                }
            }
            assert!(
                rx.decrypt(b"other", &ct).is_err(),
                "metadata is authenticated"
            );
            assert!(rx.decrypt(b"meta", &ct).is_ok(), "the window did not move");
        }
    }

    #[test]
    fn replays_are_refused_and_reordering_is_not() {
        let (mut tx, mut rx) = pair(CipherSuite::default(), 3);
        let frames: Vec<_> = (0..10)
            .map(|_| tx.encrypt(b"", b"f").expect("encrypt"))
            .collect();
        for i in [3usize, 0, 1, 9, 2, 4, 8, 5, 7, 6] {
            rx.decrypt(b"", &frames[i]).expect("first delivery");
        }
        for f in &frames {
            assert!(matches!(rx.decrypt(b"", f), Err(Error::Replay { .. })));
        }
    }

    #[test]
    fn unknown_and_removed_keys_are_errors() {
        let (mut tx, mut rx) = pair(CipherSuite::default(), 3);
        let mut other =
            SenderContext::new(CipherSuite::default(), KeyId(4), &BASE).expect("sender");
        let ct = other.encrypt(b"", b"f").expect("encrypt");
        assert_eq!(rx.decrypt(b"", &ct), Err(Error::UnknownKeyId(KeyId(4))));
        let ct = tx.encrypt(b"", b"f").expect("encrypt");
        assert!(rx.remove_key(KeyId(3)));
        assert_eq!(rx.decrypt(b"", &ct), Err(Error::UnknownKeyId(KeyId(3))));
    }

    #[test]
    fn a_different_base_key_does_not_decrypt() {
        let mut tx =
            SenderContext::new(CipherSuite::default(), KeyId(5), &[1; 16]).expect("sender");
        let mut rx = ReceiverContext::new(CipherSuite::default());
        rx.add_key(KeyId(5), &[2; 16]).expect("key");
        let ct = tx.encrypt(b"", b"f").expect("encrypt");
        assert_eq!(rx.decrypt(b"", &ct), Err(Error::Authentication));
    }

    #[test]
    fn short_inputs_are_errors_not_panics() {
        let (_, mut rx) = pair(CipherSuite::default(), 3);
        assert!(rx.decrypt(b"", &[]).is_err());
        assert!(rx.decrypt(b"", &[0x30]).is_err());
        assert!(matches!(
            rx.decrypt(b"", &[0x30, 1, 2]),
            Err(Error::TooShort { tag: 16, got: 2 })
        ));
        assert!(SenderContext::new(CipherSuite::default(), KeyId(0), &[1; 15]).is_err());
    }

    #[test]
    fn debug_output_never_contains_key_material() {
        let (tx, rx) = pair(CipherSuite::AesCtr128HmacSha256Tag80, 7);
        let text = format!("{tx:?} {rx:?}");
        assert!(text.contains("redacted"));
        let key = crate::sframe::key::derive_for_test(
            CipherSuite::AesCtr128HmacSha256Tag80,
            KeyId(7),
            &BASE,
        )
        .0;
        assert!(!text.contains(&format!("{:?}", &key[..4])), "{text}");
        assert!(!text.to_lowercase().contains(&hex_prefix(&key)));
    }

    fn hex_prefix(b: &[u8]) -> String {
        b[..4].iter().map(|x| format!("{x:02x}")).collect()
    }
}
