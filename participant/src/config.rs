//! The core's settings and timing, and the reconnect backoff.

use std::time::Duration;

use sotto_crypto::session::SessionConfig;

/// What to do when someone without the link knocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnockPolicy {
    /// Report it ([`Event::Knock`](crate::Event::Knock)) and wait for the
    /// person's decision. The only policy for a person.
    Ask,
    /// Let every knocker in, unseen. For bots only: whoever the server
    /// sends in gets in, so the server could add itself.
    AcceptAllBotOnly,
    /// Refuse every knocker.
    Refuse,
}

/// How a participant behaves; every duration is measured on the clock the
/// driver passes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// MLS timing (commit batching, verdicts, self-updates).
    pub session: SessionConfig,
    /// What to do with knocks.
    pub knocks: KnockPolicy,
    /// Join again as a new participant when a connection ends.
    pub reconnect: bool,
    /// End with [`EndReason::Unreachable`](crate::EndReason::Unreachable)
    /// when the server cannot be reached before we ever got into the room
    /// (the command line); otherwise keep trying (a browser tab).
    pub give_up_if_unreachable: bool,
    /// How long the server has to answer `join`.
    pub join_timeout: Duration,
    /// How long a joiner with the link waits for its Welcome before it
    /// joins again (members commit a tagged join within seconds; a server
    /// that withholds the Welcome must not keep us waiting for ever).
    pub welcome_timeout: Duration,
    /// How long a member that saw a commit for a later epoch waits for the
    /// commits it missed before it joins again (MLS cannot skip one).
    pub catch_up_grace: Duration,
    /// How long a member the server reported gone may stay in the group
    /// before [`Event::RemovalOverdue`](crate::Event::RemovalOverdue).
    pub removal_grace: Duration,
    /// First delay before joining again (spec §4.5).
    pub backoff_start: Duration,
    /// Longest delay.
    pub backoff_max: Duration,
    /// Seeds the backoff's jitter (the core reads no random source).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session: SessionConfig::default(),
            knocks: KnockPolicy::Ask,
            reconnect: true,
            give_up_if_unreachable: false,
            join_timeout: Duration::from_secs(10),
            welcome_timeout: Duration::from_secs(30),
            catch_up_grace: Duration::from_millis(1500),
            removal_grace: Duration::from_secs(6),
            backoff_start: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            seed: 0x5077_0000_0000_0001,
        }
    }
}

/// Exponential backoff with ±25 % jitter (spec §4.5), so that a room that
/// lost its server does not come back all at once.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    start: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(config: &Config) -> Backoff {
        Backoff {
            start: config.backoff_start,
            max: config.backoff_max,
            next: config.backoff_start,
            // xorshift must not start at 0.
            rng: config.seed | 1,
        }
    }

    /// The next delay; the one after it doubles, up to the maximum.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        let unit = r as f64 / (1u64 << 53) as f64;
        let delay = self.next.mul_f64(0.75 + unit / 2.0);
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// After a success (we became a member): start small again.
    pub(crate) fn reset(&mut self) {
        self.next = self.start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_up_to_the_maximum_and_reset() {
        let mut b = Backoff::new(&Config::default());
        let mut bases = Vec::new();
        for _ in 0..8 {
            let d = b.next_delay().as_secs_f64();
            bases.push(d);
        }
        let expected = [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0];
        for (d, e) in bases.iter().zip(expected) {
            assert!(*d >= e * 0.75 && *d <= e * 1.25, "{d} for {e}");
        }
        b.reset();
        let d = b.next_delay().as_secs_f64();
        assert!((0.375..=0.625).contains(&d), "{d}");
    }
}
