//! `/metrics` in the Prometheus text exposition format (version 0.0.4),
//! written by hand: a handful of counters does not need a library.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use sotto_proto::ErrorCode;

use crate::media::MediaStats;

/// Counters signalling keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    errors: [AtomicU64; ErrorCode::ALL.len()],
}

/// Gauges read from the rooms at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomCounts {
    /// Live rooms.
    pub rooms: usize,
    /// MLS members in all rooms.
    pub members: usize,
    /// Waiting participants in all rooms.
    pub waiting: usize,
}

impl Metrics {
    /// Counts one `error` sent with `code`.
    pub fn count_error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many `error`s with `code` were sent.
    pub fn errors(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.errors[i].load(Ordering::Relaxed))
    }

    /// The exposition text.
    pub fn render(&self, rooms: RoomCounts, media: &MediaStats) -> String {
        let mut out = String::with_capacity(2048);
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        family(
            "sotto_rooms",
            "gauge",
            "Rooms with at least one participant.",
            &[("", rooms.rooms as u64)],
        );
        family(
            "sotto_participants",
            "gauge",
            "Participants, by whether they are MLS members or waiting.",
            &[
                ("{state=\"member\"}", rooms.members as u64),
                ("{state=\"waiting\"}", rooms.waiting as u64),
            ],
        );
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        family(
            "sotto_forwarded_packets_total",
            "counter",
            "RTP packets the SFU forwarded to subscribers.",
            &[("", load(&media.forwarded_packets))],
        );
        family(
            "sotto_forwarded_bytes_total",
            "counter",
            "Bytes of RTP the SFU forwarded to subscribers.",
            &[("", load(&media.forwarded_bytes))],
        );
        family(
            "sotto_dropped_packets_total",
            "counter",
            "Packets the SFU received and did not forward.",
            &[("", load(&media.dropped_packets))],
        );
        family(
            "sotto_media_failures_total",
            "counter",
            "Members whose peer connections failed and started over (media_failed).",
            &[("", load(&media.media_failures))],
        );
        family(
            "sotto_ice_tcp_connections",
            "gauge",
            "ICE-TCP connections open now.",
            &[("", load(&media.tcp_connections))],
        );
        family(
            "sotto_ice_tcp_refused_total",
            "counter",
            "ICE-TCP connections closed at once for being over a limit.",
            &[("", load(&media.tcp_refused))],
        );
        let f = &media.feedback;
        family(
            "sotto_rtcp_feedback_total",
            "counter",
            "RTCP loss and keyframe feedback the SFU received and sent.",
            &[
                (
                    "{kind=\"nack\",direction=\"received\"}",
                    load(&f.nacks_received),
                ),
                ("{kind=\"nack\",direction=\"sent\"}", load(&f.nacks_sent)),
                (
                    "{kind=\"keyframe_request\",direction=\"received\"}",
                    load(&f.keyframe_requests_received),
                ),
                (
                    "{kind=\"keyframe_request\",direction=\"sent\"}",
                    load(&f.keyframe_requests_sent),
                ),
            ],
        );
        let labels: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| format!("{{code=\"{}\"}}", c.as_str()))
            .collect();
        let samples: Vec<(&str, u64)> = labels
            .iter()
            .zip(&self.errors)
            .map(|(l, n)| (l.as_str(), load(n)))
            .collect();
        family(
            "sotto_signalling_errors_total",
            "counter",
            "Signalling error messages sent, by code.",
            &samples,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_a_line_and_counts() {
        let metrics = Metrics::default();
        metrics.count_error(ErrorCode::StaleEpoch);
        metrics.count_error(ErrorCode::StaleEpoch);
        metrics.count_error(ErrorCode::Unknown);
        let text = metrics.render(
            RoomCounts {
                rooms: 1,
                members: 2,
                waiting: 3,
            },
            &MediaStats::default(),
        );
        assert!(text.contains("sotto_signalling_errors_total{code=\"stale_epoch\"} 2\n"));
        for code in ErrorCode::ALL {
            assert!(text.contains(&format!("{{code=\"{}\"}}", code.as_str())));
        }
        assert!(text.contains("sotto_participants{state=\"waiting\"} 3\n"));
        assert!(text.contains("# TYPE sotto_rooms gauge\nsotto_rooms 1\n"));
        assert!(text.contains("sotto_rtcp_feedback_total{kind=\"nack\",direction=\"sent\"} 0\n"));
    }
}
