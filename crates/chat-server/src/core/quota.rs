//! What one client network may create: rooms and name claims, each a token bucket per network
//! (proto's [`KeyedLimiter`]), so that one address cannot use up the server's rooms or claim
//! names by the thousand. A network is what one subscriber usually holds ([`Network`]): an IPv4
//! address, or an IPv6 /64, so that cycling through the addresses of one /64 buys nothing.
//!
//! The buckets measure only differences of time, so the core's wall-clock milliseconds are laid
//! on one `Instant` taken at the first check: the rules stay a function of the clock they are
//! given (a test's simulated one included), and a wall clock that steps back counts as no time
//! passing.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dgram_proto::network::Network;
use dgram_proto::token_bucket::{KeyedLimiter, Rate};

use super::ChatConfig;

/// Networks remembered per quota: a full bucket is forgotten, so this bounds only a flood of
/// networks that each spent some of theirs.
const MAX_NETWORKS: usize = 65_536;

/// One quota: a bucket per network, made at its first use.
#[derive(Debug)]
struct Quota {
    rate: Option<Rate>,
    limiter: Option<KeyedLimiter<Network>>,
}

impl Quota {
    fn new(rate: Option<Rate>) -> Self {
        Self {
            rate,
            limiter: None,
        }
    }

    fn take(&mut self, network: Network, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        self.limiter
            .get_or_insert_with(|| KeyedLimiter::new(rate, MAX_NETWORKS, now))
            .check(&network, now)
    }
}

/// The quotas on what networks create.
#[derive(Debug)]
pub(crate) struct Quotas {
    rooms: Quota,
    claims: Quota,
    /// The first check's wall-clock time, and the `Instant` it is laid on.
    anchor: Option<(u64, Instant)>,
}

impl Quotas {
    pub(crate) fn new(config: &ChatConfig) -> Self {
        Self {
            rooms: Quota::new(config.rooms_per_network),
            claims: Quota::new(config.claims_per_network),
            anchor: None,
        }
    }

    /// The bucket clock's time at wall-clock `now_ms`.
    fn instant(&mut self, now_ms: u64) -> Instant {
        let (ms, at) = *self.anchor.get_or_insert_with(|| (now_ms, Instant::now()));
        let since = Duration::from_millis(now_ms.saturating_sub(ms));
        // Centuries past the anchor do not fit an `Instant` everywhere: then time stops.
        at.checked_add(since).unwrap_or(at)
    }

    /// Takes one room creation from `ip`'s network's quota; `false`: over it.
    pub(crate) fn create_room(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        let now = self.instant(now_ms);
        self.rooms.take(Network::of(ip), now)
    }

    /// Takes one claim from `ip`'s network's quota; `false`: over it.
    pub(crate) fn claim(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        let now = self.instant(now_ms);
        self.claims.take(Network::of(ip), now)
    }
}

/// How a quota reads in an error: "10 an hour".
pub(crate) fn describe(rate: Option<Rate>) -> String {
    match rate {
        Some(r) => format!("{} an hour", (r.per_second * 3600.0).round()),
        None => "no limit".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: u64 = 60 * 60 * 1000;

    #[test]
    fn a_network_gets_its_quota_an_hour_and_others_theirs() {
        let config = ChatConfig::default();
        let mut q = Quotas::new(&config);
        let t0 = 1_700_000_000_000;
        let attacker: IpAddr = "192.0.2.1".parse().expect("ip");
        let neighbour: IpAddr = "2001:db8::1".parse().expect("ip");
        let sibling: IpAddr = "2001:db8::2".parse().expect("ip");
        assert_eq!((0..25).filter(|_| q.create_room(attacker, t0)).count(), 10);
        assert!(q.create_room(neighbour, t0), "another network has its own");
        assert_eq!((0..25).filter(|_| q.create_room(sibling, t0)).count(), 9);
        // An hour refills the quota, and a clock stepping back gives nothing.
        assert!(!q.create_room(attacker, t0 - HOUR_MS));
        let later = t0 + HOUR_MS;
        assert_eq!(
            (0..25).filter(|_| q.create_room(attacker, later)).count(),
            10
        );
        // Claims are a quota of their own.
        assert_eq!((0..25).filter(|_| q.claim(attacker, later)).count(), 20);
    }

    #[test]
    fn no_rate_is_no_limit() {
        let config = ChatConfig {
            rooms_per_network: None,
            claims_per_network: None,
            ..ChatConfig::default()
        };
        let mut q = Quotas::new(&config);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!((0..1000).all(|_| q.create_room(ip, 0) && q.claim(ip, 0)));
        assert_eq!(describe(config.rooms_per_network), "no limit");
        assert_eq!(
            describe(ChatConfig::default().rooms_per_network),
            "10 an hour"
        );
    }
}
