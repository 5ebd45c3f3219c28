//! The per-IP cap on sessions as a tower [`Layer`]: a session opening from an address that
//! already holds `limit` sessions is refused (the caller tells it why); sessions are counted
//! until they close. The service around the count is dgram-net's `Gated`, as for the
//! per-session rate limit, dgram-net's `RateLimitLayer` keyed by session.

use std::collections::HashMap;
use std::net::IpAddr;

use dgram_net::gate::{Gate, Gated};
use dgram_proto::session::SessionId;
use tower::Layer;

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
        let rule = SessionCount {
            limit: self.limit,
            per_ip: HashMap::new(),
            counted: HashMap::new(),
        };
        Gated::new(inner, rule)
    }
}

/// Counts open sessions per IP and refuses openings over the cap.
pub type SessionCap<S> = Gated<S, SessionCount>;

/// The cap's rule: open sessions counted per IP, from the opening request to the closing one.
#[derive(Debug)]
pub struct SessionCount {
    limit: usize,
    per_ip: HashMap<IpAddr, usize>,
    counted: HashMap<SessionId, IpAddr>,
}

impl SessionCount {
    /// How many sessions `ip` holds.
    pub fn sessions_from(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    fn opened(&mut self, session: SessionId, ip: IpAddr) -> Result<(), SessionCapExceeded> {
        let count = self.per_ip.entry(ip).or_insert(0);
        if *count >= self.limit {
            return Err(SessionCapExceeded {
                ip,
                limit: self.limit,
            });
        }
        *count += 1;
        self.counted.insert(session, ip);
        Ok(())
    }

    fn closed(&mut self, session: SessionId) {
        if let Some(ip) = self.counted.remove(&session) {
            if let Some(count) = self.per_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
    }
}

impl<R: SessionKeyed> Gate<R> for SessionCount {
    type Refusal = SessionCapExceeded;

    fn admit(&mut self, req: &R) -> Result<(), SessionCapExceeded> {
        if req.opens() {
            return self.opened(req.session(), req.ip());
        }
        if req.closes() {
            self.closed(req.session());
        }
        Ok(())
    }
}
