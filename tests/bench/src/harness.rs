//! The workloads, run against each target, and the figures of each step.
//!
//! (Over 600 lines on purpose: the three workloads and the figures of a
//! step share the step runner; each workload is a screenful.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use webrtc::runtime::Runtime;

use crate::media::{Kind, Recorder, TrackCounters};
use crate::{janus, peer, relay, sotto, stats};

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// sotto-server.
    Sotto,
    /// Janus VideoRoom.
    Janus,
    /// The raw relay, copies only.
    Relay,
    /// The raw relay with AES-128-GCM per copy.
    RelayAes,
}

impl Target {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Target::Sotto => "sotto",
            Target::Janus => "janus",
            Target::Relay => "relay",
            Target::RelayAes => "relay-aes",
        }
    }

    /// The target named `s`.
    pub fn parse(s: &str) -> Option<Target> {
        [
            Target::Sotto,
            Target::Janus,
            Target::Relay,
            Target::RelayAes,
        ]
        .into_iter()
        .find(|t| t.name() == s)
    }
}

/// One step of a workload.
#[derive(Debug, Clone)]
pub struct Step {
    /// W1, W2 or W3.
    pub workload: &'static str,
    /// The step's N.
    pub n: usize,
    /// Participants that publish (indices 0..publishers).
    pub publishers: usize,
    /// Participants that only subscribe.
    pub listeners: usize,
    /// Tracks of each publisher.
    pub kinds: Vec<Kind>,
    /// Whether publishers also receive each other.
    pub publishers_subscribe: bool,
}

impl Step {
    /// W1: one publisher (audio and video) to `n` subscribers.
    pub fn w1(n: usize) -> Step {
        Step {
            workload: "W1",
            n,
            publishers: 1,
            listeners: n,
            kinds: vec![Kind::Audio, Kind::Video],
            publishers_subscribe: false,
        }
    }
    /// W2: `n` participants, all to all.
    pub fn w2(n: usize) -> Step {
        Step {
            workload: "W2",
            n,
            publishers: n,
            listeners: 0,
            kinds: vec![Kind::Audio, Kind::Video],
            publishers_subscribe: true,
        }
    }
    /// W3: 10 speakers (audio only, hearing each other) to `n` listeners.
    pub fn w3(n: usize) -> Step {
        Step {
            workload: "W3",
            n,
            publishers: 10,
            listeners: n,
            kinds: vec![Kind::Audio],
            publishers_subscribe: true,
        }
    }

    /// Every (subscriber, publisher, track) that should flow.
    pub fn pairs(&self) -> Vec<(u32, u16, Kind)> {
        let total = self.publishers + self.listeners;
        let mut pairs = Vec::new();
        for s in 0..total {
            if s < self.publishers && !self.publishers_subscribe {
                continue;
            }
            for p in 0..self.publishers {
                if p == s {
                    continue;
                }
                for &k in &self.kinds {
                    pairs.push((s as u32, p as u16, k));
                }
            }
        }
        pairs
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measured seconds per step.
    pub step: Duration,
    /// Warm-up after every stream flows.
    pub warmup: Duration,
    /// Longest wait for every stream to flow.
    pub setup_limit: Duration,
    /// The sotto-server binary.
    pub sotto_server: PathBuf,
    /// This binary (runs the relay).
    pub this_exe: PathBuf,
    /// The core the server runs on, and the core of the load (None: no pinning).
    pub server_core: Option<usize>,
}

/// The figures of one step against one target.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Streams (subscriber, publisher, track) flowing before the measure / expected.
    pub flowing: (usize, usize),
    /// Packets delivered (distinct) in the window.
    pub delivered: u64,
    /// Packets that should have been delivered in the window.
    pub expected: u64,
    /// CPU seconds of the load generator (this process) in the window.
    pub load_cpu_s: f64,
    /// Window length, s.
    pub secs: f64,
    /// CPU seconds of the server process in the window.
    pub cpu_s: f64,
    /// Latency percentiles, µs.
    pub p50_us: Option<u32>,
    /// 99th.
    pub p99_us: Option<u32>,
    /// 99.9th.
    pub p999_us: Option<u32>,
    /// Keyframe requests reaching publishers in the window.
    pub plis: u32,
    /// Resident memory at the end of the window, and its peak, kB.
    pub rss_kb: u64,
    /// Peak.
    pub hwm_kb: u64,
    /// Duplicates received.
    pub duplicates: u64,
    /// What went wrong, if anything.
    pub note: String,
}

impl Figures {
    /// 1 - delivered/expected.
    pub fn loss(&self) -> f64 {
        if self.expected == 0 {
            return 1.0;
        }
        1.0 - self.delivered as f64 / self.expected as f64
    }
    /// Server CPU µs per delivered packet.
    pub fn cpu_us_per_packet(&self) -> Option<f64> {
        (self.delivered > 0).then(|| self.cpu_s * 1e6 / self.delivered as f64)
    }
    /// Whether the step holds loss < 1% and p99 < 50 ms with every stream up.
    pub fn holds(&self) -> bool {
        self.flowing.0 == self.flowing.1
            && self.loss() < 0.01
            && self.p99_us.is_some_and(|p| p < 50_000)
    }
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "streams_flowing": self.flowing.0, "streams_expected": self.flowing.1,
            "delivered": self.delivered, "expected": self.expected,
            "delivered_per_s": self.delivered as f64 / self.secs.max(1e-9),
            "window_s": self.secs, "cpu_s": self.cpu_s, "load_cpu_s": self.load_cpu_s,
            "cpu_us_per_packet": self.cpu_us_per_packet(),
            "latency_p50_us": self.p50_us, "latency_p99_us": self.p99_us, "latency_p999_us": self.p999_us,
            "loss": self.loss(), "plis": self.plis,
            "rss_kb": self.rss_kb, "rss_peak_kb": self.hwm_kb,
            "duplicates": self.duplicates, "holds": self.holds(), "note": self.note,
        })
    }
}

/// A free port on 127.0.0.1 (TCP or UDP), for a server to bind next.
fn free_port(udp: bool) -> Result<u16> {
    Ok(if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    })
}

/// A server process, pinned to a core when asked.
pub struct Server {
    child: Child,
    /// Its pid.
    pub pid: u32,
}

impl Server {
    /// Starts `program args`, on `core` if given.
    pub fn spawn(
        program: &std::path::Path,
        args: &[String],
        core: Option<usize>,
    ) -> Result<Server> {
        let mut cmd = match core {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("no pid")?;
        Ok(Server { child, pid })
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Waits until something accepts TCP connections on `addr`.
async fn wait_tcp(addr: SocketAddr, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on {addr}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Everything a running step holds.
struct Running {
    server: Server,
    tracks: Vec<(u16, Kind, Arc<TrackCounters>)>,
    teardown: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    note: String,
}

/// Runs `step` against `target`.
pub async fn run_step(
    target: Target,
    step: &Step,
    opts: &Options,
    runtime: &Arc<dyn Runtime>,
) -> Figures {
    let recorder = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let pairs = step.pairs();
    let started = match target {
        Target::Sotto => start_sotto(step, opts, &recorder, &stop, runtime).await,
        Target::Janus => janus::start(step, opts, &recorder, &stop, runtime)
            .await
            .map(|(server, tracks, teardown, note)| Running {
                server,
                tracks,
                teardown,
                note,
            }),
        Target::Relay | Target::RelayAes => {
            start_relay(step, opts, target == Target::RelayAes, &recorder, &stop).await
        }
    };
    let mut running = match started {
        Ok(r) => r,
        Err(e) => {
            stop.store(true, Ordering::SeqCst);
            return Figures {
                flowing: (0, pairs.len()),
                note: format!("setup failed: {e:#}"),
                ..Figures::default()
            };
        }
    };
    // Every stream flowing, or the setup limit.
    let deadline = Instant::now() + opts.setup_limit;
    let flowing = |r: &Recorder| pairs.iter().filter(|&&(s, p, k)| r.has(s, p, k)).count();
    while flowing(&recorder) < pairs.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let up = flowing(&recorder);
    tokio::time::sleep(opts.warmup).await;

    // The window.
    let seq_of = |tracks: &[(u16, Kind, Arc<TrackCounters>)]| -> Vec<(u32, u32)> {
        tracks
            .iter()
            .map(|(_, _, c)| (c.sent.load(Ordering::SeqCst), c.plis.load(Ordering::SeqCst)))
            .collect()
    };
    let pid = running.server.pid;
    let cpu0 = stats::process_cpu(pid);
    let load0 = stats::process_cpu(std::process::id());
    let at0 = seq_of(&running.tracks);
    let t0 = Instant::now();
    recorder.open_window();
    tokio::time::sleep(opts.step).await;
    recorder.close_window();
    let at1 = seq_of(&running.tracks);
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = stats::process_cpu(pid);
    let load_cpu_s = match (load0, stats::process_cpu(std::process::id())) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    };
    let (rss_kb, hwm_kb) = stats::process_memory(pid).unwrap_or((0, 0));
    // Let retransmissions of the window's last packets arrive (sending
    // goes on, so that receivers notice the gaps and NACK).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cpu_s = match (cpu0, cpu1) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => {
            running.note.push_str(" server gone during the window;");
            0.0
        }
    };
    stop.store(true, Ordering::SeqCst);

    let mut expected = 0u64;
    let mut delivered = 0u64;
    for &(s, p, k) in &pairs {
        let Some(i) = running
            .tracks
            .iter()
            .position(|(tp, tk, _)| *tp == p && *tk == k)
        else {
            continue;
        };
        let range = (at0[i].0, at1[i].0);
        expected += u64::from(range.1 - range.0);
        delivered += recorder.count(s, p, k, range);
    }
    let plis: u32 = at0.iter().zip(&at1).map(|(a, b)| b.1 - a.1).sum();
    let (mut lat, duplicates) = recorder.take_latencies();
    let figures = Figures {
        flowing: (up, pairs.len()),
        delivered,
        expected,
        secs,
        cpu_s,
        load_cpu_s,
        p50_us: stats::percentile(&mut lat, 0.5),
        p99_us: stats::percentile(&mut lat, 0.99),
        p999_us: stats::percentile(&mut lat, 0.999),
        plis,
        rss_kb,
        hwm_kb,
        duplicates,
        note: running.note.trim().to_owned(),
    };
    let teardown = std::mem::take(&mut running.teardown);
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        futures_util::future::join_all(teardown),
    )
    .await;
    running.server.stop().await;
    figures
}

async fn start_sotto(
    step: &Step,
    opts: &Options,
    recorder: &Arc<Recorder>,
    stop: &Arc<AtomicBool>,
    runtime: &Arc<dyn Runtime>,
) -> Result<Running> {
    let http = free_port(false)?;
    let udp = free_port(true)?;
    let args: Vec<String> = [
        "--listen",
        &format!("127.0.0.1:{http}"),
        "--udp-port",
        &udp.to_string(),
        "--public-ip",
        "127.0.0.1",
        "--max-participants",
        "1000",
        "--messages-per-second",
        "1000",
        "--log",
        "error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = Server::spawn(&opts.sotto_server, &args, opts.server_core)?;
    let http_addr: SocketAddr = ([127, 0, 0, 1], http).into();
    wait_tcp(http_addr, Duration::from_secs(10)).await?;
    let url = format!("ws://{http_addr}/ws");
    let total = step.publishers + step.listeners;
    let mut people = Vec::with_capacity(total);
    for i in 0..total {
        people.push(
            sotto::Participant::join(
                &url,
                "bench-room-1",
                i as u32,
                recorder.clone(),
                runtime.clone(),
            )
            .await?,
        );
        if i == 0 {
            // The creator first, so that it admits the others.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !people[0].is_member() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !people.iter().all(|p| p.is_member()) {
        if Instant::now() > deadline {
            bail!(
                "{} of {total} participants admitted",
                people.iter().filter(|p| p.is_member()).count()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tracks = Vec::new();
    for p in people.iter_mut().take(step.publishers) {
        p.publish(&step.kinds, recorder.clone(), runtime.clone())
            .await?;
        for t in &p.tracks {
            peer::start_sending(runtime, t, p.index as u16, recorder.clone(), stop.clone());
            tracks.push((p.index as u16, t.kind, t.counters.clone()));
        }
    }
    let teardown = people
        .into_iter()
        .map(|p| {
            Box::pin(p.close()) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        })
        .collect();
    Ok(Running {
        server,
        tracks,
        teardown,
        note: String::new(),
    })
}

async fn start_relay(
    step: &Step,
    opts: &Options,
    aes: bool,
    recorder: &Arc<Recorder>,
    stop: &Arc<AtomicBool>,
) -> Result<Running> {
    let port = free_port(true)?;
    let mut args = vec!["relay".to_owned(), "--port".to_owned(), port.to_string()];
    if aes {
        args.push("--aes".to_owned());
    }
    let server = Server::spawn(&opts.this_exe, &args, opts.server_core)?;
    let relay_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cipher = aes.then(relay::cipher).map(Arc::new);
    let total = step.publishers + step.listeners;
    let mut tasks = Vec::new();
    // Subscribers first, so that they hear from the first packet.
    for s in 0..total {
        if s < step.publishers && !step.publishers_subscribe {
            continue;
        }
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let subscribe: Vec<[u8; 3]> = (0..step.publishers)
            .filter(|&p| p != s)
            .map(|p| {
                let p = (p as u16).to_be_bytes();
                [relay::SUBSCRIBE, p[0], p[1]]
            })
            .collect();
        let (recorder, cipher, stop) = (recorder.clone(), cipher.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            // Subscribe until media flows (the relay may not be up yet;
            // subscribing twice is harmless).
            let mut flowing = false;
            while !stop.load(Ordering::Relaxed) {
                if !flowing {
                    for d in &subscribe {
                        let _ = socket.send_to(d, relay_addr).await;
                    }
                }
                let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut buf)).await
                else {
                    continue;
                };
                flowing = true;
                if let Some(payload) = relay::open(cipher.as_deref(), &buf[..n]) {
                    recorder.received(s as u32, &payload);
                }
            }
        }));
    }
    let mut tracks = Vec::new();
    for p in 0..step.publishers {
        for (i, &kind) in step.kinds.iter().enumerate() {
            let counters = Arc::new(TrackCounters::default());
            tracks.push((p as u16, kind, counters.clone()));
            let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await?);
            let (recorder, cipher, stop) = (recorder.clone(), cipher.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut counter: u64 = 0;
                peer::run_schedule(
                    kind,
                    p as u16,
                    counters,
                    recorder,
                    stop,
                    move |payload, _, _| {
                        counter += 1;
                        let mut nonce = [0u8; 12];
                        nonce[0] = i as u8;
                        nonce[1..3].copy_from_slice(&(p as u16).to_be_bytes());
                        nonce[4..].copy_from_slice(&counter.to_be_bytes());
                        let d = relay::seal(cipher.as_deref(), p as u16, nonce, &payload);
                        let socket = socket.clone();
                        async move {
                            match d {
                                Some(d) => socket.send_to(&d, relay_addr).await.is_ok(),
                                None => false,
                            }
                        }
                    },
                )
                .await;
            }));
        }
    }
    let teardown = tasks
        .into_iter()
        .map(|t| {
            Box::pin(async move {
                let _ = t.await;
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        })
        .collect();
    Ok(Running {
        server,
        tracks,
        teardown,
        note: "no NACK/PLI (plain UDP)".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_follow_the_workloads() {
        // W1: the publisher hears nobody; each subscriber gets 2 tracks.
        assert_eq!(Step::w1(10).pairs().len(), 20);
        // W2: everyone hears the N-1 others' 2 tracks.
        assert_eq!(Step::w2(4).pairs().len(), 4 * 3 * 2);
        // W3: 10 speakers hear 9; listeners hear 10; audio only.
        let w3 = Step::w3(20).pairs();
        assert_eq!(w3.len(), 10 * 9 + 20 * 10);
        assert!(
            w3.iter()
                .all(|&(s, p, k)| k == Kind::Audio && s != u32::from(p))
        );
    }

    #[test]
    fn a_step_holds_only_with_low_loss_low_latency_and_every_stream() {
        let ok = Figures {
            flowing: (4, 4),
            delivered: 995,
            expected: 1000,
            p99_us: Some(49_999),
            ..Figures::default()
        };
        assert!(ok.holds());
        assert!((ok.loss() - 0.005).abs() < 1e-9);
        assert!(
            !Figures {
                delivered: 989,
                ..ok.clone()
            }
            .holds()
        );
        assert!(
            !Figures {
                p99_us: Some(50_000),
                ..ok.clone()
            }
            .holds()
        );
        assert!(
            !Figures {
                p99_us: None,
                ..ok.clone()
            }
            .holds()
        );
        assert!(
            !Figures {
                flowing: (3, 4),
                ..ok.clone()
            }
            .holds()
        );
        assert_eq!(Figures::default().loss(), 1.0);
        assert_eq!(Target::parse("relay-aes"), Some(Target::RelayAes));
        assert_eq!(Target::parse("nope"), None);
    }
}
