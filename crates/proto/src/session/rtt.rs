//! The retransmission timer of RFC 6298: smoothed RTT and its variance, a floor and a ceiling,
//! and exponential backoff while retransmissions go unanswered.

use std::time::Duration;

/// Clock granularity `G` of RFC 6298, as far as this protocol is concerned.
const GRANULARITY: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub(crate) struct Rtt {
    srtt: Option<Duration>,
    latest: Duration,
    rttvar: Duration,
    backoff: u32,
    initial: Duration,
    min: Duration,
    max: Duration,
}

impl Rtt {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        Self {
            srtt: None,
            latest: Duration::ZERO,
            rttvar: Duration::ZERO,
            backoff: 0,
            initial,
            min,
            max,
        }
    }

    /// Takes a sample (RFC 6298 section 2.2 and 2.3) and ends any backoff.
    pub(crate) fn sample(&mut self, r: Duration) {
        self.latest = r;
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
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
    pub(crate) fn loss_delay(&self) -> Duration {
        let rtt = self.srtt.unwrap_or(self.initial).max(self.latest);
        (rtt * 9 / 8).max(GRANULARITY)
    }

    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    pub(crate) fn smoothed(&self) -> Option<Duration> {
        self.srtt
    }

    /// The retransmission timeout now.
    pub(crate) fn rto(&self) -> Duration {
        let base = match self.srtt {
            None => self.initial,
            Some(srtt) => srtt + (self.rttvar * 4).max(GRANULARITY),
        };
        let base = base.clamp(self.min, self.max);
        base.saturating_mul(1 << self.backoff).min(self.max)
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
        let mut rtt = Rtt::new(ms(500), ms(50), ms(4000));
        assert_eq!(rtt.rto(), ms(500));
        rtt.sample(ms(100));
        // SRTT = 100, RTTVAR = 50: RTO = 100 + 200.
        assert_eq!(rtt.rto(), ms(300));
        rtt.sample(ms(100));
        // RTTVAR = 3/4 * 50 + 0 = 37.5; RTO = 100 + 150.
        assert_eq!(rtt.rto(), ms(250));
        rtt.back_off();
        assert_eq!(rtt.rto(), ms(500));
        for _ in 0..20 {
            rtt.back_off();
        }
        assert_eq!(rtt.rto(), ms(4000), "capped by the ceiling");
        rtt.sample(ms(1));
        assert!(rtt.rto() >= ms(50), "never below the floor");
    }
}
