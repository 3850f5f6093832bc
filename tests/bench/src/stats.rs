//! Figures: percentiles of latency samples and a process's CPU time and
//! memory from /proc (Linux).

use std::time::Duration;

/// The `q` quantile (0..=1) of `samples` by the nearest-rank method;
/// `None` when there are no samples. Sorts `samples`.
pub fn percentile(samples: &mut [u32], q: f64) -> Option<u32> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let q = q.clamp(0.0, 1.0);
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    let rank = (q * samples.len() as f64).ceil() as usize;
    Some(samples[rank.clamp(1, samples.len()) - 1])
}

/// USER_HZ: the unit of /proc's CPU times on Linux (fixed at 100 by the
/// kernel's ABI for user space).
pub const USER_HZ: f64 = 100.0;

/// User + system CPU time from the text of `/proc/<pid>/stat`.
pub fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: split after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15); index 0 is field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) as f64 / USER_HZ))
}

/// A `kB` field (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in kB.
pub fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// CPU time of process `pid`, children not included.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    parse_stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Resident and peak resident memory of process `pid`, in kB.
pub fn process_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        parse_status_kb(&status, "VmRSS")?,
        parse_status_kb(&status, "VmHWM")?,
    ))
}

/// The 1-, 5- and 15-minute load averages from `/proc/loadavg`.
pub fn load_average() -> Option<[f64; 3]> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// The three load averages of the text of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// `model name` of the first processor in the text of `/proc/cpuinfo`.
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// Processors listed in the text of `/proc/cpuinfo` (all of the machine's,
/// unlike `available_parallelism`, which this process's pinning limits).
pub fn count_processors(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 0.5), Some(50));
        assert_eq!(percentile(&mut v, 0.99), Some(99));
        assert_eq!(percentile(&mut v, 0.999), Some(100));
        assert_eq!(percentile(&mut v, 0.0), Some(1));
        assert_eq!(percentile(&mut v, 1.0), Some(100));
        let mut one = vec![7];
        assert_eq!(percentile(&mut one, 0.999), Some(7));
        assert_eq!(percentile(&mut [], 0.5), None);
        let mut ten: Vec<u32> = (0..10).collect();
        // 0.91 * 10 = 9.1 → rank 10 → the largest.
        assert_eq!(percentile(&mut ten, 0.91), Some(9));
        assert_eq!(percentile(&mut ten, 0.9), Some(8));
    }

    #[test]
    fn stat_cpu_survives_odd_command_names() {
        // Fields from a real /proc/<pid>/stat; the name holds ") (" and spaces.
        let stat = "4242 (sotto (x) srv) S 1 4242 4242 0 -1 4194560 3059 0 0 0 250 75 0 0 20 0 6 0 12345 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 4096 17032 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_millis(3250)));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert_eq!(parse_stat_cpu("1 (x) S 1 2"), None);
    }

    #[test]
    fn status_and_loadavg_and_cpuinfo_parse() {
        let status = "Name:\tsotto-server\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        assert_eq!(
            parse_loadavg("6.89 4.23 4.00 3/812 12345\n"),
            Some([6.89, 4.23, 4.0])
        );
        assert_eq!(parse_loadavg("1.0 x"), None);
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(count_processors(cpuinfo), 2);
        assert_eq!(
            parse_cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        assert!(process_cpu(pid).is_some());
        let (rss, hwm) = process_memory(pid).expect("status of self");
        assert!(rss > 0 && hwm >= rss);
    }
}
