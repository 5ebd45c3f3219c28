//! The per-IP cap on sessions as a tower [`Layer`]: a session opening from an address that
//! already holds `limit` sessions is refused (the caller tells it why); sessions are counted
//! until they close. The per-session rate limit is dgram-net's `RateLimitLayer`, keyed by
//! session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::task::{Context, Poll};

use dgram_net::rate_limit_layer::ResponseFuture;
use dgram_proto::session::SessionId;
use tower::{Layer, Service};

/// What the cap needs to know of a request.
pub trait SessionKeyed {
    /// The session it concerns.
    fn session(&self) -> SessionId;
    /// The client's address.
    fn ip(&self) -> IpAddr;
    /// Whether it opens the session.
    fn opens(&self) -> bool;
    /// Whether it closes the session.
    fn closes(&self) -> bool;
}

/// A session refused because its address holds too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sessions from {ip} (limit {limit})")]
pub struct SessionCapExceeded {
    /// The address.
    pub ip: IpAddr,
    /// The cap.
    pub limit: usize,
}

impl From<SessionCapExceeded> for crate::Error {
    fn from(e: SessionCapExceeded) -> Self {
        crate::Error::TooManySessions {
            ip: e.ip,
            limit: e.limit,
        }
    }
}

/// Applies [`SessionCap`].
#[derive(Debug, Clone, Copy)]
pub struct SessionCapLayer {
    limit: usize,
}

impl SessionCapLayer {
    /// At most `limit` open sessions per IP address.
    pub fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for SessionCapLayer {
    type Service = SessionCap<S>;

    fn layer(&self, inner: S) -> SessionCap<S> {
        SessionCap {
            inner,
            limit: self.limit,
            per_ip: HashMap::new(),
            counted: HashMap::new(),
        }
    }
}

/// Counts open sessions per IP and refuses openings over the cap.
#[derive(Debug)]
pub struct SessionCap<S> {
    inner: S,
    limit: usize,
    per_ip: HashMap<IpAddr, usize>,
    counted: HashMap<SessionId, IpAddr>,
}

impl<S> SessionCap<S> {
    /// How many sessions `ip` holds.
    pub fn sessions_from(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }
}

impl<S, R> Service<R> for SessionCap<S>
where
    S: Service<R>,
    R: SessionKeyed,
    S::Error: From<SessionCapExceeded>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if req.opens() {
            let ip = req.ip();
            let count = self.per_ip.entry(ip).or_insert(0);
            if *count >= self.limit {
                let error = SessionCapExceeded {
                    ip,
                    limit: self.limit,
                };
                return ResponseFuture::Limited {
                    error: Some(error.into()),
                };
            }
            *count += 1;
            self.counted.insert(req.session(), ip);
        } else if req.closes() {
            if let Some(ip) = self.counted.remove(&req.session()) {
                if let Some(count) = self.per_ip.get_mut(&ip) {
                    *count -= 1;
                    if *count == 0 {
                        self.per_ip.remove(&ip);
                    }
                }
            }
        }
        ResponseFuture::Inner {
            future: self.inner.call(req),
        }
    }
}
