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

use crate::core::{ChatCore, Output, Ticket};
use crate::limits::SessionKeyed;
use crate::store::writer::Writer;
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

/// Applies chat events to the core, hands its changes to the store, and returns what to send.
#[derive(Debug)]
pub struct ChatService {
    core: ChatCore,
    writer: Option<Writer>,
}

impl ChatService {
    /// A service around `core`, in memory.
    pub fn new(core: ChatCore) -> Self {
        Self { core, writer: None }
    }

    /// A service around a durable `core` whose changes `writer` commits.
    pub(crate) fn durable(core: ChatCore, writer: Writer) -> Self {
        Self {
            core,
            writer: Some(writer),
        }
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
            Action::Track(sent) => {
                for (session, id, chat) in sent {
                    core.track(session, id, chat);
                }
            }
            Action::Delivered(acked) => {
                for (session, id) in acked {
                    core.delivered(session, id);
                }
            }
            Action::Failed(id, why) => core.failed(s, id, &why),
            Action::Unsendable(chat, why) => core.unsendable(chat, &why),
            Action::Expire => core.expire(ms),
            Action::Committed(ticket) => core.committed(ticket),
            Action::CommitFailed(ticket, why) => core.commit_failed(ticket, &why),
        }
        if let Some(writer) = &self.writer {
            let mut batch: Option<(Ticket, Vec<_>)> = None;
            while let Some((ticket, op)) = core.poll_op() {
                match batch.as_mut() {
                    Some((t, ops)) if *t == ticket => ops.push(op),
                    _ => {
                        if let Some((t, ops)) = batch.replace((ticket, vec![op])) {
                            push(core, writer, t, ops);
                        }
                    }
                }
            }
            if let Some((t, ops)) = batch {
                push(core, writer, t, ops);
            }
        }
        ready(Ok(core.take_outputs()))
    }
}

/// Hands a ticket's ops to the writer; if it is gone, nothing more can be committed.
fn push(core: &mut ChatCore, writer: &Writer, ticket: Ticket, ops: Vec<crate::core::Op>) {
    if !writer.push(ticket, ops) {
        core.commit_failed(ticket, "the store stopped");
    }
}
