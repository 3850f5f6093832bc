//! Rate limiting of keyframe requests sent upstream.
//!
//! A PLI or FIR from any subscriber, and a new subscriber attaching to a
//! video track, make the server ask the publisher for a keyframe, at most
//! once per track every 500 ms (spec/protocol.md §6). A request that falls
//! inside the window is not lost: one PLI goes out when the window ends, so
//! a subscriber that attached just after another still gets its keyframe.

use std::time::{Duration, Instant};

/// Shortest time between two PLIs for one track (spec/protocol.md §6).
pub(crate) const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Keyframe requests for one published track.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyframeLimiter {
    last_sent: Option<Instant>,
    pending: bool,
}

impl KeyframeLimiter {
    /// Someone wants a keyframe. True if a PLI should go upstream now;
    /// otherwise one is due at [`Self::poll_timeout`].
    pub(crate) fn request(&mut self, now: Instant) -> bool {
        match self.last_sent {
            Some(last) if now < last + KEYFRAME_INTERVAL => {
                self.pending = true;
                false
            }
            _ => {
                self.last_sent = Some(now);
                self.pending = false;
                true
            }
        }
    }

    /// When a deferred request is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match (self.pending, self.last_sent) {
            (true, Some(last)) => Some(last + KEYFRAME_INTERVAL),
            _ => None,
        }
    }

    /// True if a deferred request is due at `now` (it is then sent).
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.poll_timeout().is_some_and(|due| due <= now) {
            self.last_sent = Some(now);
            self.pending = false;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_pli_per_interval() {
        let t0 = Instant::now();
        let mut limiter = KeyframeLimiter::default();
        assert!(limiter.request(t0));
        assert_eq!(limiter.poll_timeout(), None);
        // A burst of requests (ten subscribers asking at once) is one PLI now…
        let sent_in_window = (1..10u64)
            .filter(|i| limiter.request(t0 + Duration::from_millis(i * 10)))
            .count();
        assert_eq!(sent_in_window, 0);
        // …and one more when the window ends, not ten.
        let due = limiter.poll_timeout();
        assert_eq!(due, Some(t0 + KEYFRAME_INTERVAL));
        assert!(!limiter.handle_timeout(t0 + Duration::from_millis(499)));
        assert!(limiter.handle_timeout(t0 + KEYFRAME_INTERVAL));
        assert!(!limiter.handle_timeout(t0 + KEYFRAME_INTERVAL));
        assert_eq!(limiter.poll_timeout(), None);
    }

    #[test]
    fn requests_spaced_out_all_go_through() {
        let t0 = Instant::now();
        let mut limiter = KeyframeLimiter::default();
        for i in 0..5u32 {
            assert!(limiter.request(t0 + KEYFRAME_INTERVAL * i));
        }
        assert_eq!(limiter.poll_timeout(), None);
    }

    #[test]
    fn deferred_request_restarts_the_window() {
        let t0 = Instant::now();
        let mut limiter = KeyframeLimiter::default();
        assert!(limiter.request(t0));
        assert!(!limiter.request(t0 + Duration::from_millis(100)));
        let t1 = t0 + KEYFRAME_INTERVAL;
        assert!(limiter.handle_timeout(t1));
        assert!(!limiter.request(t1 + Duration::from_millis(100)));
        assert_eq!(limiter.poll_timeout(), Some(t1 + KEYFRAME_INTERVAL));
    }
}
