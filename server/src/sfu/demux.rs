//! Which peer connection a datagram on the shared UDP port belongs to.
//!
//! Every peer connection of the server listens on the same socket
//! (spec/protocol.md §6). A client's first datagrams are ICE connectivity
//! checks: STUN Binding requests whose USERNAME is `<our ufrag>:<its ufrag>`
//! (RFC 8445 §7.2.2), and the server chose a distinct ufrag for each of its
//! peer connections. So the first contact is routed by ufrag, and the source
//! address it came from is remembered; DTLS, SRTP and SRTCP then arrive from
//! that address and carry no ufrag, so they are routed by address.
//!
//! Pure: no sockets, no clock. Anything that routes nowhere is dropped by the
//! caller and counted.

use std::collections::HashMap;
use std::net::SocketAddr;

/// STUN's magic cookie (RFC 5389 §6).
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// Method Binding, class Request (RFC 5389 §6, §18.1).
const BINDING_REQUEST: [u8; 2] = [0x00, 0x01];
/// Attribute USERNAME (RFC 5389 §15.3).
const ATTR_USERNAME: u16 = 0x0006;
/// A STUN header's length.
const STUN_HEADER: usize = 20;

/// What the first byte of a datagram says it is (RFC 7983 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// STUN (first byte 0..=3).
    Stun,
    /// DTLS (20..=63).
    Dtls,
    /// RTP or RTCP (128..=191).
    Rtp,
}

/// Classifies `datagram` by its first byte, or `None` for anything a WebRTC
/// peer never sends on this port (including an empty datagram).
pub(crate) fn classify(datagram: &[u8]) -> Option<Kind> {
    match datagram.first()? {
        0..=3 => Some(Kind::Stun),
        20..=63 => Some(Kind::Dtls),
        128..=191 => Some(Kind::Rtp),
        _ => None,
    }
}

/// The recipient's ufrag in a STUN Binding request: the part of USERNAME
/// before the colon. `None` for anything else, however malformed. Does not
/// allocate.
pub(crate) fn binding_request_ufrag(datagram: &[u8]) -> Option<&[u8]> {
    if datagram.len() < STUN_HEADER
        || datagram[0..2] != BINDING_REQUEST
        || datagram[4..8] != MAGIC_COOKIE
    {
        return None;
    }
    let declared = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram.get(STUN_HEADER..STUN_HEADER + declared)?;
    let mut rest = body;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?;
        if kind == ATTR_USERNAME {
            let colon = value.iter().position(|&b| b == b':')?;
            return Some(&value[..colon]);
        }
        // Attribute values are padded to a multiple of four (RFC 5389 §15).
        let padded = (len + 3) & !3;
        rest = rest.get(4 + padded..)?;
    }
    None
}

/// Why a datagram was not routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unrouted {
    /// Not STUN, DTLS, RTP or RTCP.
    Garbage,
    /// From an address no peer connection has been reached from, and not a
    /// Binding request naming one of our ufrags.
    Stranger,
}

/// The routing table: ufrag to peer connection, then address to peer
/// connection.
#[derive(Debug)]
pub(crate) struct Demux<K> {
    by_ufrag: HashMap<Box<[u8]>, K>,
    by_addr: HashMap<SocketAddr, K>,
}

impl<K> Default for Demux<K> {
    fn default() -> Self {
        Demux {
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }
}

impl<K: Copy + PartialEq> Demux<K> {
    /// Routes datagrams whose Binding requests name `ufrag` to `key`.
    pub(crate) fn register(&mut self, ufrag: &str, key: K) {
        self.by_ufrag.insert(ufrag.as_bytes().into(), key);
    }

    /// Forgets everything that routes to `key`.
    pub(crate) fn forget(&mut self, key: K) {
        self.by_ufrag.retain(|_, k| *k != key);
        self.by_addr.retain(|_, k| *k != key);
    }

    /// Where a datagram from `from` goes. A Binding request naming one of
    /// our ufrags (re)binds `from` to that peer connection, which is also how
    /// a client that changed address (NAT rebinding, a new network) is
    /// followed.
    pub(crate) fn route(&mut self, from: SocketAddr, datagram: &[u8]) -> Result<K, Unrouted> {
        let kind = classify(datagram).ok_or(Unrouted::Garbage)?;
        if kind == Kind::Stun
            && let Some(ufrag) = binding_request_ufrag(datagram)
            && let Some(&key) = self.by_ufrag.get(ufrag)
        {
            if self.by_addr.get(&from) != Some(&key) {
                self.by_addr.insert(from, key);
            }
            return Ok(key);
        }
        self.by_addr.get(&from).copied().ok_or(Unrouted::Stranger)
    }

    /// Number of addresses bound.
    #[cfg(test)]
    pub(crate) fn bound_addresses(&self) -> usize {
        self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Binding request with USERNAME `user` and a few other attributes
    /// around it, as a browser sends.
    fn binding_request(user: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // PRIORITY (4 bytes) before USERNAME, so the walk has to skip one.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        let len = user.len() as u16;
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&len.to_be_bytes());
        attrs.extend_from_slice(user.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&BINDING_REQUEST);
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&MAGIC_COOKIE);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attrs);
        msg
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn ufrag_is_read_from_username() {
        let msg = binding_request("srvfrag1:clientfrag");
        assert_eq!(binding_request_ufrag(&msg), Some(&b"srvfrag1"[..]));
    }

    #[test]
    fn ufrag_parser_refuses_non_requests_and_truncations() {
        let msg = binding_request("a:b");
        for cut in 0..msg.len() {
            assert_eq!(binding_request_ufrag(&msg[..cut]), None, "cut at {cut}");
        }
        let mut response = msg.clone();
        response[0..2].copy_from_slice(&[0x01, 0x01]);
        assert_eq!(binding_request_ufrag(&response), None);
        let mut no_cookie = msg.clone();
        no_cookie[4] = 0;
        assert_eq!(binding_request_ufrag(&no_cookie), None);
        assert_eq!(binding_request_ufrag(&binding_request("nocolon")), None);
    }

    #[test]
    fn first_contact_by_ufrag_then_by_address() {
        let mut demux = Demux::default();
        demux.register("pubfrag", 1u32);
        demux.register("subfrag", 2u32);
        let srtp = [0x80u8, 96, 0, 1];
        // Media before any check: a stranger.
        assert_eq!(demux.route(addr(5000), &srtp), Err(Unrouted::Stranger));
        // The check binds the address, then media follows it.
        assert_eq!(
            demux.route(addr(5000), &binding_request("pubfrag:x")),
            Ok(1)
        );
        assert_eq!(
            demux.route(addr(5001), &binding_request("subfrag:y")),
            Ok(2)
        );
        assert_eq!(demux.route(addr(5000), &srtp), Ok(1));
        assert_eq!(demux.route(addr(5001), &[22u8, 254, 253]), Ok(2));
        // A client that moves is followed once it checks from the new address.
        assert_eq!(
            demux.route(addr(6000), &binding_request("pubfrag:x")),
            Ok(1)
        );
        assert_eq!(demux.route(addr(6000), &srtp), Ok(1));
        // Forgetting a peer connection forgets all its routes.
        demux.forget(1);
        assert_eq!(demux.route(addr(5000), &srtp), Err(Unrouted::Stranger));
        assert_eq!(
            demux.route(addr(6000), &binding_request("pubfrag:x")),
            Err(Unrouted::Stranger)
        );
        assert_eq!(demux.route(addr(5001), &srtp), Ok(2));
    }

    #[test]
    fn unknown_ufrag_does_not_bind() {
        let mut demux = Demux::default();
        demux.register("known", 1u32);
        assert_eq!(
            demux.route(addr(5000), &binding_request("guess:x")),
            Err(Unrouted::Stranger)
        );
        assert_eq!(demux.bound_addresses(), 0);
    }

    #[test]
    fn garbage_is_dropped_without_disturbing_routes() {
        let mut demux = Demux::default();
        demux.register("frag", 1u32);
        assert_eq!(demux.route(addr(5000), &binding_request("frag:x")), Ok(1));
        // Empty, out-of-range first bytes, and random junk from the bound
        // address and from elsewhere.
        let junk: [&[u8]; 5] = [&[], &[4], &[64, 1, 2], &[200; 40], &[0xff; 3]];
        for datagram in junk {
            assert_eq!(demux.route(addr(5000), datagram), Err(Unrouted::Garbage));
            assert_eq!(demux.route(addr(7000), datagram), Err(Unrouted::Garbage));
        }
        // STUN-looking junk from a stranger binds nothing.
        assert_eq!(
            demux.route(addr(7000), &[0, 1, 0, 0]),
            Err(Unrouted::Stranger)
        );
        assert_eq!(demux.route(addr(5000), &[0x80, 0]), Ok(1));
        assert_eq!(demux.bound_addresses(), 1);
    }
}
