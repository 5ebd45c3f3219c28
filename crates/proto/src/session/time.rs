//! Instants kept compactly. A server holds every session's timestamps for as long as the
//! session lives, and an `Instant` takes 16 bytes (an `Option<Instant>` too); a [`Stamp`] is
//! the nanoseconds since an epoch (the server's start, the connection's) in 8 bytes, and
//! `Option<Stamp>` is 8 bytes as well.
//!
//! Exact both ways: `Stamp::since(epoch, t).at(epoch) == t` for every `t` from `epoch` on (for
//! 584 years), so the deadlines computed from stamps are the ones the `Instant`s gave. A time
//! before the epoch reads as the epoch itself; the endpoints are driven by a clock that does not
//! run backwards, and their epochs are the first `now` they were given.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// A time as nanoseconds since an epoch that the holder knows (stored plus one, so that
/// `Option<Stamp>` needs no tag of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Stamp(NonZeroU64);

impl Stamp {
    /// `at`, counted from `epoch`.
    pub(crate) fn since(epoch: Instant, at: Instant) -> Self {
        let nanos = u64::try_from(at.saturating_duration_since(epoch).as_nanos());
        Self(NonZeroU64::MIN.saturating_add(nanos.unwrap_or(u64::MAX)))
    }

    fn nanos(self) -> u64 {
        self.0.get() - 1
    }

    /// The instant again, given the same epoch.
    pub(crate) fn at(self, epoch: Instant) -> Instant {
        epoch + Duration::from_nanos(self.nanos())
    }

    /// `d` later (saturating, some 584 years on).
    pub(crate) fn plus(self, d: Duration) -> Self {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(nanos))
    }

    /// How long from `earlier` to this (zero if `earlier` is later).
    pub(crate) fn since_stamp(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(self.nanos().saturating_sub(earlier.nanos()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_against_instant_arithmetic() {
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 8);
        let epoch = Instant::now();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut offsets = vec![0, 1, 999_999_999, 1_000_000_000, 30_000_000_001];
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Up to about 11 days, at nanosecond resolution.
            offsets.push(x % (1 << 50));
        }
        for pair in offsets.windows(2) {
            let (a, b) = (
                epoch + Duration::from_nanos(pair[0]),
                epoch + Duration::from_nanos(pair[1]),
            );
            let (sa, sb) = (Stamp::since(epoch, a), Stamp::since(epoch, b));
            assert_eq!(sa.at(epoch), a);
            assert_eq!(sb.at(epoch), b);
            assert_eq!(sa.cmp(&sb), a.cmp(&b), "stamps order as instants do");
            assert_eq!(sb.since_stamp(sa), b.saturating_duration_since(a));
        }
        // Before the epoch: the epoch itself.
        if let Some(before) = epoch.checked_sub(Duration::from_secs(1)) {
            assert_eq!(Stamp::since(epoch, before).at(epoch), epoch);
        }
    }
}
