//! A per-key token-bucket rate limit as a tower [`Layer`]: a flood from one source slows only
//! that source. Requests over the limit fail at once with [`RateLimited`] (a UDP server cannot
//! queue a flood, and answering it would feed it); the bucket logic is proto's
//! [`KeyedLimiter`], which bounds how many keys it remembers.

use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use dgram_proto::token_bucket::{KeyedLimiter, Rate};
use tower::{Layer, Service};

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
        RateLimit {
            inner,
            rate: self.rate,
            max_keys: self.max_keys,
            limiter: None,
        }
    }
}

/// Rejects requests whose key is over its rate, passes the rest to the inner service.
#[derive(Debug)]
pub struct RateLimit<S, K> {
    inner: S,
    rate: Rate,
    max_keys: usize,
    // Created on the first request, from that request's clock, so that tests and simulations
    // can drive the limiter with their own instants.
    limiter: Option<KeyedLimiter<K>>,
}

impl<S, R, K> Service<R> for RateLimit<S, K>
where
    S: Service<R>,
    R: Keyed<Key = K>,
    K: Hash + Eq + Clone,
    S::Error: From<RateLimited>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let now = req.now();
        let (rate, max_keys) = (self.rate, self.max_keys);
        let limiter = self
            .limiter
            .get_or_insert_with(|| KeyedLimiter::new(rate, max_keys, now));
        if req.key().is_none_or(|key| limiter.check(&key, now)) {
            ResponseFuture::Inner {
                future: self.inner.call(req),
            }
        } else {
            ResponseFuture::Limited {
                error: Some(RateLimited.into()),
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of [`RateLimit`]: the inner service's, or an immediate rejection.
    // The macro cannot carry field docs; the variants say what the fields are.
    #[allow(missing_docs)]
    #[project = Projection]
    #[derive(Debug)]
    pub enum ResponseFuture<F, E> {
        /// Passed to the inner service.
        Inner { #[pin] future: F },
        /// Rejected; the error is taken when polled.
        Limited { error: Option<E> },
    }
}

impl<F, T, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projection::Inner { future } => future.poll(cx),
            Projection::Limited { error } => match error.take() {
                Some(e) => Poll::Ready(Err(e)),
                // Polled again after completion: stay pending rather than panic.
                None => Poll::Pending,
            },
        }
    }
}
