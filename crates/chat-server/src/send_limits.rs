//! The sending limits that hold across sessions, as a tower [`Layer`]: every message (a `Send`)
//! spends a token of the name it is sent as and one of the network it comes from (an IPv4
//! address, or an IPv6 /64), each a keyed token bucket (proto's [`KeyedLimiter`]). Opening more
//! sessions, or sending as one name from many addresses, then buys no more sending than each
//! bucket allows; the per-session limit (dgram-net's `RateLimitLayer`) still holds inside them.
//! A message over either limit fails at once with [`SendLimited`], which its sender is told.

use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::Instant;

use dgram_net::rate_limit_layer::ResponseFuture;
use dgram_proto::token_bucket::{KeyedLimiter, Rate};
use dgram_proto::Name;
use tower::{Layer, Service};

use dgram_proto::network::Network;

/// What the sending limits need to know of a request.
pub trait Spends {
    /// Whether it is a message, which spends the sending limits.
    fn sends(&self) -> bool;
    /// The name it is sent as, once its session has said who it is.
    fn name(&self) -> Option<&Name>;
    /// The client's address.
    fn ip(&self) -> IpAddr;
    /// When it arrived.
    fn now(&self) -> Instant;
}

/// A message over a sending limit: whose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendLimited {
    /// Everything sent as this name, from every session, is over the name's limit.
    #[error("messages sent as {0} come too fast, from all its sessions together")]
    Name(Name),
    /// Everything sent from this network is over the network's limit.
    #[error("messages from your network ({0}) come too fast, from all its sessions together")]
    Network(Network),
}

/// Applies [`SendLimit`]; a rate of `None` turns that limit off.
#[derive(Debug, Clone, Copy)]
pub struct SendLimitLayer {
    by_name: Option<Rate>,
    by_network: Option<Rate>,
    max_keys: usize,
}

impl SendLimitLayer {
    /// `by_name` per name and `by_network` per network, each remembering at most `max_keys`.
    pub fn new(by_name: Option<Rate>, by_network: Option<Rate>, max_keys: usize) -> Self {
        Self {
            by_name,
            by_network,
            max_keys,
        }
    }
}

impl<S> Layer<S> for SendLimitLayer {
    type Service = SendLimit<S>;

    fn layer(&self, inner: S) -> SendLimit<S> {
        SendLimit {
            inner,
            by_name: Bucket::new(self.by_name, self.max_keys),
            by_network: Bucket::new(self.by_network, self.max_keys),
        }
    }
}

/// One limit: a bucket per key, made at the first request (from that request's clock, so that
/// tests drive it with their own instants).
#[derive(Debug)]
struct Bucket<K> {
    rate: Option<Rate>,
    max_keys: usize,
    limiter: Option<KeyedLimiter<K>>,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    fn new(rate: Option<Rate>, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys,
            limiter: None,
        }
    }

    fn take(&mut self, key: &K, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let max_keys = self.max_keys;
        self.limiter
            .get_or_insert_with(|| KeyedLimiter::new(rate, max_keys, now))
            .check(key, now)
    }
}

/// Refuses messages over their name's or their network's limit; passes everything else.
#[derive(Debug)]
pub struct SendLimit<S> {
    inner: S,
    by_name: Bucket<Name>,
    by_network: Bucket<Network>,
}

impl<S> SendLimit<S> {
    /// Which limit, if any, `req` is over; spends its tokens otherwise. The name is asked
    /// first, so that a name over its limit does not spend its network's share.
    fn over<R: Spends>(&mut self, req: &R) -> Option<SendLimited> {
        if !req.sends() {
            return None;
        }
        let now = req.now();
        if let Some(name) = req.name() {
            if !self.by_name.take(name, now) {
                return Some(SendLimited::Name(name.clone()));
            }
        }
        let network = Network::of(req.ip());
        if !self.by_network.take(&network, now) {
            return Some(SendLimited::Network(network));
        }
        None
    }
}

impl<S, R> Service<R> for SendLimit<S>
where
    S: Service<R>,
    R: Spends,
    S::Error: From<SendLimited>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.over(&req) {
            Some(limited) => ResponseFuture::Limited {
                error: Some(limited.into()),
            },
            None => ResponseFuture::Inner {
                future: self.inner.call(req),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Msg {
        name: Option<Name>,
        ip: IpAddr,
        now: Instant,
        sends: bool,
    }

    impl Spends for Msg {
        fn sends(&self) -> bool {
            self.sends
        }
        fn name(&self) -> Option<&Name> {
            self.name.as_ref()
        }
        fn ip(&self) -> IpAddr {
            self.ip
        }
        fn now(&self) -> Instant {
            self.now
        }
    }

    const RATE: Rate = Rate {
        per_second: 2.0,
        burst: 4,
    };

    fn msg(name: &str, ip: &str, now: Instant) -> Msg {
        Msg {
            name: Some(Name::new(name).expect("name")),
            ip: ip.parse().expect("ip"),
            now,
            sends: true,
        }
    }

    fn limit(by_name: Option<Rate>, by_network: Option<Rate>) -> SendLimit<()> {
        SendLimitLayer::new(by_name, by_network, 1024).layer(())
    }

    #[test]
    fn one_name_from_many_networks_shares_one_bucket() {
        let t0 = Instant::now();
        let mut l = limit(Some(RATE), None);
        let ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
        let passed = (0..12)
            .filter(|i| l.over(&msg("Mallory", ips[i % 3], t0)).is_none())
            .count();
        assert_eq!(passed, 4);
        // Spelled otherwise, it is the same name.
        let over = l.over(&msg("mallory", "192.0.2.9", t0));
        assert!(matches!(over, Some(SendLimited::Name(n)) if n.key() == "mallory"));
        assert!(l.over(&msg("alex", "192.0.2.1", t0)).is_none());
        // Half a second refills one token.
        let later = t0 + Duration::from_millis(500);
        assert!(l.over(&msg("mallory", "192.0.2.1", later)).is_none());
        assert!(l.over(&msg("mallory", "192.0.2.1", later)).is_some());
    }

    #[test]
    fn many_names_from_one_slash_64_share_one_bucket() {
        let t0 = Instant::now();
        let mut l = limit(None, Some(RATE));
        let passed = (0..12)
            .filter(|i| {
                let ip = format!("2001:db8::{i:x}");
                l.over(&msg(&format!("n{i}"), &ip, t0)).is_none()
            })
            .count();
        assert_eq!(passed, 4);
        let over = l.over(&msg("other", "2001:db8::ff", t0));
        let said = over.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            said.starts_with("messages from your network (2001:db8::/64) come too fast"),
            "{said}"
        );
        assert!(l.over(&msg("other", "2001:db8:0:1::1", t0)).is_none());
    }

    #[test]
    fn only_messages_spend_and_no_rate_is_no_limit() {
        let t0 = Instant::now();
        let mut l = limit(Some(RATE), Some(RATE));
        let mut other = msg("alex", "192.0.2.1", t0);
        other.sends = false;
        assert!((0..100).all(|_| l.over(&other).is_none()));
        let mut anonymous = msg("alex", "192.0.2.1", t0);
        anonymous.name = None;
        assert_eq!((0..10).filter(|_| l.over(&anonymous).is_none()).count(), 4);
        let mut off = limit(None, None);
        assert!((0..100).all(|_| off.over(&msg("alex", "192.0.2.1", t0)).is_none()));
    }
}
