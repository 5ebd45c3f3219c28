//! The chat request path as a tower [`Service`]: every session event that matters to chat (a
//! session opening or closing, a decoded request, a delivery report) is one [`ChatRequest`],
//! answered by the chat core with the outputs to send. Limits wrap it as layers.

use std::future::{ready, Ready};
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Instant;

use dgram_net::ratelimit::Keyed;
use dgram_proto::chat::{ChatId, ClientMsg};
use dgram_proto::session::{MessageId, SessionId};
use tower::Service;

use crate::core::{ChangeStore, Chat, Output, Ticket};
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
    /// Outputs carrying messages were handed to sessions as these `MessageId`s: one action
    /// for a whole room's fan-out, not one per recipient.
    Track(Vec<(SessionId, MessageId, ChatId)>),
    /// Sessions acknowledged messages: one action for a batch of acknowledgements (a room
    /// post's members ack within moments of each other), not one per session.
    Delivered(Vec<(SessionId, MessageId)>),
    /// The session could not deliver a message.
    Failed(MessageId, String),
    /// A message with a receipt could not be handed to the session at all.
    Unsendable(ChatId, String),
    /// Time to drop what expired.
    Expire,
    /// The store committed everything up to a ticket.
    Committed(Ticket),
    /// The store failed to commit everything up to a ticket.
    CommitFailed(Ticket, String),
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

/// The chat core over whichever store the server was started with.
pub(crate) type AnyChat = Chat<Box<dyn ChangeStore + Send>>;

/// Applies chat events to the core and returns what to send.
#[derive(Debug)]
pub struct ChatService {
    chat: AnyChat,
}

impl ChatService {
    /// A service around `chat`.
    pub(crate) fn new(chat: AnyChat) -> Self {
        Self { chat }
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
        let chat = &mut self.chat;
        let (s, ms) = (req.session, req.now_ms);
        let out = match req.action {
            Action::Open => {
                chat.open(s, req.peer);
                Vec::new()
            }
            Action::Close => chat.close(s, ms),
            Action::Migrated => {
                chat.migrated(s, req.peer);
                Vec::new()
            }
            Action::Request(msg) => chat.handle(s, ms, msg),
            Action::Malformed(why) => chat.malformed(s, &why),
            Action::Track(sent) => {
                for (session, id, c) in sent {
                    chat.track(session, id, c);
                }
                Vec::new()
            }
            Action::Delivered(acked) => chat.delivered(&acked),
            Action::Failed(id, why) => chat.failed(s, id, &why),
            Action::Unsendable(c, why) => chat.unsendable(c, &why),
            Action::Expire => chat.expire(ms),
            Action::Committed(ticket) => chat.committed(ticket),
            Action::CommitFailed(ticket, why) => chat.commit_failed(ticket, &why),
        };
        ready(Ok(out))
    }
}
