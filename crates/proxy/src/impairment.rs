//! What the proxy does to each datagram: the [`Impairment`] settings, their validation, and the
//! per-datagram decision drawn from a seeded stream.

use std::time::Duration;

use crate::rng::{below, Rng};
use crate::{Bottleneck, Error};

/// The impairments the proxy applies, the same in both directions.
///
/// Each datagram is, in this order: dropped if it is larger than `mtu`; dropped with
/// probability `loss`; otherwise sent twice with probability `dup`; with a `bottleneck`, each
/// copy waits its turn on the rate-limited link or is dropped if its queue is full; then held
/// for `delay`, plus, with probability `reorder`, an extra random delay of up to
/// [`Impairment::max_reorder_delay`], so that it overtakes or is overtaken by its neighbours. A datagram is never split, merged or cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Probability (0.0 to 1.0) that a datagram is dropped.
    pub loss: f64,
    /// Probability (0.0 to 1.0) that a datagram that was not dropped is sent twice.
    pub dup: f64,
    /// Probability (0.0 to 1.0) that a datagram gets an extra random delay.
    pub reorder: f64,
    /// One-way delay added to every forwarded datagram.
    pub delay: Duration,
    /// A bandwidth limit with a drop-tail queue, one per direction, shared by every client;
    /// none by default.
    pub bottleneck: Option<Bottleneck>,
    /// The largest datagram (UDP payload, bytes) the path carries: larger ones are dropped,
    /// as a tunnel, a VPN or PPPoE drops what it may not fragment, and counted as too large.
    /// Path MTU discovery is what finds this limit. None by default.
    pub mtu: Option<usize>,
    /// The seed of every random decision: the same seed and the same traffic give the same
    /// drops, duplicates and delays. See [`random_seed`](crate::random_seed) for a fresh one.
    pub seed: u64,
}

impl Default for Impairment {
    /// No impairment at all: a plain forwarding proxy.
    fn default() -> Self {
        Self {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            delay: Duration::ZERO,
            bottleneck: None,
            mtu: None,
            seed: 0,
        }
    }
}

/// What becomes of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fate {
    /// 0 (dropped), 1, or 2 (duplicated).
    pub(crate) copies: u8,
    /// How long to hold it before sending; zero sends at once.
    pub(crate) hold: Duration,
    /// Whether `hold` includes an extra reordering delay.
    pub(crate) reordered: bool,
}

impl Impairment {
    /// The longest base delay accepted. Longer is surely a typo (seconds for milliseconds), and
    /// a bound keeps `now + delay` from ever overflowing.
    pub const MAX_DELAY: Duration = Duration::from_secs(60);

    /// A fixed floor for the reordering delay, so that reordering does something even with no
    /// base delay: 20 ms is far above loopback's microseconds and a typical scheduler tick.
    const REORDER_FLOOR: Duration = Duration::from_millis(20);

    /// The longest extra delay a reordered datagram gets: twice the base delay plus 20 ms.
    pub fn max_reorder_delay(&self) -> Duration {
        self.delay
            .saturating_mul(2)
            .saturating_add(Self::REORDER_FLOOR)
    }

    /// Checks that the probabilities are within 0.0..=1.0, the delay within
    /// [`Impairment::MAX_DELAY`], the MTU above zero, and the bottleneck's settings
    /// ([`Bottleneck::validate`]).
    pub fn validate(&self) -> Result<(), Error> {
        for (name, p) in [
            ("loss", self.loss),
            ("dup", self.dup),
            ("reorder", self.reorder),
        ] {
            // `contains` is false for NaN too.
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Setting(format!(
                    "{name} is a probability and must be between 0.0 and 1.0, not {p}"
                )));
            }
        }
        if self.delay > Self::MAX_DELAY {
            return Err(Error::Setting(format!(
                "delay {:?} is longer than the limit of {:?}",
                self.delay,
                Self::MAX_DELAY
            )));
        }
        if self.mtu == Some(0) {
            return Err(Error::Setting(
                "an MTU of 0 bytes would drop every datagram".into(),
            ));
        }
        self.bottleneck
            .as_ref()
            .map_or(Ok(()), Bottleneck::validate)
    }

    /// Decides one datagram's fate from `rng`.
    pub(crate) fn decide(&self, rng: &mut Rng) -> Fate {
        // Four draws per datagram whatever the outcome, so that each decision always uses the
        // same position in the stream: a seed then drops the same datagrams whatever --dup and
        // --reorder are, and comparing runs that differ in one knob stays meaningful.
        let lost = rng.chance(self.loss);
        let doubled = rng.chance(self.dup);
        let reordered = rng.chance(self.reorder);
        let extra_draw = rng.next_u64();
        if lost {
            return Fate {
                copies: 0,
                hold: Duration::ZERO,
                reordered: false,
            };
        }
        let mut hold = self.delay;
        if reordered {
            // From 1 ms (a timer tick, so that the datagram really waits) up to the maximum,
            // which is at least the 20 ms floor.
            let max_us = u64::try_from(self.max_reorder_delay().as_micros()).unwrap_or(u64::MAX);
            hold += Duration::from_micros(1000 + below(extra_draw, max_us - 999));
        }
        Fate {
            copies: if doubled { 2 } else { 1 },
            hold,
            reordered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fates(impairment: &Impairment, n: usize) -> Vec<Fate> {
        let mut rng = Rng::new(impairment.seed);
        (0..n).map(|_| impairment.decide(&mut rng)).collect()
    }

    #[test]
    fn the_default_passes_everything_at_once() {
        let clear = fates(&Impairment::default(), 1000);
        assert!(clear.iter().all(|f| f.copies == 1 && f.hold.is_zero()));
    }

    #[test]
    fn probabilities_are_validated() {
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            let loss = Impairment {
                loss: bad,
                ..Impairment::default()
            };
            let err = loss.validate().expect_err("out of range");
            assert!(err.to_string().contains("loss"), "{err}");
            assert!(Impairment {
                reorder: bad,
                ..Impairment::default()
            }
            .validate()
            .is_err());
        }
        let edges = Impairment {
            loss: 1.0,
            dup: 0.0,
            reorder: 1.0,
            delay: Impairment::MAX_DELAY,
            bottleneck: Some(Bottleneck {
                rate_kbit: 1,
                queue: Duration::ZERO,
            }),
            mtu: Some(1),
            seed: 0,
        };
        assert!(edges.validate().is_ok());
        let nothing_fits = Impairment {
            mtu: Some(0),
            ..Impairment::default()
        };
        assert!(nothing_fits.validate().is_err());
        let slow = Impairment {
            delay: Impairment::MAX_DELAY + Duration::from_millis(1),
            ..Impairment::default()
        };
        assert!(slow.validate().is_err());
        let stopped = Impairment {
            bottleneck: Some(Bottleneck {
                rate_kbit: 0,
                queue: Duration::from_millis(50),
            }),
            ..Impairment::default()
        };
        assert!(stopped.validate().is_err());
    }

    #[test]
    fn reordering_adds_a_bounded_extra_delay() {
        let imp = Impairment {
            reorder: 1.0,
            delay: Duration::from_millis(10),
            seed: 5,
            ..Impairment::default()
        };
        let max = imp.delay + imp.max_reorder_delay();
        for fate in fates(&imp, 1000) {
            assert!(fate.reordered);
            assert!(
                fate.hold >= imp.delay + Duration::from_millis(1),
                "{fate:?}"
            );
            assert!(fate.hold <= max, "{fate:?}");
        }
    }

    #[test]
    fn other_knobs_do_not_move_the_drops() {
        let lossy = Impairment {
            loss: 0.3,
            seed: 99,
            ..Impairment::default()
        };
        let noisy = Impairment {
            dup: 0.5,
            reorder: 0.5,
            delay: Duration::from_millis(3),
            ..lossy
        };
        let dropped = |imp: &Impairment| -> Vec<bool> {
            fates(imp, 2000).iter().map(|f| f.copies == 0).collect()
        };
        assert_eq!(dropped(&lossy), dropped(&noisy));
        let kept = dropped(&lossy).iter().filter(|d| !**d).count();
        assert!((1300..1500).contains(&kept), "{kept}");
    }
}
