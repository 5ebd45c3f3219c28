//! The echo server library's one error type.

use std::net::SocketAddr;

/// What can go wrong in the echo server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sender is over its rate limit; the datagram was not answered.
    #[error("rate limited")]
    RateLimited,
    /// The socket failed in a way that stops the server.
    #[error("socket error on {local}")]
    Socket {
        /// The server's address.
        local: SocketAddr,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The socket's own address could not be read.
    #[error("cannot read the socket's local address")]
    LocalAddr(#[source] std::io::Error),
}

impl From<dgram_net::rate_limit_layer::RateLimited> for Error {
    fn from(_: dgram_net::rate_limit_layer::RateLimited) -> Self {
        Error::RateLimited
    }
}
