//! The ICE-TCP port (RFC 6544, RFC 4571 framing) against what a stranger
//! can send it: more connections than one address may hold, frames of a
//! length nothing WebRTC sends, frames of noise. The first two are closed,
//! noise is dropped; none stops the port from serving the next
//! connection. (Connections silent for 30 s are closed too; that timer is
//! not waited for here.)

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sotto_server::media::MediaStats;
use sotto_server::sfu::{Sfu, SfuConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn sfu() -> (Sfu, Arc<MediaStats>) {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let config = SfuConfig {
        udp_bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        tcp_port: Some(0),
        ..SfuConfig::default()
    };
    let stats = Arc::new(MediaStats::default());
    (Sfu::start(config, tx, Arc::clone(&stats)).unwrap(), stats)
}

/// Whether the server closed `s` within `within` (a read returns 0 or an
/// error); false if it is still open then.
async fn closed(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 16];
    match tokio::time::timeout(within, s.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => false,
    }
}

#[tokio::test]
async fn over_the_limit_and_bad_frames_are_closed_and_the_port_recovers() {
    let (sfu, stats) = sfu();
    let addr = sfu.tcp_addr().expect("a TCP port");
    // Eight from one address are held open...
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    for s in &mut held {
        assert!(
            !closed(s, Duration::from_millis(100)).await,
            "one of the first eight was closed"
        );
    }
    // ...the ninth is not.
    let mut ninth = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed(&mut ninth, Duration::from_secs(2)).await,
        "a ninth connection from one address stayed open"
    );
    // Counted for /metrics: one refused, eight open.
    assert_eq!(stats.tcp_refused.load(Ordering::Relaxed), 1);
    assert_eq!(stats.tcp_connections.load(Ordering::Relaxed), 8);
    // A frame longer than a datagram, and an empty one, end their connection.
    let mut long = held.pop().unwrap();
    long.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    assert!(
        closed(&mut long, Duration::from_secs(2)).await,
        "an oversize frame was accepted"
    );
    let mut empty = held.pop().unwrap();
    empty.write_all(&[0, 0]).await.unwrap();
    assert!(
        closed(&mut empty, Duration::from_secs(2)).await,
        "an empty frame was accepted"
    );
    // Frames that are no STUN/DTLS/SRTP of a member are dropped, and the
    // connection may go on (it costs the server nothing kept).
    let mut noise = held.pop().unwrap();
    noise
        .write_all(&[0, 4, 0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap();
    assert!(!closed(&mut noise, Duration::from_millis(200)).await);
    // The closed ones made room: a new connection is held again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(addr).await.unwrap();
    assert!(
        !closed(&mut again, Duration::from_millis(300)).await,
        "the port did not recover its room"
    );
    sfu.shutdown();
}
