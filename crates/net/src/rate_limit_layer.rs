//! A per-key token-bucket rate limit as a tower [`Layer`]: a flood from one source slows only
//! that source. Requests over the limit fail at once with [`RateLimited`] (a UDP server cannot
//! queue a flood, and answering it would feed it); the bucket logic is proto's
//! [`KeyedLimiter`], which bounds how many keys it remembers, and the service around it is
//! [`crate::gate`]'s.

use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Instant;

use dgram_proto::token_bucket::{KeyedLimiter, Rate};
use tower::Layer;

use crate::gate::{Gate, Gated};
// The response future is the gate's; named here too for the layers built on this one.
pub use crate::gate::ResponseFuture;

/// A request that says whose budget it spends and when it arrived.
pub trait Keyed {
    /// What requests are limited by (the source IP address, say).
    type Key: Hash + Eq + Clone;
    /// The request's key; `None` exempts the request (a session opening or closing, say).
    fn key(&self) -> Option<Self::Key>;
    /// When the request arrived.
    fn now(&self) -> Instant;
}

/// The error of a request over its key's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited")]
pub struct RateLimited;

/// Applies [`RateLimit`] to a service; `K` is the key requests are limited by.
#[derive(Debug)]
pub struct RateLimitLayer<K> {
    rate: Rate,
    max_keys: usize,
    _key: PhantomData<fn() -> K>,
}

impl<K> RateLimitLayer<K> {
    /// `rate` per key, remembering at most `max_keys` keys.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys,
            _key: PhantomData,
        }
    }
}

impl<K> Clone for RateLimitLayer<K> {
    fn clone(&self) -> Self {
        Self::new(self.rate, self.max_keys)
    }
}

impl<S, K> Layer<S> for RateLimitLayer<K> {
    type Service = RateLimit<S, K>;

    fn layer(&self, inner: S) -> RateLimit<S, K> {
        let rule = PerKeyRate {
            rate: self.rate,
            max_keys: self.max_keys,
            limiter: None,
        };
        Gated::new(inner, rule)
    }
}

/// Rejects requests whose key is over its rate, passes the rest to the inner service.
pub type RateLimit<S, K> = Gated<S, PerKeyRate<K>>;

/// The rate limit's rule: a token bucket per key; a request without a key always passes.
#[derive(Debug)]
pub struct PerKeyRate<K> {
    rate: Rate,
    max_keys: usize,
    // Created on the first request, from that request's clock, so that tests and simulations
    // can drive the limiter with their own instants.
    limiter: Option<KeyedLimiter<K>>,
}

impl<R, K> Gate<R> for PerKeyRate<K>
where
    R: Keyed<Key = K>,
    K: Hash + Eq + Clone,
{
    type Refusal = RateLimited;

    fn admit(&mut self, req: &R) -> Result<(), RateLimited> {
        let now = req.now();
        let (rate, max_keys) = (self.rate, self.max_keys);
        let limiter = self
            .limiter
            .get_or_insert_with(|| KeyedLimiter::new(rate, max_keys, now));
        if req.key().is_none_or(|key| limiter.check(&key, now)) {
            Ok(())
        } else {
            Err(RateLimited)
        }
    }
}
