//! The retransmission timer of RFC 6298: smoothed RTT and its variance, a floor and a ceiling,
//! and exponential backoff while retransmissions go unanswered.
//!
//! Every session has one, so it is kept small: times are whole nanoseconds in a `u64` (the
//! same arithmetic as `Duration`'s, exactly, since it only divides by 2, 4 and 8, which a
//! second's nanoseconds divide evenly), and the floor, ceiling and initial timeout are read
//! from the [`Config`] rather than copied into every session.

use std::time::Duration;

use super::Config;

/// Clock granularity `G` of RFC 6298, as far as this protocol is concerned.
const GRANULARITY: u64 = 1_000_000;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Rtt {
    /// The smoothed RTT, once `sampled`.
    srtt: u64,
    latest: u64,
    rttvar: u64,
    backoff: u8,
    sampled: bool,
}

impl Rtt {
    fn srtt(&self) -> Option<u64> {
        self.sampled.then_some(self.srtt)
    }

    /// Takes a sample (RFC 6298 section 2.2 and 2.3) and ends any backoff.
    pub(crate) fn sample(&mut self, r: Duration) {
        let r = nanos(r);
        self.latest = r;
        match self.srtt() {
            None => {
                self.srtt = r;
                self.rttvar = r / 2;
                self.sampled = true;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(r);
                self.rttvar = self.rttvar.saturating_mul(3) / 4 + diff / 4;
                self.srtt = srtt.saturating_mul(7) / 8 + r / 8;
            }
        }
        self.backoff = 0;
    }

    /// Doubles the timeout after it fired (section 5.5).
    pub(crate) fn back_off(&mut self) {
        self.backoff = (self.backoff + 1).min(16);
    }

    /// How long after a later packet was acknowledged an earlier one counts as lost: 9/8 of
    /// the larger of the smoothed and the latest RTT (RFC 9002, section 6.1.2).
    pub(crate) fn loss_delay(&self, config: &Config) -> Duration {
        let rtt = self
            .srtt()
            .unwrap_or(nanos(config.initial_rto))
            .max(self.latest);
        Duration::from_nanos((rtt.saturating_mul(9) / 8).max(GRANULARITY))
    }

    /// How long a run of losses must span to be persistent congestion: three times the
    /// timeout without backoff, the peer's ack delay included (RFC 9002, section 7.6.1);
    /// `None` before the first sample.
    pub(crate) fn persistent_congestion(&self, config: &Config) -> Option<Duration> {
        let srtt = self.srtt()?;
        let pto = srtt
            .saturating_add(self.rttvar.saturating_mul(4).max(GRANULARITY))
            .saturating_add(nanos(config.max_ack_delay));
        Some(Duration::from_nanos(pto.saturating_mul(3)))
    }

    /// How long after the newest packet in flight an unanswered tail is probed: two smoothed
    /// RTTs (RFC 8985), at least the clock's granularity; `None` before the first sample.
    pub(crate) fn tail_probe(&self) -> Option<Duration> {
        let srtt = self.srtt()?;
        Some(Duration::from_nanos(
            srtt.saturating_mul(2).max(GRANULARITY),
        ))
    }

    /// What loss detection needs: the time threshold and the span of persistent congestion.
    pub(crate) fn loss_params(&self, config: &Config) -> (Duration, Option<Duration>) {
        (self.loss_delay(config), self.persistent_congestion(config))
    }

    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// The round trip a window is paced over: the smoothed RTT, or the latest sample when it
    /// is shorter. One sample inflated by a lost ack (the next ack of the same packet comes a
    /// retransmission later) lifts the smoothed RTT for many round trips, and pacing by it
    /// would hold the sender to a fraction of what the window allows.
    pub(crate) fn pacing(&self) -> Option<Duration> {
        self.srtt()
            .map(|srtt| Duration::from_nanos(srtt.min(self.latest)))
    }

    pub(crate) fn smoothed(&self) -> Option<Duration> {
        self.srtt().map(Duration::from_nanos)
    }

    /// The timeout without backoff: floored and capped.
    fn base(&self, config: &Config) -> u64 {
        let base = match self.srtt() {
            None => nanos(config.initial_rto),
            Some(srtt) => srtt.saturating_add(self.rttvar.saturating_mul(4).max(GRANULARITY)),
        };
        base.max(nanos(config.min_rto)).min(nanos(config.max_rto))
    }

    fn backed_off(&self, base: u64, config: &Config) -> Duration {
        Duration::from_nanos(
            base.saturating_mul(1 << self.backoff)
                .min(nanos(config.max_rto)),
        )
    }

    /// The retransmission timeout of RFC 6298 now.
    #[cfg(test)]
    pub(crate) fn rto(&self, config: &Config) -> Duration {
        self.backed_off(self.base(config), config)
    }

    /// The retransmission timer as the connection runs it: RFC 6298's timeout plus the peer's
    /// longest ack delay, as RFC 9002's probe timeout adds it. RTT samples have the ack delay
    /// taken out, so without it an ack the peer delayed would be taken for a loss, and every
    /// such loss now cuts the congestion window.
    pub(crate) fn timeout(&self, config: &Config) -> Duration {
        let base = self
            .base(config)
            .saturating_add(nanos(config.max_ack_delay));
        self.backed_off(base, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn follows_rfc_6298() {
        let config = Config {
            initial_rto: ms(500),
            min_rto: ms(50),
            max_rto: ms(4000),
            ..Config::default()
        };
        let mut rtt = Rtt::default();
        assert_eq!(rtt.rto(&config), ms(500));
        rtt.sample(ms(100));
        // SRTT = 100, RTTVAR = 50: RTO = 100 + 200.
        assert_eq!(rtt.rto(&config), ms(300));
        rtt.sample(ms(100));
        // RTTVAR = 3/4 * 50 + 0 = 37.5; RTO = 100 + 150.
        assert_eq!(rtt.rto(&config), ms(250));
        rtt.back_off();
        assert_eq!(rtt.rto(&config), ms(500));
        for _ in 0..20 {
            rtt.back_off();
        }
        assert_eq!(rtt.rto(&config), ms(4000), "capped by the ceiling");
        rtt.sample(ms(1));
        assert!(rtt.rto(&config) >= ms(50), "never below the floor");
    }

    /// What the timer computed when it kept `Duration`s, for comparison.
    fn reference(samples: &[Duration], config: &Config) -> (Duration, Duration) {
        let (mut srtt, mut rttvar, mut latest) = (None::<Duration>, Duration::ZERO, Duration::ZERO);
        for &r in samples {
            latest = r;
            match srtt {
                None => {
                    srtt = Some(r);
                    rttvar = r / 2;
                }
                Some(s) => {
                    rttvar = rttvar * 3 / 4 + s.abs_diff(r) / 4;
                    srtt = Some(s * 7 / 8 + r / 8);
                }
            }
        }
        let g = Duration::from_millis(1);
        let rto = match srtt {
            None => config.initial_rto,
            Some(s) => s + (rttvar * 4).max(g),
        }
        .clamp(config.min_rto, config.max_rto);
        let loss = (srtt.unwrap_or(config.initial_rto).max(latest) * 9 / 8).max(g);
        (rto, loss)
    }

    #[test]
    fn nanoseconds_give_what_durations_gave() {
        let config = Config::default();
        let mut rtt = Rtt::default();
        let mut samples = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Up to 5 s, at nanosecond resolution, across whole seconds.
            let r = Duration::from_nanos(x % 5_000_000_007);
            rtt.sample(r);
            samples.push(r);
            assert_eq!(
                (rtt.rto(&config), rtt.loss_delay(&config)),
                reference(&samples, &config)
            );
        }
    }
}
