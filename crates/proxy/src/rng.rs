//! The proxy's seeded random numbers: SplitMix64, and the seed a run gets when none was given.
//!
//! No `rand` crate: one u64 of state is all a loss injector needs, and a generator written out
//! here gives the same sequence for a seed on every platform and every version of every
//! dependency, which is what makes a run replayable with its seed.

use std::time::{SystemTime, UNIX_EPOCH};

/// The golden-ratio increment SplitMix64 steps its state by.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64 (Steele, Lea and Flood, 2014). It passes BigCrush, which is far more than deciding
/// whether to drop a datagram needs.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The stream for one direction of one flow (flows numbered from 0 in the order their
    /// clients first appear). Each gets a stream of its own so that what happens to a flow's
    /// datagrams depends only on the seed, its number and its own traffic: not on how its
    /// two directions, or other clients, interleave with it.
    pub(crate) fn stream(seed: u64, flow: u64, direction: u64) -> Self {
        let key = flow.wrapping_mul(2).wrapping_add(direction);
        Self::new(seed ^ mix(key.wrapping_add(1).wrapping_mul(GAMMA)))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// True with probability `p` (0.0 never, 1.0 always).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        // The top 53 bits make every double in [0, 1) a multiple of 2^-53, exactly.
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

/// A number in `0..n` from one draw `x` (Lemire's multiply-shift; its bias is below 2^-40 for
/// the spans used here, far under anything a loss test could see).
pub(crate) fn below(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for a run that was given none: the clock and the process id, mixed. Not secret, just
/// different each run; log it, so that an interesting run can be replayed.
pub fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    // Folding the high half in keeps every bit of the 128-bit count.
    let folded = (nanos as u64) ^ ((nanos >> 64) as u64);
    mix(folded ^ mix(u64::from(std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_sequence() {
        // The first outputs of the reference SplitMix64 seeded with 1234567.
        let mut rng = Rng::new(1_234_567);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn chance_honours_the_extremes_and_the_middle() {
        let mut rng = Rng::new(7);
        assert!((0..10_000).all(|_| !rng.chance(0.0)));
        assert!((0..10_000).all(|_| rng.chance(1.0)));
        let hits = (0..100_000).filter(|_| rng.chance(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }

    #[test]
    fn streams_differ_by_flow_and_direction() {
        let a = Rng::stream(1, 0, 0).next_u64();
        let b = Rng::stream(1, 0, 1).next_u64();
        let c = Rng::stream(1, 1, 0).next_u64();
        let d = Rng::stream(2, 0, 0).next_u64();
        assert!(a != b && a != c && b != c && a != d);
        assert_eq!(a, Rng::stream(1, 0, 0).next_u64());
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::new(3);
        assert!((0..10_000).all(|_| below(rng.next_u64(), 17) < 17));
        assert_eq!(below(u64::MAX, 10), 9);
        assert_eq!(below(0, 10), 0);
    }

    #[test]
    fn random_seeds_vary() {
        let seeds: std::collections::HashSet<u64> = (0..4)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(2));
                random_seed()
            })
            .collect();
        assert!(seeds.len() > 1);
    }
}
