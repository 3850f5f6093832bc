//! The tables: every figure of every step, the ratios sotto/Janus and
//! sotto/relay pair by pair, and the largest N that holds per workload.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use crate::harness::{Figures, Options, Step, Target};
use crate::stats;

/// The run so far.
pub struct Run {
    machine: Value,
    load_start: Option<[f64; 3]>,
    rows: Vec<(Step, Target, Figures)>,
}

fn machine(server_core: Option<usize>) -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    json!({
        "nproc": stats::count_processors(&read("/proc/cpuinfo")),
        "cpu_model": stats::parse_cpu_model(&read("/proc/cpuinfo")),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "server_core": server_core,
        "started_unix_s": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.digits$}"))
}

impl Run {
    /// A run on this machine.
    pub fn start(server_core: Option<usize>) -> Run {
        Run {
            machine: machine(server_core),
            load_start: stats::load_average(),
            rows: Vec::new(),
        }
    }

    /// A step's figures.
    pub fn add(&mut self, step: &Step, target: Target, figures: Figures) {
        self.rows.push((step.clone(), target, figures));
    }

    fn find(&self, workload: &str, n: usize, target: Target) -> Option<&Figures> {
        self.rows
            .iter()
            .find(|(s, t, _)| s.workload == workload && s.n == n && *t == target)
            .map(|(_, _, f)| f)
    }

    /// Writes `results.json` and `results.md` in `out`.
    pub fn finish(&self, out: &Path, targets: &[Target], opts: &Options) -> Result<()> {
        std::fs::create_dir_all(out)?;
        let load_end = stats::load_average();
        let mut steps: Vec<(&'static str, usize)> = Vec::new();
        for (s, _, _) in &self.rows {
            if !steps.contains(&(s.workload, s.n)) {
                steps.push((s.workload, s.n));
            }
        }
        let cpu = |w, n, t| self.find(w, n, t).and_then(Figures::cpu_us_per_packet);
        let p99 = |w, n, t| self.find(w, n, t).and_then(|f| f.p99_us.map(f64::from));
        let mut ratios = Vec::new();
        for &(w, n) in &steps {
            let mut r = json!({"workload": w, "n": n});
            for (name, other) in [
                ("janus", Target::Janus),
                ("relay", Target::Relay),
                ("relay_aes", Target::RelayAes),
            ] {
                r[format!("cpu_per_packet_sotto_over_{name}")] =
                    json!(ratio(cpu(w, n, Target::Sotto), cpu(w, n, other)));
                r[format!("p99_sotto_over_{name}")] =
                    json!(ratio(p99(w, n, Target::Sotto), p99(w, n, other)));
            }
            ratios.push(r);
        }
        let mut largest = Vec::new();
        for w in ["W1", "W2", "W3"] {
            for &t in targets {
                let ns: Vec<usize> = steps
                    .iter()
                    .filter(|(sw, _)| *sw == w)
                    .map(|(_, n)| *n)
                    .collect();
                if ns.is_empty() {
                    continue;
                }
                let best = ns
                    .iter()
                    .filter(|&&n| self.find(w, n, t).is_some_and(Figures::holds))
                    .max()
                    .copied();
                largest.push(json!({"workload": w, "target": t.name(), "largest_n_holding": best, "tried": ns}));
            }
        }
        let json = json!({
            "machine": self.machine,
            "load_average_start": self.load_start,
            "load_average_end": load_end,
            "step_s": opts.step.as_secs_f64(),
            "warmup_s": opts.warmup.as_secs_f64(),
            "steps": self.rows.iter().map(|(s, t, f)| {
                let mut v = f.to_json();
                v["workload"] = json!(s.workload);
                v["n"] = json!(s.n);
                v["target"] = json!(t.name());
                v
            }).collect::<Vec<_>>(),
            "ratios": ratios,
            "largest_n": largest,
        });
        std::fs::write(
            out.join("results.json"),
            serde_json::to_string_pretty(&json)?,
        )?;

        let mut md = String::new();
        let m = &self.machine;
        writeln!(md, "# sotto-bench results\n")?;
        writeln!(
            md,
            "Machine: {} × {}, kernel {}. Server pinned to core {}, load on the others. \
             Load average (1, 5, 15 min) at start {}, at end {} (the machine is shared: other builds ran meanwhile).\n",
            m["nproc"],
            m["cpu_model"].as_str().unwrap_or("?"),
            m["kernel"].as_str().unwrap_or("?"),
            m["server_core"],
            show_load(self.load_start),
            show_load(load_end)
        )?;
        writeln!(
            md,
            "Each step: every stream up (or {} s), {} s warm-up, {} s measured. \
             CPU = server process user+system time (/proc/PID/stat) per packet delivered to a subscriber. \
             Latency = receive minus send time of packets sent in the window (same clock, one process), \
             including the load generator's own queuing. Loss = 1 − distinct packets received / sent, after NACK. \
             PLI = keyframe requests that reached publishers during the window.\n",
            opts.setup_limit.as_secs(),
            opts.warmup.as_secs_f64(),
            opts.step.as_secs_f64()
        )?;
        writeln!(md, "## Every step\n")?;
        writeln!(
            md,
            "| workload | N | target | streams | delivered/s | server CPU % | load CPU % | CPU µs/pkt | p50 µs | p99 µs | p99.9 µs | loss % | PLI | RSS MB | holds | note |"
        )?;
        writeln!(
            md,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        )?;
        for (s, t, f) in &self.rows {
            writeln!(
                md,
                "| {} | {} | {} | {}/{} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} | {} | {:.1} | {} | {} |",
                s.workload,
                s.n,
                t.name(),
                f.flowing.0,
                f.flowing.1,
                f.delivered as f64 / f.secs.max(1e-9),
                f.cpu_s * 100.0 / f.secs.max(1e-9),
                f.load_cpu_s * 100.0 / f.secs.max(1e-9),
                fmt(f.cpu_us_per_packet(), 2),
                fmt(f.p50_us.map(f64::from), 0),
                fmt(f.p99_us.map(f64::from), 0),
                fmt(f.p999_us.map(f64::from), 0),
                f.loss() * 100.0,
                f.plis,
                f.rss_kb as f64 / 1024.0,
                if f.holds() { "yes" } else { "no" },
                f.note.replace('|', "/")
            )?;
        }
        writeln!(md, "\n## Ratios (same run, step by step)\n")?;
        writeln!(
            md,
            "| workload | N | CPU/pkt sotto÷Janus | CPU/pkt sotto÷relay | CPU/pkt sotto÷relay-aes | p99 sotto÷Janus | p99 sotto÷relay-aes |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|")?;
        for r in &ratios {
            let g = |k: &str| fmt(r[k].as_f64(), 2);
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r["workload"].as_str().unwrap_or(""),
                r["n"],
                g("cpu_per_packet_sotto_over_janus"),
                g("cpu_per_packet_sotto_over_relay"),
                g("cpu_per_packet_sotto_over_relay_aes"),
                g("p99_sotto_over_janus"),
                g("p99_sotto_over_relay_aes")
            )?;
        }
        writeln!(md, "\n## Largest N holding loss < 1 % and p99 < 50 ms\n")?;
        writeln!(md, "| workload | target | largest N | tried |")?;
        writeln!(md, "|---|---|---|---|")?;
        for l in &largest {
            writeln!(
                md,
                "| {} | {} | {} | {} |",
                l["workload"].as_str().unwrap_or(""),
                l["target"].as_str().unwrap_or(""),
                l["largest_n_holding"]
                    .as_u64()
                    .map_or("none".to_owned(), |n| n.to_string()),
                l["tried"]
            )?;
        }
        std::fs::write(out.join("results.md"), md)?;
        Ok(())
    }
}

/// Load averages as `1.00 / 2.00 / 3.00`, or `unknown`.
fn show_load(l: Option<[f64; 3]>) -> String {
    match l {
        Some([a, b, c]) => format!("{a:.2} / {b:.2} / {c:.2}"),
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(3.0), Some(1.5)), Some(2.0));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(fmt(None, 2), "–");
        assert_eq!(fmt(Some(1.234), 1), "1.2");
    }
}
