//! `sotto-bench`: sotto's SFU side by side with Janus VideoRoom and a raw
//! UDP relay, under the same load, in one run (see README.md there).
//!
//! ```text
//! cargo build --release -p sotto-server -p sotto-bench
//! target/release/sotto-bench --out bench-results/
//! ```
//!
//! `sotto-bench relay --port P [--aes]` is the raw relay the harness starts.

mod harness;
mod janus;
mod media;
mod peer;
mod relay;
mod report;
mod sotto;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use harness::{Options, Step, Target};

const USAGE: &str = "usage: sotto-bench [--out DIR] [--step-secs S] [--warmup-secs S]
                   [--targets sotto,janus,relay,relay-aes] [--workloads W1,W2,W3]
                   [--w1 1,10,50,100,200] [--w2 4,8,16,24] [--w3 10,50,100]
                   [--sotto-server PATH] [--no-pin]
       sotto-bench relay --port PORT [--aes]";

fn list(v: &str) -> Result<Vec<usize>> {
    v.split(',')
        .map(|n| {
            n.trim()
                .parse()
                .with_context(|| format!("not a number: {n}"))
        })
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("relay") {
        let mut port = None;
        let mut aes = false;
        let mut it = args[1..].iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--port" => port = it.next().and_then(|p| p.parse::<u16>().ok()),
                "--aes" => aes = true,
                _ => bail!("{USAGE}"),
            }
        }
        let socket = std::net::UdpSocket::bind(("127.0.0.1", port.context("--port")?))?;
        relay::run(socket, aes)?;
        return Ok(());
    }

    let mut out = PathBuf::from("bench-results");
    let mut step = 10.0;
    let mut warmup = 2.0;
    let mut targets = vec![
        Target::Sotto,
        Target::Janus,
        Target::Relay,
        Target::RelayAes,
    ];
    let mut workloads = vec!["W1".to_owned(), "W2".to_owned(), "W3".to_owned()];
    let mut w1 = vec![1, 10, 50, 100, 200];
    let mut w2 = vec![4, 8, 16, 24];
    let mut w3 = vec![10, 50, 100];
    let exe = std::env::current_exe()?;
    let mut sotto_server = exe.with_file_name("sotto-server");
    let mut pin = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().context(USAGE);
        match a.as_str() {
            "--out" => out = value()?.into(),
            "--step-secs" => step = value()?.parse()?,
            "--warmup-secs" => warmup = value()?.parse()?,
            "--targets" => {
                targets = value()?
                    .split(',')
                    .map(|t| Target::parse(t.trim()).with_context(|| format!("unknown target {t}")))
                    .collect::<Result<_>>()?
            }
            "--workloads" => {
                workloads = value()?
                    .split(',')
                    .map(|w| w.trim().to_uppercase())
                    .collect()
            }
            "--w1" => w1 = list(&value()?)?,
            "--w2" => w2 = list(&value()?)?,
            "--w3" => w3 = list(&value()?)?,
            "--sotto-server" => sotto_server = value()?.into(),
            "--no-pin" => pin = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if targets.contains(&Target::Sotto) && !sotto_server.exists() {
        bail!(
            "{} not found: cargo build --release -p sotto-server (or --sotto-server PATH)",
            sotto_server.display()
        );
    }
    if targets.contains(&Target::Janus) && !std::path::Path::new(janus::JANUS).exists() {
        eprintln!("Janus not installed (apt-get install -y janus): skipping it");
        targets.retain(|t| *t != Target::Janus);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The server on core 0, the load on the others (before any thread starts,
    // so that every thread of this process inherits it).
    let server_core = (pin && cores >= 2).then_some(0);
    if server_core.is_some() {
        let load = format!("1-{}", cores - 1);
        let ok = std::process::Command::new("taskset")
            .args(["-p", "-c", &load, &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("taskset failed: the load is not pinned");
        }
    }
    let mut steps = Vec::new();
    for w in &workloads {
        match w.as_str() {
            "W1" => steps.extend(w1.iter().map(|&n| Step::w1(n))),
            "W2" => steps.extend(w2.iter().map(|&n| Step::w2(n))),
            "W3" => steps.extend(w3.iter().map(|&n| Step::w3(n))),
            other => bail!("unknown workload {other}"),
        }
    }
    let opts = Options {
        step: Duration::from_secs_f64(step),
        warmup: Duration::from_secs_f64(warmup),
        setup_limit: Duration::from_secs(40),
        sotto_server,
        this_exe: exe,
        server_core,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.saturating_sub(1).max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let runtime: Arc<dyn webrtc::runtime::Runtime> =
            webrtc::runtime::default_runtime().context("no webrtc runtime")?;
        let mut run = report::Run::start(server_core);
        for s in &steps {
            for &t in &targets {
                eprintln!("{} N={} {} ...", s.workload, s.n, t.name());
                let f = harness::run_step(t, s, &opts, &runtime).await;
                eprintln!(
                    "  streams {}/{} delivered {}/{} ({:.0}/s) cpu {:.2}s (load {:.2}s) = {} µs/pkt p50/p99/p99.9 {:?}/{:?}/{:?} µs loss {:.3}% plis {} rss {} kB {}",
                    f.flowing.0, f.flowing.1, f.delivered, f.expected,
                    f.delivered as f64 / f.secs.max(1e-9), f.cpu_s, f.load_cpu_s,
                    f.cpu_us_per_packet().map_or("-".into(), |c| format!("{c:.2}")),
                    f.p50_us, f.p99_us, f.p999_us, f.loss() * 100.0, f.plis, f.rss_kb, f.note
                );
                run.add(s, t, f);
                // Let sockets and processes of the step go.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        run.finish(&out, &targets, &opts)?;
        eprintln!("wrote {}", out.display());
        Ok::<(), anyhow::Error>(())
    })
}
