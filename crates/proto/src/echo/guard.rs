//! What keeps two echo services from answering each other forever, without a socket.
//!
//! Upper-casing is idempotent, so a datagram spoofed to us from another echo service's address
//! (dgram's, or any RFC 862 echo) makes it send our reply straight back, byte for byte, and an
//! echo that answered that would loop. The guard remembers a fingerprint of each plain reply it
//! let out, per address, for [`LOOP_WINDOW`]; a plain datagram identical to one of them is our
//! own reply coming back and is not answered, so such a loop dies after two packets. Many
//! interleaved loops (or a table flushed by a flood) are held by a second, low per-source rate
//! for plain (non-envelope) replies, the only kind another echo can keep bouncing: dgram never
//! answers an envelope reply or error, so an RFC 862 echo returning one goes nowhere.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::Drop;
use crate::token_bucket::{KeyedLimiter, Rate};

/// How long a reply is remembered: far longer than any round trip between two echo services,
/// short enough that someone typing the same upper-case line twice is answered the second time
/// after a few seconds.
pub const LOOP_WINDOW: Duration = Duration::from_secs(5);

/// How [`LoopGuard`] is configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardConfig {
    /// How many replies are remembered at most (one fingerprint each).
    pub remembered: usize,
    /// The rate of plain replies each source IP gets; `None` turns that limit off.
    pub plain_rate: Option<Rate>,
    /// How many source addresses the plain-reply limiter tracks at most.
    pub max_tracked_sources: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            remembered: 16_384,
            plain_rate: Some(Rate {
                per_second: 20.0,
                burst: 20,
            }),
            max_tracked_sources: 65_536,
        }
    }
}

/// The loop guard: recent replies by fingerprint, and the plain-reply rate per source IP.
#[derive(Debug)]
pub struct LoopGuard {
    recent: RecentReplies,
    plain: Option<KeyedLimiter<IpAddr>>,
    config: GuardConfig,
}

impl LoopGuard {
    /// A guard with `config`; its clock starts on the first datagram.
    pub fn new(config: GuardConfig) -> Self {
        Self {
            recent: RecentReplies::new(config.remembered),
            plain: None,
            config,
        }
    }

    /// Whether `datagram` from `peer` may be answered at all; `Err` says why not. A plain
    /// datagram spends a token of its source's plain-reply rate.
    pub fn screen(&mut self, peer: SocketAddr, datagram: &[u8], now: Instant) -> Result<(), Drop> {
        if crate::is_envelope(datagram) {
            return Ok(());
        }
        if self.recent.contains(peer, datagram, now) {
            return Err(Drop::Looped);
        }
        let Some(rate) = self.config.plain_rate else {
            return Ok(());
        };
        let max = self.config.max_tracked_sources;
        let limiter = self
            .plain
            .get_or_insert_with(|| KeyedLimiter::new(rate, max, now));
        if limiter.check(&peer.ip(), now) {
            Ok(())
        } else {
            Err(Drop::PlainRateLimited)
        }
    }

    /// Remembers that the plain reply `reply` went to `peer` (envelope replies need not be
    /// remembered: dgram never answers a reply, and an envelope is never screened as a loop).
    pub fn sent(&mut self, peer: SocketAddr, reply: &[u8], now: Instant) {
        self.recent.insert(peer, reply, now);
    }
}

/// Fingerprints of recent replies, keyed by the address they went to, oldest first out.
#[derive(Debug)]
struct RecentReplies {
    capacity: usize,
    /// Keyed by this process's random key, so nobody can craft a datagram that collides with
    /// someone else's reply.
    hasher: RandomState,
    sent: HashMap<(SocketAddr, u64), Instant>,
    order: VecDeque<((SocketAddr, u64), Instant)>,
}

impl RecentReplies {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            hasher: RandomState::new(),
            sent: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn contains(&self, peer: SocketAddr, datagram: &[u8], now: Instant) -> bool {
        let key = (peer, self.hasher.hash_one(datagram));
        self.sent
            .get(&key)
            .is_some_and(|&at| now.saturating_duration_since(at) < LOOP_WINDOW)
    }

    fn insert(&mut self, peer: SocketAddr, reply: &[u8], now: Instant) {
        while let Some(&(key, at)) = self.order.front() {
            let expired = now.saturating_duration_since(at) >= LOOP_WINDOW;
            if !expired && self.order.len() < self.capacity {
                break;
            }
            self.order.pop_front();
            // A newer copy of the same reply stays remembered.
            if self.sent.get(&key) == Some(&at) {
                self.sent.remove(&key);
            }
        }
        let key = (peer, self.hasher.hash_one(reply));
        self.sent.insert(key, now);
        self.order.push_back((key, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "192.0.2.1:7777";
    const B: &str = "192.0.2.2:7777";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal")
    }

    #[test]
    fn our_own_reply_coming_back_is_not_answered() {
        let t0 = Instant::now();
        let mut g = LoopGuard::new(GuardConfig::default());
        assert_eq!(g.screen(addr(A), b"loop me", t0), Ok(()));
        g.sent(addr(A), b"LOOP ME", t0);
        let back = t0 + Duration::from_millis(1);
        assert_eq!(g.screen(addr(A), b"LOOP ME", back), Err(Drop::Looped));
        // The same bytes from another address, or other bytes from the same one, are answered.
        assert_eq!(g.screen(addr(B), b"LOOP ME", back), Ok(()));
        assert_eq!(g.screen(addr(A), b"LOOP ME!", back), Ok(()));
        // And after the window, the same line typed again is answered.
        assert_eq!(g.screen(addr(A), b"LOOP ME", t0 + LOOP_WINDOW), Ok(()));
    }

    #[test]
    fn plain_replies_keep_to_a_low_rate_per_source_envelopes_do_not() {
        let t0 = Instant::now();
        let mut g = LoopGuard::new(GuardConfig::default());
        let plain = (0..100)
            .filter(|i| g.screen(addr(A), format!("x{i}").as_bytes(), t0).is_ok())
            .count();
        assert_eq!(plain, 20, "the burst");
        assert_eq!(g.screen(addr(A), b"more", t0), Err(Drop::PlainRateLimited));
        let envelope = [&crate::MAGIC[..], &[crate::VERSION], b"rest"].concat();
        assert!(crate::is_envelope(&envelope));
        assert_eq!(g.screen(addr(A), &envelope, t0), Ok(()));
        g.sent(addr(A), &envelope, t0);
        assert_eq!(
            g.screen(addr(A), &envelope, t0),
            Ok(()),
            "envelopes are never a loop"
        );
        assert_eq!(g.screen(addr(B), b"other source", t0), Ok(()));
    }

    #[test]
    fn memory_is_bounded_and_the_newest_replies_are_kept() {
        let t0 = Instant::now();
        let mut g = LoopGuard::new(GuardConfig {
            remembered: 8,
            ..GuardConfig::default()
        });
        for i in 0..100u32 {
            g.sent(addr(A), &i.to_be_bytes(), t0);
        }
        assert!(g.recent.sent.len() <= 8 && g.recent.order.len() <= 8);
        assert!(g.recent.contains(addr(A), &99u32.to_be_bytes(), t0));
        assert!(!g.recent.contains(addr(A), &0u32.to_be_bytes(), t0));
    }

    /// Two guarded echo services, one spoofed datagram between them: how many packets until the
    /// loop dies.
    #[test]
    fn a_loop_between_two_guarded_echoes_dies_after_two_packets() {
        let t0 = Instant::now();
        let (mut a, mut b) = (
            LoopGuard::new(GuardConfig::default()),
            LoopGuard::new(GuardConfig::default()),
        );
        // The attacker sends "ping" to A, spoofed from B.
        let (mut at, mut from, mut bytes) = (&mut a, addr(B), b"ping".to_vec());
        let mut other = &mut b;
        let mut packets = 0;
        while at.screen(from, &bytes, t0).is_ok() && packets < 1000 {
            bytes.make_ascii_uppercase();
            at.sent(from, &bytes, t0);
            packets += 1;
            from = if from == addr(B) { addr(A) } else { addr(B) };
            std::mem::swap(&mut at, &mut other);
        }
        assert_eq!(packets, 2, "A answers B, B answers A, A sees its own reply");
    }
}
