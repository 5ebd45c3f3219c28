//! Pacing (RFC 9002 section 7.7): a window's worth of packets leaves spread over the round trip
//! instead of as one burst into the bottleneck's queue. A token bucket fills at 5/4 of the
//! window per smoothed RTT (a little faster than the window, so that pacing never is what
//! limits the sender) and holds a small burst: two milliseconds of sending, so that a timer
//! that wakes a millisecond late does not cost throughput, but at least four datagrams and at
//! most 256 (no fewer than the packets in flight allowed, so on a fast path pacing never binds).
//!
//! It is sans-IO like the rest: the sender asks when the next datagram may leave, and that time
//! becomes part of `poll_timeout`.

use std::time::{Duration, Instant};

use super::congestion::DATAGRAM;

/// How much sending the bucket holds, in time at the pacing rate.
const BURST_INTERVAL: Duration = Duration::from_millis(2);
const MIN_BURST: u32 = 4 * DATAGRAM;
const MAX_BURST: u32 = 256 * DATAGRAM;

#[derive(Debug, Clone, Default)]
pub(crate) struct Pacer {
    /// Bytes that may leave at `last` (starts full: `None` is a full bucket).
    tokens: u32,
    last: Option<Instant>,
}

/// The pacing rate as a fraction: `window * 5` bytes per `srtt * 4`.
fn capacity(window: u32, srtt: Duration) -> u32 {
    let bytes = u128::from(window) * 5 * BURST_INTERVAL.as_nanos() / (4 * srtt.as_nanos());
    u32::try_from(bytes)
        .unwrap_or(u32::MAX)
        .clamp(MIN_BURST, MAX_BURST)
}

/// Whether `srtt` is long enough to pace over; below a microsecond the path is loopback.
fn paced(srtt: Option<Duration>) -> Option<Duration> {
    srtt.filter(|s| *s >= Duration::from_micros(1))
}

impl Pacer {
    fn tokens_at(&self, now: Instant, window: u32, srtt: Duration) -> u32 {
        let cap = capacity(window, srtt);
        let Some(last) = self.last else {
            return cap;
        };
        let elapsed = now.saturating_duration_since(last).as_nanos();
        let earned = elapsed * u128::from(window) * 5 / (4 * srtt.as_nanos());
        let tokens = u128::from(self.tokens) + earned;
        u32::try_from(tokens).unwrap_or(u32::MAX).min(cap)
    }

    /// From when a full datagram may leave; `None` when at any time (the bucket held enough
    /// when last used, or nothing is paced yet, before the first RTT sample). It needs no
    /// `now`: the bucket only fills with time, so the answer holds until the next send.
    pub(crate) fn ready_at(&self, window: u32, srtt: Option<Duration>) -> Option<Instant> {
        // Every capacity holds a datagram, so a bucket that does needs no arithmetic.
        if self.tokens >= DATAGRAM {
            return None;
        }
        let srtt = paced(srtt)?;
        let last = self.last?;
        let tokens = self.tokens.min(capacity(window, srtt));
        // The time to earn what is missing, rounded up so that it is enough when it comes.
        let missing = u128::from(DATAGRAM - tokens);
        let rate_den = u128::from(window.max(1)) * 5;
        let nanos = (missing * 4 * srtt.as_nanos()).div_ceil(rate_den);
        let wait = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        Some(last + wait)
    }

    /// A datagram of `bytes` left at `now`.
    pub(crate) fn on_sent(
        &mut self,
        now: Instant,
        bytes: u32,
        window: u32,
        srtt: Option<Duration>,
    ) {
        let Some(srtt) = paced(srtt) else {
            return;
        };
        self.tokens = self.tokens_at(now, window, srtt).saturating_sub(bytes);
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_leaves_spread_over_the_round_trip() {
        let srtt = Some(Duration::from_millis(50));
        let window = 40 * DATAGRAM;
        let start = Instant::now();
        let mut pacer = Pacer::default();
        let mut now = start;
        let mut times = Vec::new();
        for _ in 0..window / DATAGRAM {
            if let Some(at) = pacer.ready_at(window, srtt) {
                now = now.max(at);
            }
            pacer.on_sent(now, DATAGRAM, window, srtt);
            times.push(now);
        }
        // The burst allowance goes at once, the rest at 5/4 of window per RTT.
        let burst = (MIN_BURST / DATAGRAM) as usize;
        assert!(times[..burst].iter().all(|t| *t == start));
        assert!(times[burst] > start);
        let span = now - start;
        let expected = Duration::from_millis(50) * 4 / 5 * (40 - burst as u32) / 40;
        assert!(
            span >= expected - Duration::from_millis(1)
                && span <= expected + Duration::from_millis(1),
            "{span:?} against {expected:?}"
        );
    }

    #[test]
    fn an_idle_pacer_holds_no_more_than_its_burst() {
        let srtt = Some(Duration::from_millis(50));
        let window = 40 * DATAGRAM;
        let mut now = Instant::now();
        let mut pacer = Pacer::default();
        pacer.on_sent(now, DATAGRAM, window, srtt);
        now += Duration::from_secs(5);
        let mut sent = 0;
        while pacer.ready_at(window, srtt).is_none_or(|at| at <= now) {
            pacer.on_sent(now, DATAGRAM, window, srtt);
            sent += 1;
        }
        assert_eq!(sent, MIN_BURST / DATAGRAM);
    }

    #[test]
    fn nothing_is_paced_before_an_rtt_sample_or_on_loopback() {
        let now = Instant::now();
        let mut pacer = Pacer::default();
        for _ in 0..100 {
            pacer.on_sent(now, DATAGRAM, 2 * DATAGRAM, None);
            assert_eq!(pacer.ready_at(2 * DATAGRAM, None), None);
        }
        let fast = Some(Duration::from_micros(20));
        let window = 256 * DATAGRAM;
        for _ in 0..256 {
            assert_eq!(pacer.ready_at(window, fast), None);
            pacer.on_sent(now, DATAGRAM, window, fast);
        }
    }
}
