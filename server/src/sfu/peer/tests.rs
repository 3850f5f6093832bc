//! The DTLS handshake of the server's (and the members') peer connections
//! under loss and reordering, on a virtual clock: `rtc`'s DTLS endpoint
//! directly, a client and a server, every datagram handed over by the
//! test so that it can drop or delay exactly the ones that matter.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::dtls::config::{ClientAuthType, ConfigBuilder};
use rtc::dtls::crypto::Certificate;
use rtc::dtls::endpoint::{Endpoint, EndpointEvent};
use rtc::shared::TransportProtocol;

const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4444);
const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4445);

/// A client and a server endpoint, configured as a WebRTC DTLS-SRTP
/// association is (certificates both sides, client certificate required).
fn pair(now: Instant) -> (Endpoint, Endpoint) {
    let provider = rtc::crypto::default_provider().expect("a crypto provider");
    let config = |is_client: bool| {
        let cert = Certificate::generate_self_signed(vec!["sotto".to_owned()], provider.crypto())
            .expect("a certificate");
        std::sync::Arc::new(
            ConfigBuilder::default()
                .with_crypto_provider(provider.clone())
                .with_certificates(vec![cert])
                .with_client_auth(ClientAuthType::RequireAnyClientCert)
                .with_insecure_skip_verify(true)
                .build(is_client, None)
                .expect("a DTLS configuration"),
        )
    };
    let server = Endpoint::new(SERVER, TransportProtocol::UDP, Some(config(false)));
    let mut client = Endpoint::new(CLIENT, TransportProtocol::UDP, None);
    client
        .connect(now, SERVER, config(true), None)
        .expect("the client starts its handshake");
    (client, server)
}

/// What `from` has to send, taken.
fn sent(from: &mut Endpoint) -> Vec<BytesMut> {
    std::iter::from_fn(|| from.poll_transmit().map(|t| t.message)).collect()
}

/// Hands `datagrams` to `to` (from `from_addr`) at `now`; whether its
/// handshake completed.
fn deliver(
    to: &mut Endpoint,
    from_addr: SocketAddr,
    now: Instant,
    datagrams: Vec<BytesMut>,
) -> bool {
    let mut done = false;
    for d in datagrams {
        if let Ok(events) = to.read(now, from_addr, None, d) {
            done |= events
                .iter()
                .any(|e| matches!(e, EndpointEvent::HandshakeComplete));
        }
    }
    done
}

/// RFC 6347 §4.2.4: a side waiting for the peer's next flight keeps its
/// retransmission timer until that flight is complete. Here the client's
/// flight 5 is lost and, before the client's timer fires, the server's
/// timer repeats its flight 4. The client must still repeat its flight 5
/// when its own timer fires: the server, which repeats only flight 4, never
/// sends anything that would move the handshake on. (rtc-dtls 0.21.1
/// disarmed the client's timer on the repeated flight 4: neither side sent
/// anything new again, the member's peer connection stayed "connecting"
/// for good while the server gave up on it. vendor/README.md.)
#[test]
fn a_lost_last_flight_is_repeated_although_the_peer_repeated_its_own() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let (mut client, mut server) = pair(t0);
    // ClientHello, HelloVerifyRequest, ClientHello with the cookie: the
    // server sends flight 4 at t0 and arms its timer (1 s).
    deliver(&mut server, CLIENT, t0, sent(&mut client));
    deliver(&mut client, SERVER, t0, sent(&mut server));
    deliver(&mut server, CLIENT, t0, sent(&mut client));
    let flight4 = sent(&mut server);
    assert!(!flight4.is_empty(), "the server sends flight 4");
    // Flight 4 reaches the client 50 ms later; its answer, flight 5 (its
    // timer armed for 1050 ms), is lost.
    deliver(&mut client, SERVER, ms(50), flight4);
    let lost = sent(&mut client);
    assert!(!lost.is_empty(), "the client answers flight 4");
    // The server's timer fires first and repeats flight 4; it reaches the
    // client 10 ms later, before the client's own timer.
    let mut now = ms(1000);
    server
        .handle_timeout(CLIENT, now)
        .expect("the server repeats flight 4");
    let repeated = sent(&mut server);
    assert!(!repeated.is_empty(), "the server repeats flight 4");
    now = ms(1010);
    deliver(&mut client, SERVER, now, repeated);
    // From here on nothing is lost: each side's timers run, for 5 s.
    let (mut client_done, mut server_done) = (false, false);
    let mut steps = 0;
    while !(client_done && server_done) && now < ms(6000) && steps < 1000 {
        steps += 1;
        let next = [client.poll_timeout(&SERVER), server.poll_timeout(&CLIENT)]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        now = now.max(next);
        let _ = client.handle_timeout(SERVER, now);
        let _ = server.handle_timeout(CLIENT, now);
        for _ in 0..4 {
            server_done |= deliver(&mut server, CLIENT, now, sent(&mut client));
            client_done |= deliver(&mut client, SERVER, now, sent(&mut server));
        }
    }
    assert!(
        server_done,
        "the server's handshake never completed: the client did not repeat its lost flight 5"
    );
    assert!(client_done, "the client's handshake never completed");
}
