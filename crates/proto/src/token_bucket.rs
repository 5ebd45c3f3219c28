//! Token buckets, alone ([`TokenBucket`]) and keyed ([`KeyedLimiter`]: per source address, per
//! session), with the clock passed in.
//!
//! A keyed limiter must not become the memory a flood of spoofed sources fills, so it holds at
//! most a fixed number of keys. A full bucket is the same as no bucket, so keys whose buckets
//! have refilled are forgotten first. A key seen once is on probation; seen again, it is
//! established. A new key that finds the table full takes the place of the oldest key on
//! probation, so a flood of one-off (spoofed) sources only ever displaces itself and never the
//! senders already known; established keys that have refilled are kept until they have been
//! idle for [`ESTABLISHED_IDLE`]. Only when every tracked key is established do new keys share
//! one overflow bucket, which limits a flood of repeat senders as a whole.

use std::collections::{HashMap, VecDeque};
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

/// How long an established key whose bucket has refilled is still remembered: a polite client
/// that pauses keeps its place through a flood of new sources.
pub const ESTABLISHED_IDLE: Duration = Duration::from_secs(30);

/// One token bucket per key, holding at most `capacity` keys.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: Rate,
    capacity: usize,
    buckets: HashMap<K, Slot>,
    /// Keys on probation, oldest first, each with the generation it was inserted with; an entry
    /// whose key has since been established, swept or re-inserted is stale and skipped.
    probation: VecDeque<(K, u64)>,
    generation: u64,
    overflow: TokenBucket,
    last_sweep: Instant,
    /// The least time between sweeps: the refill period, at most a second.
    sweep_every: Duration,
    /// The table size at which new keys trigger a sweep before the table is full: twice what
    /// the last sweep left. A refilled bucket says nothing a fresh one would not, so idle and
    /// departed keys are forgotten as the table grows, at an amortized constant cost per key.
    next_sweep: usize,
}

/// One tracked key.
#[derive(Debug)]
struct Slot {
    bucket: TokenBucket,
    /// Seen more than once: never displaced by a new key.
    established: bool,
    last_seen: Instant,
    generation: u64,
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
            probation: VecDeque::new(),
            generation: 0,
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
        if let Some(slot) = self.buckets.get_mut(key) {
            slot.established = true;
            slot.last_seen = now;
            return slot.bucket.try_take(rate, now);
        }
        if self.buckets.len() >= self.capacity.min(self.next_sweep) {
            self.sweep(now);
        }
        if self.buckets.len() >= self.capacity && !self.displace_one() {
            return self.overflow.try_take(rate, now);
        }
        let mut bucket = TokenBucket::new(rate, now);
        let allowed = bucket.try_take(rate, now);
        self.generation += 1;
        let slot = Slot {
            bucket,
            established: false,
            last_seen: now,
            generation: self.generation,
        };
        self.buckets.insert(key.clone(), slot);
        self.probation.push_back((key.clone(), self.generation));
        allowed
    }

    /// Forgets the oldest key still on probation; `false` if there is none. Each key enters
    /// the queue once per insertion, so the skipping is amortized constant work.
    fn displace_one(&mut self) -> bool {
        while let Some((key, generation)) = self.probation.pop_front() {
            let on_probation = self
                .buckets
                .get(&key)
                .is_some_and(|s| s.generation == generation && !s.established);
            if on_probation {
                self.buckets.remove(&key);
                return true;
            }
        }
        false
    }

    /// Forgets the keys whose buckets are full (established ones only once idle for
    /// [`ESTABLISHED_IDLE`]). Runs at most once per refill period, so a flood of new keys
    /// against a full table costs one scan per period, not one per event.
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < self.sweep_every {
            return;
        }
        self.last_sweep = now;
        let rate = self.rate;
        self.buckets.retain(|_, s| {
            let idle = now.saturating_duration_since(s.last_seen) >= ESTABLISHED_IDLE;
            !s.bucket.is_full(rate, now) || (s.established && !idle)
        });
        let buckets = &self.buckets;
        self.probation.retain(|(key, generation)| {
            buckets
                .get(key)
                .is_some_and(|s| s.generation == *generation && !s.established)
        });
        self.next_sweep = (self.buckets.len() * 2).max(MIN_SWEEP);
        if self.buckets.capacity() > 4 * self.next_sweep {
            // Give back what a burst of keys grew the table to.
            self.buckets.shrink_to(self.next_sweep);
            self.probation.shrink_to(self.next_sweep);
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
        // Four established keys (each seen twice) fill the table ...
        for k in 0..4 {
            assert!(l.check(&k, t0));
            assert!(l.check(&k, t0));
        }
        assert_eq!(l.tracked(), 4);
        // ... so new keys share the overflow bucket ...
        for k in 100..103 {
            assert!(l.check(&k, t0));
        }
        assert!(!l.check(&200, t0));
        assert_eq!(l.tracked(), 4);
        // ... until the tracked keys have refilled and stayed idle, and are swept away.
        let later = t0 + ESTABLISHED_IDLE;
        assert!(l.check(&300, later));
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn a_flood_of_new_keys_displaces_only_keys_seen_once() {
        let t0 = Instant::now();
        let rate = Rate {
            per_second: 1000.0,
            burst: 1000,
        };
        let mut l = KeyedLimiter::new(rate, 64, t0);
        let legit = u32::MAX;
        assert!(l.check(&legit, t0));
        let mut legit_allowed = 0;
        // 100,000 one-off sources over 10 s (10,000 a second), the legitimate key once every
        // 10 ms: it is established at once and keeps its own bucket throughout, through sweeps
        // that forget its refilled bucket's neighbours.
        for i in 0..100_000u32 {
            let now = t0 + Duration::from_micros(100 * u64::from(i));
            assert!(
                l.check(&i, now),
                "a new key gets a fresh bucket, not the overflow"
            );
            assert!(l.tracked() <= 64);
            if i % 100 == 0 && l.check(&legit, now) {
                legit_allowed += 1;
            }
        }
        assert_eq!(legit_allowed, 1000);
        assert!(l.buckets.get(&legit).is_some_and(|s| s.established));
        assert!(l.probation.len() <= 2 * 64, "{} queued", l.probation.len());
    }

    #[test]
    fn an_idle_established_key_is_kept_only_for_a_while() {
        let t0 = Instant::now();
        let mut l = KeyedLimiter::new(RATE, 1000, t0);
        let polite = String::from("polite");
        assert!(l.check(&polite, t0));
        assert!(l.check(&polite, t0));
        let sweep_at = |l: &mut KeyedLimiter<String>, now: Instant| {
            // Enough new keys to reach the early-sweep size.
            for k in 0..MIN_SWEEP {
                l.check(&format!("new {k} {now:?}"), now);
            }
        };
        sweep_at(&mut l, t0 + Duration::from_secs(2));
        assert!(l.buckets.contains_key("polite"), "refilled but established");
        sweep_at(&mut l, t0 + ESTABLISHED_IDLE + Duration::from_secs(1));
        assert!(!l.buckets.contains_key("polite"), "idle too long");
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
