//! Rate limits of one connection (spec §2), on time given as input.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts dropped messages in a sliding window: a connection that keeps
/// flooding after being told is closed.
#[derive(Debug, Clone)]
pub struct FloodMeter {
    drops: VecDeque<Instant>,
    limit: usize,
    window: Duration,
}

impl FloodMeter {
    /// Trips at `limit` drops within `window`.
    pub fn new(limit: usize, window: Duration) -> FloodMeter {
        FloodMeter {
            drops: VecDeque::with_capacity(limit),
            limit,
            window,
        }
    }

    /// Records a dropped message; true once `limit` drops fall within the
    /// window.
    pub fn dropped(&mut self, now: Instant) -> bool {
        while self
            .drops
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.drops.pop_front();
        }
        self.drops.push_back(now);
        self.drops.len() >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(20, 40, t0);
        assert_eq!((0..100).filter(|_| bucket.try_take(t0)).count(), 40);
        // 20 per second: one every 50 ms.
        assert!(!bucket.try_take(t0 + Duration::from_millis(40)));
        assert!(bucket.try_take(t0 + Duration::from_millis(50)));
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..100).filter(|_| bucket.try_take(later)).count(), 40);
    }

    #[test]
    fn fifty_drops_within_ten_seconds_trip_the_meter() {
        let t0 = Instant::now();
        let mut meter = FloodMeter::new(50, Duration::from_secs(10));
        for i in 0..49 {
            assert!(!meter.dropped(t0 + Duration::from_millis(i * 100)));
        }
        assert!(meter.dropped(t0 + Duration::from_millis(4900)));

        let mut slow = FloodMeter::new(50, Duration::from_secs(10));
        for i in 0..200 {
            // One drop every 250 ms: 40 per window, never 50.
            assert!(!slow.dropped(t0 + Duration::from_millis(i * 250)));
        }
    }
}
