//! The echo request path as a tower [`Service`]: one request is one received datagram plus the
//! buffer its answer goes into, and the response is proto's [`Answer`]. Cross-cutting behaviour
//! (rate limits) wraps it as layers; see `dgram_net::rate_limit_layer`.

use std::future::{ready, Ready};
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Instant;

use dgram_proto::echo::{Answer, EchoServer};
use tower::Service;

use crate::Error;
use dgram_net::rate_limit_layer::Keyed;

/// One datagram to answer. It borrows the receive buffer and the reply buffer, so the hot path
/// copies and allocates nothing it does not have to.
#[derive(Debug)]
pub struct Request<'a> {
    /// Who sent it.
    pub peer: SocketAddr,
    /// When its batch was received (one clock read per batch, not per datagram).
    pub now: Instant,
    /// Its bytes.
    pub datagram: &'a [u8],
    /// Where a reply is written; [`dgram_proto::MAX_DATAGRAM`] bytes.
    pub out: &'a mut [u8],
}

impl Keyed for Request<'_> {
    type Key = IpAddr;

    fn key(&self) -> Option<IpAddr> {
        Some(self.peer.ip())
    }

    fn now(&self) -> Instant {
        self.now
    }
}

/// Answers each datagram by proto's echo rules. Always ready.
#[derive(Debug, Clone)]
pub struct EchoService {
    proto: EchoServer,
}

impl EchoService {
    /// A service answering by `proto`'s rules.
    pub fn new(proto: EchoServer) -> Self {
        Self { proto }
    }
}

impl<'a> Service<Request<'a>> for EchoService {
    type Response = Answer;
    type Error = Error;
    type Future = Ready<Result<Answer, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<'a>) -> Self::Future {
        ready(Ok(self.proto.answer(req.peer, req.datagram, req.out)))
    }
}
