//! Leaving slow start before the queue overflows: once the RTT has risen clearly above the least
//! seen, the queue in front of the bottleneck is filling, and slow start ends there (the window
//! becomes the slow start threshold) instead of at the first loss. It is the delay test of
//! HyStart (Ha and Rhee, as Linux's CUBIC runs it) with the bounds of HyStart++ (RFC 9406): the
//! rise must be an eighth of the least RTT, at least 4 ms and at most 16 ms.
//!
//! Two changes from RFC 9406, both measured through a 2 Mbit/s bottleneck with a queue of one
//! bandwidth-delay product, where a 64 KiB paste lost 18.9 % of its datagrams without any exit:
//! - The RTT a round is judged by is the least of the latest four samples, not of the round's
//!   first eight. Slow start doubles the window each round, so the round in which the queue
//!   fills starts with it nearly empty: its first samples are as low as the last round's, and
//!   by the time the RFC looks again the next round has flooded the queue. The least of four
//!   consecutive samples still ignores a single late one.
//! - No conservative slow start. Its return to slow start fired when the first flight (sent at
//!   once, before any RTT sample could pace it) had queued behind itself, and its growth of a
//!   quarter per round overflowed the queue within three rounds (7.6 % lost): congestion
//!   avoidance's datagram per round trip is what a queue that small allows.

use std::time::Duration;

/// How many of the latest RTT samples the RTT now is judged by.
const SAMPLES: usize = 4;

/// RFC 9406's bounds on how far the RTT must rise: an eighth of the least RTT, within these.
const MIN_RISE: Duration = Duration::from_millis(4);
const MAX_RISE: Duration = Duration::from_millis(16);

/// The RTT as slow start watches it, while this busy period lasts.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlowStart {
    /// The least RTT sampled.
    min_rtt: Option<Duration>,
    /// The latest samples, a ring: `filled` of them, the next written at `next`.
    recent: [Duration; SAMPLES],
    filled: u8,
    next: u8,
}

impl SlowStart {
    /// Takes an RTT sample taken in slow start; returns whether slow start is to end.
    pub(crate) fn on_rtt(&mut self, sample: Duration) -> bool {
        let min = self.min_rtt.map_or(sample, |m| m.min(sample));
        self.min_rtt = Some(min);
        self.recent[usize::from(self.next)] = sample;
        self.next = (self.next + 1) % SAMPLES as u8;
        self.filled = (self.filled + 1).min(SAMPLES as u8);
        if usize::from(self.filled) < SAMPLES {
            return false;
        }
        let current = self.recent.iter().copied().min().unwrap_or(sample);
        current >= min + (min / 8).clamp(MIN_RISE, MAX_RISE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn exits(samples: &[u64]) -> Vec<bool> {
        let mut ss = SlowStart::default();
        samples.iter().map(|&s| ss.on_rtt(ms(s))).collect()
    }

    #[test]
    fn a_steady_rtt_keeps_slow_start() {
        let samples: Vec<u64> = (0..100).map(|i| 50 + i % 6).collect();
        assert!(exits(&samples).iter().all(|e| !e));
    }

    #[test]
    fn a_rising_rtt_ends_it_and_one_late_sample_does_not() {
        // One late sample among steady ones, then a queue filling, 5 ms more each sample:
        // slow start ends once the least of the latest four is 6.25 ms (an eighth) up.
        let out = exits(&[50, 51, 90, 50, 52, 51, 55, 60, 65, 70, 75]);
        assert_eq!(out.iter().position(|&e| e), Some(10), "{out:?}");
    }

    #[test]
    fn the_rise_is_at_least_four_milliseconds() {
        // A fast path: 100 µs, then 3 ms of jitter is not a queue; 5 ms is.
        let mut ss = SlowStart::default();
        let us = Duration::from_micros;
        for _ in 0..4 {
            assert!(!ss.on_rtt(us(100)));
        }
        for _ in 0..8 {
            assert!(!ss.on_rtt(us(3_100)));
        }
        let late: Vec<bool> = (0..4).map(|_| ss.on_rtt(us(5_100))).collect();
        assert_eq!(late, [false, false, false, true]);
    }
}
