//! A rough measure of the media thread's CPU time per forwarded packet:
//! one publisher, several subscribers, on loopback. Ignored by default
//! (it takes ~10 s and means something only in release builds):
//!
//! ```text
//! cargo test --release -p sotto-server --test sfu_cpu -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used, missing_docs)]

// Not every helper is used by every test crate that includes them.
#[allow(dead_code)]
#[path = "support/peers.rs"]
mod peers;

use std::sync::atomic::Ordering;
use std::time::Duration;

use peers::{Harness, Source};

/// CPU time (user + system) of this process's thread named `name`, from
/// /proc (Linux only).
fn thread_cpu(name: &str) -> Option<Duration> {
    let tick = 100.0; // USER_HZ on Linux
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).ok()?;
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        return Some(Duration::from_secs_f64((utime + stime) / tick));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check; run in release"]
async fn cpu_per_forwarded_packet() {
    const SUBSCRIBERS: usize = 5;
    let mut h = Harness::start().await;
    let alice = h.join("alice0000000000a").await;
    alice
        .publish_every(&mut h, &[Source::Camera], Duration::from_millis(1))
        .await;
    let mut subs = Vec::new();
    for i in 0..SUBSCRIBERS {
        subs.push(h.join(&format!("sub{i:013}")).await);
    }
    h.wait_until(Duration::from_secs(20), "all subscribers receive", || {
        subs.iter()
            .all(|s| s.received_from("alice0000000000a", Source::Camera) > 50)
    })
    .await;
    let stats = h.stats();
    let (cpu0, fwd0) = (
        thread_cpu("sotto-media").unwrap(),
        stats.forwarded_packets.load(Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu1, fwd1) = (
        thread_cpu("sotto-media").unwrap(),
        stats.forwarded_packets.load(Ordering::Relaxed),
    );
    let forwarded = fwd1 - fwd0;
    let cpu = cpu1 - cpu0;
    println!(
        "forwarded {forwarded} packets in 5 s ({} /s) to {SUBSCRIBERS} subscribers; media thread CPU {:?} = {:.1} µs per forwarded packet",
        forwarded / 5,
        cpu,
        cpu.as_secs_f64() * 1e6 / forwarded.max(1) as f64
    );
    assert!(forwarded > 0);
    h.stop().await;
}
