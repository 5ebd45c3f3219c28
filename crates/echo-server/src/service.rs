//! The echo request path as a tower [`Service`]: one request is one received datagram plus the
//! buffer its answer goes into, and the response is proto's [`Answer`]. Cross-cutting behaviour
//! (the per-source rate limit) wraps it as layers; see `dgram_net::rate_limit_layer`. Inside, proto's
//! loop guard screens each datagram before the echo rules answer it, and remembers each reply.

use std::future::{ready, Ready};
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Instant;

use dgram_proto::echo::{Answer, EchoServer, LoopGuard, ReplyKind};
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

/// Answers each datagram by proto's echo rules, unless the loop guard refuses it. Always ready.
#[derive(Debug)]
pub struct EchoService {
    proto: EchoServer,
    guard: LoopGuard,
}

impl EchoService {
    /// A service answering by `proto`'s rules what `guard` lets through.
    pub fn new(proto: EchoServer, guard: LoopGuard) -> Self {
        Self { proto, guard }
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
        if let Err(why) = self.guard.screen(req.peer, req.datagram, req.now) {
            return ready(Ok(Answer::Drop(why)));
        }
        let answer = self.proto.answer(req.peer, req.datagram, req.out);
        if let Answer::Reply {
            len,
            kind: ReplyKind::Plain,
        } = answer
        {
            if let Some(reply) = req.out.get(..len) {
                self.guard.sent(req.peer, reply, req.now);
            }
        }
        ready(Ok(answer))
    }
}
