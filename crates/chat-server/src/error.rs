//! The chat server library's one error type.

use std::net::IpAddr;

/// What can go wrong in the chat server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A session is over its rate limit.
    #[error("rate limited")]
    RateLimited,
    /// An address holds as many sessions as it may.
    #[error("too many sessions from {ip} (limit {limit})")]
    TooManySessions {
        /// The address.
        ip: IpAddr,
        /// The cap.
        limit: usize,
    },
    /// The socket failed in a way that stops the server.
    #[error("socket error")]
    Socket(#[source] std::io::Error),
}

impl From<dgram_net::ratelimit::RateLimited> for Error {
    fn from(_: dgram_net::ratelimit::RateLimited) -> Self {
        Error::RateLimited
    }
}
