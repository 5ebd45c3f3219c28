//! Token buckets, alone ([`TokenBucket`]) and keyed ([`KeyedLimiter`]: per source address, per
//! session), with the clock passed in.
//!
//! A keyed limiter must not become the memory a flood of spoofed sources fills, so it holds at
//! most a fixed number of keys. A full bucket is the same as no bucket, so keys whose buckets
//! have refilled are forgotten first; when every tracked key is still draining, new keys share
//! one overflow bucket, which limits a spoofing flood as a whole without touching known senders.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How many tokens a bucket holds and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// The most tokens a bucket holds: how many events may come at once.
    pub burst: u32,
}

/// One token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: f64::from(rate.burst),
            updated: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.updated = now;
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely by `now`.
    pub fn is_full(&self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * rate.per_second >= f64::from(rate.burst)
    }
}

/// One token bucket per key, holding at most `capacity` keys.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: Rate,
    capacity: usize,
    buckets: HashMap<K, TokenBucket>,
    overflow: TokenBucket,
    last_sweep: Instant,
    /// The least time between sweeps: the refill period, at most a second.
    sweep_every: Duration,
    /// The table size at which new keys trigger a sweep before the table is full: twice what
    /// the last sweep left. A refilled bucket says nothing a fresh one would not, so idle and
    /// departed keys are forgotten as the table grows, at an amortized constant cost per key.
    next_sweep: usize,
}

/// The smallest table worth sweeping early.
const MIN_SWEEP: usize = 64;

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter allowing `rate` per key, tracking at most `capacity` keys.
    pub fn new(rate: Rate, capacity: usize, now: Instant) -> Self {
        Self {
            rate,
            capacity: capacity.max(1),
            buckets: HashMap::new(),
            overflow: TokenBucket::new(rate, now),
            last_sweep: now,
            // A rate too slow for a `Duration` (or zero, or not a number) sweeps once a second.
            sweep_every: Duration::try_from_secs_f64(f64::from(rate.burst) / rate.per_second)
                .unwrap_or(Duration::MAX)
                .min(Duration::from_secs(1)),
            next_sweep: MIN_SWEEP,
        }
    }

    /// The rate each key gets.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// How many keys are tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Takes one token for `key`; `false` means the event is over the limit.
    pub fn check(&mut self, key: &K, now: Instant) -> bool {
        let rate = self.rate;
        if let Some(bucket) = self.buckets.get_mut(key) {
            return bucket.try_take(rate, now);
        }
        if self.buckets.len() >= self.capacity.min(self.next_sweep) {
            self.sweep(now);
        }
        if self.buckets.len() >= self.capacity {
            return self.overflow.try_take(rate, now);
        }
        let mut bucket = TokenBucket::new(rate, now);
        let allowed = bucket.try_take(rate, now);
        self.buckets.insert(key.clone(), bucket);
        allowed
    }

    /// Forgets the keys whose buckets are full. Runs at most once per refill period, so a flood
    /// of new keys against a full table costs one scan per period, not one per event.
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < self.sweep_every {
            return;
        }
        self.last_sweep = now;
        let rate = self.rate;
        self.buckets.retain(|_, b| !b.is_full(rate, now));
        self.next_sweep = (self.buckets.len() * 2).max(MIN_SWEEP);
        if self.buckets.capacity() > 4 * self.next_sweep {
            // Give back what a burst of keys grew the table to.
            self.buckets.shrink_to(self.next_sweep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 10.0,
        burst: 3,
    };

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RATE, t0);
        assert!((0..3).all(|_| b.try_take(RATE, t0)));
        assert!(!b.try_take(RATE, t0));
        assert!(!b.try_take(RATE, t0 + Duration::from_millis(50)));
        assert!(b.try_take(RATE, t0 + Duration::from_millis(100)));
        assert!(b.is_full(RATE, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn keys_are_limited_independently() {
        let t0 = Instant::now();
        let mut l = KeyedLimiter::new(RATE, 16, t0);
        assert!((0..3).all(|_| l.check(&"flood", t0)));
        assert!(!l.check(&"flood", t0));
        assert!(l.check(&"quiet", t0));
    }

    #[test]
    fn table_is_bounded_and_forgets_refilled_keys() {
        let t0 = Instant::now();
        let mut l = KeyedLimiter::new(RATE, 4, t0);
        for k in 0..4 {
            assert!(l.check(&k, t0));
        }
        assert_eq!(l.tracked(), 4);
        // A full table sends new keys to the shared overflow bucket ...
        for k in 100..103 {
            assert!(l.check(&k, t0));
        }
        assert!(!l.check(&200, t0));
        assert_eq!(l.tracked(), 4);
        // ... until the tracked buckets refill and are swept away.
        let later = t0 + Duration::from_secs(2);
        assert!(l.check(&300, later));
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn refilled_keys_are_forgotten_as_the_table_grows_not_only_when_full() {
        let t0 = Instant::now();
        let mut l = KeyedLimiter::new(RATE, 100_000, t0);
        for k in 0..10_000 {
            assert!(l.check(&k, t0));
        }
        let grown = l.tracked();
        // Early sweeps need time for buckets to refill: at t0 nothing is forgotten.
        assert_eq!(grown, 10_000);
        // Once they have refilled, a few new keys sweep the old ones away and the table gives
        // back its room.
        let later = t0 + Duration::from_secs(2);
        for k in 10_000..10_010 {
            assert!(l.check(&k, later));
        }
        assert!(l.tracked() <= 10, "{} keys still tracked", l.tracked());
        assert!(
            l.buckets.capacity() < 1_000,
            "capacity {}",
            l.buckets.capacity()
        );
        // A key that is still draining survives the next sweep: its limit holds.
        let drained = later + Duration::from_millis(340);
        for _ in 0..3 {
            l.check(&u32::MAX, drained);
        }
        let swept = drained + Duration::from_millis(10);
        for k in 20_000..20_200 {
            l.check(&k, swept);
        }
        assert!(!l.buckets.contains_key(&10_000), "refilled keys were swept");
        assert!(
            l.buckets.contains_key(&u32::MAX),
            "the draining key was kept"
        );
        assert!(!l.check(&u32::MAX, swept));
    }

    #[test]
    fn a_rate_too_slow_to_measure_still_sweeps_and_never_panics() {
        let t0 = Instant::now();
        let slow = Rate {
            per_second: 1e-300,
            burst: u32::MAX,
        };
        let mut l = KeyedLimiter::new(slow, 100_000, t0);
        // Past the first sweep size: the sweep period must be computable.
        for k in 0..200u32 {
            assert!(l.check(&k, t0 + Duration::from_secs(2)));
        }
        assert_eq!(l.tracked(), 200);
    }
}
