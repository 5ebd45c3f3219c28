//! The tower plumbing every limit in front of a service shares: a [`Gate`] decides, request by
//! request, whether it goes on to the inner service or is refused at once; [`Gated`] is the
//! service that asks it. A UDP server cannot queue a flood, so a refusal never waits: it is
//! the inner service's own error type (`From` the gate's refusal), ready when first polled.
//! Readiness is the inner service's, as tower means it: a gate holds no capacity of its own.
//!
//! tower's own `filter::Filter` has the same shape but boxes every error, which would turn the
//! servers' typed errors into downcasts; this keeps them typed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::Service;

/// A limit's rule: whether `req` may pass, and if not, why not. It may count what it lets
/// through (an opening session, say), since it sees every request before the inner service.
pub trait Gate<R> {
    /// Why a request was refused.
    type Refusal;
    /// `Ok(())` lets `req` through to the inner service.
    fn admit(&mut self, req: &R) -> Result<(), Self::Refusal>;
}

/// A service behind a [`Gate`]: what the gate admits reaches `inner`, the rest fails at once.
#[derive(Debug)]
pub struct Gated<S, G> {
    inner: S,
    gate: G,
}

impl<S, G> Gated<S, G> {
    /// `inner` behind `gate`.
    pub fn new(inner: S, gate: G) -> Self {
        Self { inner, gate }
    }

    /// The gate, to read what it counts.
    pub fn gate(&self) -> &G {
        &self.gate
    }
}

impl<S, G, R> Service<R> for Gated<S, G>
where
    S: Service<R>,
    G: Gate<R>,
    S::Error: From<G::Refusal>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.gate.admit(&req) {
            Ok(()) => ResponseFuture::Inner {
                future: self.inner.call(req),
            },
            Err(refusal) => ResponseFuture::Limited {
                error: Some(refusal.into()),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of [`Gated`]: the inner service's, or an immediate refusal.
    // The macro cannot carry field docs; the variants say what the fields are.
    #[allow(missing_docs)]
    #[project = Projection]
    #[derive(Debug)]
    pub enum ResponseFuture<F, E> {
        /// Passed to the inner service.
        Inner { #[pin] future: F },
        /// Refused by the gate; the error is taken when polled.
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
