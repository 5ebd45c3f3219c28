//! A bottleneck link: a bandwidth limit with a drop-tail queue in front of it, as Linux's
//! token-bucket filter (`tc qdisc ... tbf rate R latency L`) makes of an interface, so that a
//! sender that ignores the path's capacity fills the queue, waits longer, and then loses
//! datagrams, as it would on a home uplink.
//!
//! [`Bottleneck`] is the setting; [`Link`] the state of one direction, a pure unit that takes
//! `now` and datagram sizes and says when each datagram has crossed the link, or that the queue
//! was full. The proxy holds the datagram until then; nothing here touches a socket or a clock.

use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// A bandwidth limit and the queue in front of it, the same in each direction.
///
/// The link carries `rate_kbit` kilobits (1000 bits) per second, one datagram after another:
/// a datagram leaves once the link has carried all its bytes, after those queued before it. A
/// datagram that would wait longer than `queue` for the link to start on it is dropped (drop
/// tail); one arriving at an idle link is always carried, whatever its size. There is no burst
/// allowance beyond that one datagram: what the link carries in any window is at most the rate
/// times the window, plus one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bottleneck {
    /// The link's rate in kilobits per second.
    pub rate_kbit: u64,
    /// The longest a datagram may wait in the queue; 0 keeps no queue at all.
    pub queue: Duration,
}

/// What the bottleneck does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Carried: it has crossed the link at `departs`; `queued` says whether it waited behind
    /// others first.
    Carried { departs: Instant, queued: bool },
    /// The queue was full: dropped.
    Dropped,
}

impl Bottleneck {
    /// The highest rate accepted: 100 Gbit/s, far above what the proxy's one loop forwards.
    pub const MAX_RATE_KBIT: u64 = 100_000_000;

    /// The longest queue accepted. Longer is surely a typo (seconds for milliseconds), and a
    /// bound keeps every departure time within reach of `now`.
    pub const MAX_QUEUE: Duration = Duration::from_secs(60);

    /// Checks that the rate is from 1 kbit/s to [`Bottleneck::MAX_RATE_KBIT`] and the queue
    /// within [`Bottleneck::MAX_QUEUE`].
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=Self::MAX_RATE_KBIT).contains(&self.rate_kbit) {
            return Err(Error::Setting(format!(
                "the rate must be from 1 to {} kbit/s, not {}",
                Self::MAX_RATE_KBIT,
                self.rate_kbit
            )));
        }
        if self.queue > Self::MAX_QUEUE {
            return Err(Error::Setting(format!(
                "queue {:?} is longer than the limit of {:?}",
                self.queue,
                Self::MAX_QUEUE
            )));
        }
        Ok(())
    }

    /// How long the link takes to carry `len` bytes.
    pub fn transmit_time(&self, len: usize) -> Duration {
        // A rate of 0 is refused by `validate`; treated as 1 kbit/s here so that nothing divides
        // by zero. 65 535 bytes at 1 kbit/s are 524 s: the product fits in u128 with room.
        let bits = u128::from(len as u64) * 8;
        let nanos = bits * 1_000_000 / u128::from(self.rate_kbit.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// One direction's link: when it has finished carrying what it was given.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    setting: Bottleneck,
    /// When the last datagram carried leaves the link; none before the first.
    busy_until: Option<Instant>,
}

impl Link {
    pub(crate) fn new(setting: Bottleneck) -> Self {
        Self {
            setting,
            busy_until: None,
        }
    }

    /// Offers a datagram of `len` bytes to the link at `now`.
    pub(crate) fn offer(&mut self, now: Instant, len: usize) -> Admission {
        let starts = self.busy_until.map_or(now, |busy| busy.max(now));
        let wait = starts - now;
        if wait > self.setting.queue {
            return Admission::Dropped;
        }
        // Within reach: `starts` is at most the queue (60 s) plus one datagram's transmission
        // past `now`; checked all the same, since no setting may make the proxy panic.
        let Some(departs) = starts.checked_add(self.setting.transmit_time(len)) else {
            return Admission::Dropped;
        };
        self.busy_until = Some(departs);
        Admission::Carried {
            departs,
            queued: !wait.is_zero(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// 800 kbit/s: a 1000-byte datagram takes exactly 10 ms.
    fn link(queue_ms: u64) -> Link {
        Link::new(Bottleneck {
            rate_kbit: 800,
            queue: ms(queue_ms),
        })
    }

    fn departs(admission: Admission) -> Option<Instant> {
        match admission {
            Admission::Carried { departs, .. } => Some(departs),
            Admission::Dropped => None,
        }
    }

    #[test]
    fn transmit_time_follows_size_and_rate() {
        let at = |rate_kbit| Bottleneck {
            rate_kbit,
            queue: ms(0),
        };
        assert_eq!(at(800).transmit_time(1000), ms(10));
        assert_eq!(at(2000).transmit_time(1200), Duration::from_micros(4800));
        assert_eq!(at(800).transmit_time(0), Duration::ZERO);
        assert_eq!(
            at(Bottleneck::MAX_RATE_KBIT).transmit_time(1250),
            Duration::from_nanos(100)
        );
        // Out of range, yet no panic: 0 is taken as 1 kbit/s.
        assert_eq!(at(0).transmit_time(1000), Duration::from_secs(8));
        assert_eq!(
            at(1).transmit_time(65_535),
            Duration::from_nanos(524_280_000_000)
        );
    }

    #[test]
    fn an_idle_link_carries_at_once_and_a_busy_one_queues() {
        let t0 = Instant::now();
        let mut l = link(50);
        let first = l.offer(t0, 1000);
        assert_eq!(
            first,
            Admission::Carried {
                departs: t0 + ms(10),
                queued: false
            }
        );
        let second = l.offer(t0 + ms(4), 1000);
        assert_eq!(
            second,
            Admission::Carried {
                departs: t0 + ms(20),
                queued: true
            }
        );
        // After the link has drained, the next one starts when it comes.
        assert_eq!(departs(l.offer(t0 + ms(100), 500)), Some(t0 + ms(105)));
    }

    #[test]
    fn a_queue_full_in_time_drops_the_tail_until_it_drains() {
        let t0 = Instant::now();
        let mut l = link(50);
        // Sixty at once: the one that starts at once, and five more that wait 10 to 50 ms.
        let outcomes: Vec<Option<Instant>> = (0..60).map(|_| departs(l.offer(t0, 1000))).collect();
        let carried: Vec<Instant> = outcomes.iter().flatten().copied().collect();
        let expected: Vec<Instant> = (1..=6).map(|k| t0 + ms(10 * k)).collect();
        assert_eq!(carried, expected);
        assert!(outcomes[..6].iter().all(Option::is_some));
        assert!(outcomes[6..].iter().all(Option::is_none), "drop tail");
        // 10 ms later one has left: there is room for exactly one more.
        assert_eq!(departs(l.offer(t0 + ms(10), 1000)), Some(t0 + ms(70)));
        assert_eq!(l.offer(t0 + ms(10), 1000), Admission::Dropped);
    }

    #[test]
    fn no_queue_carries_only_what_finds_the_link_idle() {
        let t0 = Instant::now();
        let mut l = link(0);
        assert!(departs(l.offer(t0, 1000)).is_some());
        assert_eq!(l.offer(t0 + ms(9), 1000), Admission::Dropped);
        assert_eq!(departs(l.offer(t0 + ms(10), 1000)), Some(t0 + ms(20)));
    }

    #[test]
    fn the_rate_is_honoured_over_a_window() {
        // Offered twice the rate for 2 s (a 1000-byte datagram every 5 ms), the link carries
        // its rate: 100 kB/s, so 200 datagrams, less what was still queued at the end.
        let t0 = Instant::now();
        let mut l = link(50);
        let mut left = Vec::new();
        let mut dropped = 0;
        for i in 0..400 {
            match l.offer(t0 + ms(5 * i), 1000) {
                Admission::Carried { departs, .. } => left.push(departs),
                Admission::Dropped => dropped += 1,
            }
        }
        let window = t0 + Duration::from_secs(2);
        let within = left.iter().filter(|d| **d <= window).count();
        assert_eq!(within, 200, "the link stays busy at its rate");
        assert_eq!(left.len() + dropped, 400);
        assert!((195..=206).contains(&left.len()), "{}", left.len());
        // No two leave closer together than one datagram's transmission.
        assert!(left.windows(2).all(|w| w[1] - w[0] >= ms(10)));
    }

    #[test]
    fn huge_settings_and_sizes_do_not_panic() {
        let t0 = Instant::now();
        let mut slowest = Link::new(Bottleneck {
            rate_kbit: 1,
            queue: Bottleneck::MAX_QUEUE,
        });
        assert!(departs(slowest.offer(t0, 65_535)).is_some());
        // The first takes 524 s: everything else waits longer than the queue.
        assert_eq!(slowest.offer(t0, 1), Admission::Dropped);
        let mut unbounded = Link::new(Bottleneck {
            rate_kbit: u64::MAX,
            queue: Duration::MAX,
        });
        for _ in 0..1000 {
            assert!(departs(unbounded.offer(t0, usize::MAX)).is_some());
        }
        let mut zero = Link::new(Bottleneck {
            rate_kbit: 0,
            queue: Duration::ZERO,
        });
        assert!(departs(zero.offer(t0, 0)).is_some());
        assert!(departs(zero.offer(t0, 10)).is_some());
        assert_eq!(zero.offer(t0, 10), Admission::Dropped);
    }

    #[test]
    fn settings_are_validated() {
        let ok = Bottleneck {
            rate_kbit: 2000,
            queue: ms(50),
        };
        assert!(ok.validate().is_ok());
        let edges = [
            Bottleneck {
                rate_kbit: 1,
                queue: Duration::ZERO,
            },
            Bottleneck {
                rate_kbit: Bottleneck::MAX_RATE_KBIT,
                queue: Bottleneck::MAX_QUEUE,
            },
        ];
        assert!(edges.iter().all(|b| b.validate().is_ok()));
        for bad_rate in [0, Bottleneck::MAX_RATE_KBIT + 1] {
            let err = Bottleneck {
                rate_kbit: bad_rate,
                ..ok
            }
            .validate()
            .expect_err("out of range");
            assert!(err.to_string().contains("rate"), "{err}");
        }
        let long = Bottleneck {
            queue: Bottleneck::MAX_QUEUE + ms(1),
            ..ok
        };
        assert!(long
            .validate()
            .expect_err("too long")
            .to_string()
            .contains("queue"));
    }
}
