//! The raw UDP relay: the floor any SFU on this machine stands on. It
//! copies each media datagram to every subscriber of its publisher, with
//! one plain `recv_from`/`send_to` per packet and copy (no batching), and
//! optionally AES-128-GCM per copy (decrypt once, encrypt per subscriber),
//! which is what an SFU's SRTP re-encryption costs at the least.
//!
//! Wire format (all our own, not RTP):
//! - subscribe: `0x02`, publisher (u16 BE);
//! - media: `0x01`, publisher (u16 BE), nonce (12 bytes), payload
//!   (AES-GCM ciphertext and tag when encrypted).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};

/// Datagram type: media.
pub const MEDIA: u8 = 0x01;
/// Datagram type: subscribe to a publisher.
pub const SUBSCRIBE: u8 = 0x02;
/// Bytes before the payload of a media datagram.
pub const MEDIA_HEADER: usize = 1 + 2 + 12;
/// The key every hop uses (a benchmark: the cost matters, not the secret).
pub const KEY: [u8; 16] = *b"sotto-bench-key!";

/// Seals `payload` for the relay's wire: header, then the payload,
/// encrypted under `cipher` with `nonce` when given.
pub fn seal(
    cipher: Option<&Aes128Gcm>,
    publisher: u16,
    nonce: [u8; 12],
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut d = Vec::with_capacity(MEDIA_HEADER + payload.len() + 16);
    d.push(MEDIA);
    d.extend_from_slice(&publisher.to_be_bytes());
    d.extend_from_slice(&nonce);
    let mut body = payload.to_vec();
    if let Some(c) = cipher {
        c.encrypt_in_place(Nonce::from_slice(&nonce), b"", &mut body)
            .ok()?;
    }
    d.extend_from_slice(&body);
    Some(d)
}

/// Opens a media datagram: the payload (decrypted when `cipher` is given),
/// or `None` if it is not one or does not authenticate.
pub fn open(cipher: Option<&Aes128Gcm>, d: &[u8]) -> Option<Vec<u8>> {
    if d.len() < MEDIA_HEADER || d[0] != MEDIA {
        return None;
    }
    let mut body = d[MEDIA_HEADER..].to_vec();
    if let Some(c) = cipher {
        c.decrypt_in_place(Nonce::from_slice(&d[3..MEDIA_HEADER]), b"", &mut body)
            .ok()?;
    }
    Some(body)
}

/// The cipher of every hop.
pub fn cipher() -> Aes128Gcm {
    Aes128Gcm::new(&KEY.into())
}

/// Runs the relay on `socket` until the process is killed.
pub fn run(socket: UdpSocket, aes: bool) -> std::io::Result<()> {
    let cipher = aes.then(cipher);
    let mut subscribers: HashMap<u16, Vec<SocketAddr>> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut counter: u64 = 0;
    loop {
        let (len, from) = socket.recv_from(&mut buf)?;
        let d = &buf[..len];
        match d.first() {
            Some(&SUBSCRIBE) if len >= 3 => {
                let publisher = u16::from_be_bytes([d[1], d[2]]);
                let list = subscribers.entry(publisher).or_default();
                if !list.contains(&from) {
                    list.push(from);
                }
            }
            Some(&MEDIA) if len >= MEDIA_HEADER => {
                let publisher = u16::from_be_bytes([d[1], d[2]]);
                let Some(list) = subscribers.get(&publisher) else {
                    continue;
                };
                match &cipher {
                    None => {
                        for to in list {
                            // A full socket buffer drops, as a kernel would.
                            let _ = socket.send_to(d, to);
                        }
                    }
                    Some(c) => {
                        // Decrypt once, encrypt per copy with a fresh nonce.
                        let Some(plain) = open(Some(c), d) else {
                            continue;
                        };
                        for to in list {
                            counter += 1;
                            let mut nonce = [0u8; 12];
                            nonce[4..].copy_from_slice(&counter.to_be_bytes());
                            if let Some(out) = seal(Some(c), publisher, nonce, &plain) {
                                let _ = socket.send_to(&out, to);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_media_opens_and_tampering_is_caught() {
        let c = cipher();
        let d = seal(Some(&c), 3, [7; 12], b"hello").expect("seal");
        assert_eq!(u16::from_be_bytes([d[1], d[2]]), 3);
        assert_eq!(open(Some(&c), &d).as_deref(), Some(&b"hello"[..]));
        let mut bad = d.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(open(Some(&c), &bad), None);
        let plain = seal(None, 3, [0; 12], b"hi").expect("seal");
        assert_eq!(open(None, &plain).as_deref(), Some(&b"hi"[..]));
        assert_eq!(open(None, &[SUBSCRIBE, 0, 3]), None);
    }

    #[test]
    fn the_relay_copies_to_each_subscriber() {
        let relay = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = relay.local_addr().expect("addr");
        std::thread::spawn(move || run(relay, true));
        let timeout = Some(std::time::Duration::from_secs(2));
        let subs: Vec<UdpSocket> = (0..2)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
                s.set_read_timeout(timeout).expect("timeout");
                s.send_to(&[SUBSCRIBE, 0, 9], addr).expect("subscribe");
                s
            })
            .collect();
        let c = cipher();
        let publisher = UdpSocket::bind("127.0.0.1:0").expect("bind");
        // The subscriptions and the media may race: retry a few times.
        let mut got = vec![None, None];
        for attempt in 0..20u8 {
            let d = seal(Some(&c), 9, [attempt; 12], b"frame").expect("seal");
            publisher.send_to(&d, addr).expect("send");
            for (i, s) in subs.iter().enumerate() {
                let mut buf = [0u8; 256];
                s.set_read_timeout(Some(std::time::Duration::from_millis(100)))
                    .expect("timeout");
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    got[i] = open(Some(&c), &buf[..n]);
                }
            }
            if got.iter().all(Option::is_some) {
                break;
            }
        }
        assert_eq!(got, vec![Some(b"frame".to_vec()), Some(b"frame".to_vec())]);
    }
}
