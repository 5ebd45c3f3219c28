//! The chat request path as a tower [`Service`]: every session event that matters to chat (a
//! session opening or closing, a decoded request, a delivery report) is one [`ChatRequest`],
//! answered by proto's `ChatCore` with the outputs to send. Limits wrap it as layers.

use std::future::{ready, Ready};
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Instant;

use dgram_net::ratelimit::Keyed;
use dgram_proto::chat::{ChatCore, ChatId, ClientMsg, Output};
use dgram_proto::session::{MessageId, SessionId};
use tower::Service;

use crate::limits::SessionKeyed;
use crate::Error;

/// What happened, for chat.
#[derive(Debug, Clone)]
pub enum Action {
    /// A session opened.
    Open,
    /// A session ended.
    Close,
    /// A session moved to a new address.
    Migrated,
    /// A request arrived.
    Request(ClientMsg),
    /// Something arrived that does not decode.
    Malformed(String),
    /// An output carrying a message was handed to the session as `MessageId`.
    Track(MessageId, ChatId),
    /// The session acknowledged a message.
    Delivered(MessageId),
    /// The session could not deliver a message.
    Failed(MessageId, String),
    /// Time to drop what expired.
    Expire,
}

/// One event for the chat service.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The session.
    pub session: SessionId,
    /// Where its client is.
    pub peer: SocketAddr,
    /// Monotonic time, for rate limits.
    pub now: Instant,
    /// Wall-clock time in UTC milliseconds, for timestamps and expiry.
    pub now_ms: u64,
    /// What happened.
    pub action: Action,
}

impl Keyed for ChatRequest {
    type Key = SessionId;

    /// Only requests spend rate: opening, closing and delivery reports are the server's own.
    fn key(&self) -> Option<SessionId> {
        matches!(self.action, Action::Request(_)).then_some(self.session)
    }

    fn now(&self) -> Instant {
        self.now
    }
}

impl SessionKeyed for ChatRequest {
    fn session(&self) -> SessionId {
        self.session
    }

    fn ip(&self) -> IpAddr {
        self.peer.ip()
    }

    fn opens(&self) -> bool {
        matches!(self.action, Action::Open)
    }

    fn closes(&self) -> bool {
        matches!(self.action, Action::Close)
    }
}

/// Applies chat events to the core and returns what to send.
#[derive(Debug)]
pub struct ChatService {
    core: ChatCore,
}

impl ChatService {
    /// A service around `core`.
    pub fn new(core: ChatCore) -> Self {
        Self { core }
    }
}

impl Service<ChatRequest> for ChatService {
    type Response = Vec<Output>;
    type Error = Error;
    type Future = Ready<Result<Vec<Output>, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ChatRequest) -> Self::Future {
        let core = &mut self.core;
        let (s, ms) = (req.session, req.now_ms);
        match req.action {
            Action::Open => core.open(s, req.peer),
            Action::Close => core.close(s, ms),
            Action::Migrated => core.migrated(s, req.peer),
            Action::Request(msg) => core.handle(s, ms, msg),
            Action::Malformed(why) => core.malformed(s, &why),
            Action::Track(id, chat) => core.track(s, id, chat),
            Action::Delivered(id) => core.delivered(s, id),
            Action::Failed(id, why) => core.failed(s, id, &why),
            Action::Expire => core.expire(ms),
        }
        ready(Ok(std::iter::from_fn(|| core.poll_output()).collect()))
    }
}
