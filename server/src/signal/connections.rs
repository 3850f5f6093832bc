//! How many signalling WebSockets are open, in all and per client address
//! (spec §2), so that one host cannot take every connection, task and
//! outbox the server has.
//!
//! A connection holds an [`OpenSlot`] for its whole life; dropping it frees
//! the place. Addresses are counted as clients are: an IPv4 address, or an
//! IPv6 /64 (one subscriber's prefix, RFC 6177, in which a host picks
//! addresses at will). Loopback peers are not counted per address: on this
//! host they are a reverse proxy (whose every client would share the one
//! address) or the operator. Behind a proxy on another host, raise the
//! per-address limit or set it to 0 (off).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The server has as many connections as it allows.
    #[error("the server has its maximum of {0} connections")]
    Total(usize),
    /// The client's address has as many as it may.
    #[error("this address has its maximum of {0} connections")]
    PerAddress(usize),
}

/// The open connections. Limits of 0 are off.
#[derive(Debug)]
pub struct Connections {
    max_total: usize,
    max_per_address: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<AddressKey, usize>,
}

/// What is counted per address: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddressKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl AddressKey {
    /// `None` for loopback, which is not counted per address.
    fn of(ip: IpAddr) -> Option<AddressKey> {
        let ip = ip.to_canonical();
        if ip.is_loopback() {
            return None;
        }
        Some(match ip {
            IpAddr::V4(v4) => AddressKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut prefix = [0; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                AddressKey::V6Prefix(prefix)
            }
        })
    }
}

/// A place among the open connections, given back on drop.
#[derive(Debug)]
pub struct OpenSlot {
    connections: Arc<Connections>,
    key: Option<AddressKey>,
}

impl Connections {
    /// At most `max_total` connections, `max_per_address` from one
    /// address; 0 is no limit.
    pub fn new(max_total: usize, max_per_address: usize) -> Connections {
        Connections {
            max_total,
            max_per_address,
            counts: Mutex::default(),
        }
    }

    /// Takes a place for a connection from `ip`, or says why there is none.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Result<OpenSlot, Refused> {
        let key = AddressKey::of(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if self.max_total != 0 && counts.total >= self.max_total {
            return Err(Refused::Total(self.max_total));
        }
        if let Some(key) = key {
            let from_here = counts.by_address.get(&key).copied().unwrap_or(0);
            if self.max_per_address != 0 && from_here >= self.max_per_address {
                return Err(Refused::PerAddress(self.max_per_address));
            }
            counts.by_address.insert(key, from_here + 1);
        }
        counts.total += 1;
        Ok(OpenSlot {
            connections: self.clone(),
            key,
        })
    }

    /// Open connections, in all.
    pub fn total(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let mut counts = self
            .connections
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(key) = self.key
            && let Some(n) = counts.by_address.get_mut(&key)
        {
            *n -= 1;
            if *n == 0 {
                // Forgotten, so the table holds only addresses now open.
                counts.by_address.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn one_address_gets_its_share_and_no_more() {
        let connections = Arc::new(Connections::new(100, 2));
        let a1 = connections.open(ip("192.0.2.1")).expect("first");
        let _a2 = connections.open(ip("192.0.2.1")).expect("second");
        assert_eq!(
            connections.open(ip("192.0.2.1")).map(drop),
            Err(Refused::PerAddress(2))
        );
        // Others are not affected, and a closed connection frees its place.
        let _b = connections
            .open(ip("198.51.100.7"))
            .expect("another address");
        drop(a1);
        let _a3 = connections.open(ip("192.0.2.1")).expect("a freed place");
        assert_eq!(connections.total(), 3);
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let connections = Arc::new(Connections::new(0, 1));
        let _a = connections.open(ip("2001:db8:1:2::1")).expect("first");
        assert_eq!(
            connections.open(ip("2001:db8:1:2:ffff::9")).map(drop),
            Err(Refused::PerAddress(1)),
            "the same /64"
        );
        let _b = connections
            .open(ip("2001:db8:1:3::1"))
            .expect("another /64");
        let _c = connections.open(ip("203.0.113.5")).expect("v4");
        assert_eq!(
            connections.open(ip("::ffff:203.0.113.5")).map(drop),
            Err(Refused::PerAddress(1))
        );
    }

    #[test]
    fn the_total_is_bounded_and_loopback_is_counted_only_in_it() {
        let connections = Arc::new(Connections::new(3, 1));
        let slots: Vec<OpenSlot> = ["127.0.0.1", "127.0.0.1", "::1"]
            .into_iter()
            .map(|a| connections.open(ip(a)).expect("loopback"))
            .collect();
        assert_eq!(
            connections.open(ip("192.0.2.1")).map(drop),
            Err(Refused::Total(3))
        );
        drop(slots);
        assert_eq!(connections.total(), 0);
        assert!(connections.open(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn zero_is_no_limit() {
        let connections = Arc::new(Connections::new(0, 0));
        let slots: Vec<OpenSlot> = (0..1000)
            .map(|_| connections.open(ip("192.0.2.1")).expect("unlimited"))
            .collect();
        assert_eq!(connections.total(), slots.len());
    }
}
