//! Anti-replay for one KID, after RFC 3711 §3.3.2 with the SFrame CTR as
//! the index (RFC 9605 §9.3).
//!
//! The window remembers the highest counter accepted and which of the
//! [`REPLAY_WINDOW`] counters below it were seen. A counter is checked
//! before decryption and recorded only after the frame authenticated, so a
//! forged frame cannot move the window.

use super::{Counter, Error, KeyId};

/// How many counters below the highest accepted one are still accepted
/// once. At 30 video frames per second this tolerates four seconds of
/// reordering, far more than a jitter buffer holds.
pub const REPLAY_WINDOW: u64 = 128;

/// The replay state of one KID.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// Highest counter accepted so far, if any.
    highest: Option<u64>,
    /// Bit `i` set: counter `highest - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// A window that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `ctr` may still be accepted; does not record it.
    pub fn check(&self, kid: KeyId, ctr: Counter) -> Result<(), Error> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if ctr.0 > highest {
            return Ok(());
        }
        let age = highest - ctr.0;
        if age >= REPLAY_WINDOW {
            return Err(Error::TooOld { kid, ctr });
        }
        if self.seen & (1u128 << age) != 0 {
            return Err(Error::Replay { kid, ctr });
        }
        Ok(())
    }

    /// Records `ctr` as accepted. Call only after [`check`](Self::check)
    /// passed and the frame authenticated.
    pub fn accept(&mut self, ctr: Counter) {
        match self.highest {
            None => {
                self.highest = Some(ctr.0);
                self.seen = 1;
            }
            Some(highest) if ctr.0 > highest => {
                let shift = ctr.0 - highest;
                self.seen = if shift >= REPLAY_WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.highest = Some(ctr.0);
            }
            Some(highest) => {
                let age = highest - ctr.0;
                if age < REPLAY_WINDOW {
                    self.seen |= 1u128 << age;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: KeyId = KeyId(1);

    fn take(w: &mut ReplayWindow, ctr: u64) -> Result<(), Error> {
        w.check(K, Counter(ctr))?;
        w.accept(Counter(ctr));
        Ok(())
    }

    #[test]
    fn in_order_counters_pass_once() {
        let mut w = ReplayWindow::new();
        for c in 0..1000 {
            take(&mut w, c).expect("fresh counter");
        }
        for c in 900..1000 {
            assert_eq!(
                take(&mut w, c),
                Err(Error::Replay {
                    kid: K,
                    ctr: Counter(c)
                })
            );
        }
    }

    #[test]
    fn reordering_within_the_window_is_accepted_once() {
        let mut w = ReplayWindow::new();
        take(&mut w, 200).expect("first");
        for c in (200 - REPLAY_WINDOW + 1..200).rev() {
            take(&mut w, c).expect("late but inside the window");
            assert!(take(&mut w, c).is_err());
        }
        assert_eq!(
            take(&mut w, 200 - REPLAY_WINDOW),
            Err(Error::TooOld {
                kid: K,
                ctr: Counter(200 - REPLAY_WINDOW)
            })
        );
    }

    #[test]
    fn a_jump_forward_forgets_the_old_bitmap() {
        let mut w = ReplayWindow::new();
        take(&mut w, 5).expect("first");
        take(&mut w, 5 + 10_000).expect("jump");
        assert!(matches!(take(&mut w, 5), Err(Error::TooOld { .. })));
        take(&mut w, 10_000).expect("inside the new window");
    }

    #[test]
    fn checking_does_not_record() {
        let mut w = ReplayWindow::new();
        w.check(K, Counter(3)).expect("fresh");
        w.check(K, Counter(3)).expect("still fresh: never accepted");
        take(&mut w, 3).expect("accepted now");
        assert!(w.check(K, Counter(3)).is_err());
    }

    #[test]
    fn the_largest_counter_is_handled() {
        let mut w = ReplayWindow::new();
        take(&mut w, u64::MAX).expect("max");
        assert!(take(&mut w, u64::MAX).is_err());
        take(&mut w, u64::MAX - 1).expect("one below");
    }
}
