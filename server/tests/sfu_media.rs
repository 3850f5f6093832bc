//! Real WebRTC peers (webrtc-rs, async) publishing and subscribing through
//! the SFU on 127.0.0.1. The test plays signalling: it calls the
//! `MediaPlane` API and routes `MediaEvent::Signal` to the peers.
//!
//! Each participant has a `pub` and a `sub` peer connection, as in
//! spec/protocol.md §6. Publishers send RTP whose payloads say who sent
//! which packet, so that subscribers can check every forwarded payload byte
//! for byte against what was sent.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "support/peers.rs"]
mod peers;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use peers::{Harness, Source, expected_payload};

/// Long enough for loopback ICE + DTLS (~1 s) on a busy 2-core machine.
const CONNECT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_receive_payloads_unchanged_and_each_new_one_triggers_a_pli() {
    let mut h = Harness::start().await;
    let alice = h.join("alice0000000000a").await;
    alice.publish(&mut h, &[Source::Mic, Source::Camera]).await;
    let alice_ssrcs = alice.sent_ssrcs();

    // Alice is alone: her packets reach nobody (and are counted as dropped).
    h.wait_until(CONNECT, "alice's pub connects", || alice.pub_connected())
        .await;
    // Until the SFU has seen a packet of her camera it cannot name it in a
    // PLI (and her first frame is a keyframe anyway): wait for some.
    let stats = h.stats();
    h.wait_until(CONNECT, "the SFU drops alice's packets", || {
        stats.dropped_packets.load(Ordering::Relaxed) > 20
    })
    .await;
    let plis_alone = alice.plis(Source::Camera);

    let bob = h.join("bob0000000000000").await;
    h.wait_until(CONNECT, "bob receives alice's camera and mic", || {
        bob.received_from("alice0000000000a", Source::Camera) > 20
            && bob.received_from("alice0000000000a", Source::Mic) > 20
    })
    .await;
    h.wait_until(CONNECT, "bob attaching makes a PLI reach alice", || {
        alice.plis(Source::Camera) > plis_alone
    })
    .await;
    let plis_after_bob = alice.plis(Source::Camera);

    // Byte for byte: every payload bob got is one alice sent, on the track
    // its msid names, on an SSRC the SFU chose.
    let got = bob.received();
    assert!(!got.is_empty());
    for packet in &got {
        assert_eq!(packet.stream, "alice0000000000a");
        let expected = expected_payload("alice0000000000a", packet.source, packet.index());
        assert_eq!(
            packet.payload, expected,
            "payload altered on {:?}",
            packet.source
        );
        assert!(!alice_ssrcs.contains(&packet.ssrc), "SSRC not rewritten");
    }

    // A third member attaching asks again (rate limited to one per 500 ms,
    // but never lost).
    let carol = h.join("carol00000000000").await;
    h.wait_until(CONNECT, "carol receives alice's camera", || {
        carol.received_from("alice0000000000a", Source::Camera) > 10
    })
    .await;
    h.wait_until(
        CONNECT,
        "carol attaching makes another PLI reach alice",
        || alice.plis(Source::Camera) > plis_after_bob,
    )
    .await;
    // Audio is never asked for keyframes.
    assert_eq!(alice.plis(Source::Mic), 0);

    assert!(stats.forwarded_packets.load(Ordering::Relaxed) > 60);
    assert!(stats.forwarded_bytes.load(Ordering::Relaxed) > 60 * 100);
    assert!(h.errors().is_empty(), "unexpected errors: {:?}", h.errors());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribers_pli_reaches_the_publisher() {
    let mut h = Harness::start().await;
    let alice = h.join("alice0000000000a").await;
    alice.publish(&mut h, &[Source::Camera]).await;
    let bob = h.join("bob0000000000000").await;
    h.wait_until(CONNECT, "bob receives alice's camera", || {
        bob.received_from("alice0000000000a", Source::Camera) > 10
    })
    .await;
    // Let the attachment PLI's window pass, then bob asks for a keyframe.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = alice.plis(Source::Camera);
    bob.send_pli("alice0000000000a", Source::Camera).await;
    h.wait_until(CONNECT, "bob's PLI is relayed to alice", || {
        alice.plis(Source::Camera) > before
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaving_renegotiates_the_others_and_its_tracks_stop() {
    let mut h = Harness::start().await;
    let alice = h.join("alice0000000000a").await;
    let bob = h.join("bob0000000000000").await;
    alice.publish(&mut h, &[Source::Mic, Source::Camera]).await;
    bob.publish(&mut h, &[Source::Camera]).await;
    h.wait_until(CONNECT, "both receive each other", || {
        bob.received_from("alice0000000000a", Source::Camera) > 10
            && bob.received_from("alice0000000000a", Source::Mic) > 10
            && alice.received_from("bob0000000000000", Source::Camera) > 10
    })
    .await;
    let offers_before = bob.sub_offers().len();
    assert!(
        bob.sub_offers().last().is_some_and(|o| o.len() == 2),
        "bob's sub carries alice's two tracks"
    );

    h.leave(&alice).await;
    h.wait_until(
        CONNECT,
        "bob gets a new sub offer without alice's tracks",
        || {
            bob.sub_offers().len() > offers_before
                && bob.sub_offers().last().is_some_and(|o| o.is_empty())
        },
    )
    .await;
    // Nothing of alice's arrives any more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = bob.received_from("alice0000000000a", Source::Camera);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        bob.received_from("alice0000000000a", Source::Camera),
        settled
    );
    // Bob's own publishing is undisturbed, and a newcomer gets only bob's.
    let carol = h.join("carol00000000000").await;
    h.wait_until(CONNECT, "carol receives bob's camera", || {
        carol.received_from("bob0000000000000", Source::Camera) > 10
    })
    .await;
    assert_eq!(carol.received_from("alice0000000000a", Source::Camera), 0);
    assert!(carol.sub_offers().iter().all(|o| {
        o.iter()
            .all(|t| t.participant.as_str() == "bob0000000000000")
    }));
    assert!(h.errors().is_empty(), "unexpected errors: {:?}", h.errors());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_media_port_is_counted_and_harmless() {
    let mut h = Harness::start().await;
    let alice = h.join("alice0000000000a").await;
    alice.publish(&mut h, &[Source::Camera]).await;
    let bob = h.join("bob0000000000000").await;
    h.wait_until(CONNECT, "bob receives alice's camera", || {
        bob.received_from("alice0000000000a", Source::Camera) > 10
    })
    .await;
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dropped = h.stats().dropped_packets.load(Ordering::Relaxed);
    let mut datagrams: Vec<Vec<u8>> = (1..=200u32)
        .map(|i| (0..(i % 300)).map(|b| (b * 7 + i) as u8).collect())
        .collect();
    // Junk that looks like each class on the port (RFC 7983: STUN, DTLS,
    // RTP/RTCP), STUN Binding requests naming no peer connection or lying
    // about their length, and datagrams up to the largest UDP allows.
    let stun = |body: &[u8], declared: u16| {
        let mut d = vec![0x00, 0x01];
        d.extend_from_slice(&declared.to_be_bytes());
        d.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        d.extend_from_slice(&[7; 12]);
        d.extend_from_slice(body);
        d
    };
    datagrams.push(stun(b"\x00\x06\x00\x09nobody:me\0\0\0", 16));
    datagrams.push(stun(b"\x00\x06\xff\xffshort", 9));
    datagrams.push(stun(b"", 0xFFFF));
    for first in [0x01, 0x16, 0x17, 0x80, 0x90, 0xC8, 0xBF] {
        for len in [1, 12, 13, 1200, 1500] {
            let mut d: Vec<u8> = (0..len).map(|b| (b * 13 + first) as u8).collect();
            d[0] = first as u8;
            datagrams.push(d);
        }
    }
    // In small bursts: a socket's receive buffer is charged a whole
    // buffer per datagram, however short, so a burst of a few hundred can
    // overflow it and the kernel, not the SFU, would drop some.
    for (n, d) in datagrams.iter().enumerate() {
        junk.send_to(d, h.sfu_addr()).unwrap();
        if n % 16 == 15 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let mut sent = datagrams.len() as u64;
    // Paced, so that the kernel's receive buffer does not drop any before
    // the SFU sees them (it reads 2048 bytes; the rest is cut off).
    for len in [2047, 2048, 2049, 9000, 65_507] {
        let d: Vec<u8> = (0..len).map(|b| (b % 251) as u8 | 0x80).collect();
        junk.send_to(&d, h.sfu_addr()).unwrap();
        sent += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let counted = || h.stats().dropped_packets.load(Ordering::Relaxed) - dropped;
    let waited = tokio::time::timeout(CONNECT, async {
        while counted() < sent {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{} of {sent} junk datagrams counted as dropped",
        counted()
    );
    let before = bob.received_from("alice0000000000a", Source::Camera);
    h.wait_until(CONNECT, "media keeps flowing", || {
        bob.received_from("alice0000000000a", Source::Camera) > before + 20
    })
    .await;
    let _ = Arc::clone(&bob);
    h.stop().await;
}
