//! [`Chat`]: the chat core over a [`ChangeStore`], and the one place that holds outputs back
//! until their changes are committed. An event that changed nothing durable is answered at
//! once; one that did gets the next ticket, its changes go to the store, and what it would
//! tell clients (a message's `Accepted`, its deliveries, a new claim's key) waits for the
//! store's report. A failed commit is taken back: the requester gets an error instead of the
//! answer, and nobody else hears of it. With the in-memory store nothing is ever held, so
//! "in memory" and "durable" are the same core with a different store underneath.

use std::net::SocketAddr;
use std::sync::Arc;

use dgram_proto::chat::{ChatId, ClientMsg, ErrorKind, ServerMsg};
use dgram_proto::session::{MessageId, SessionId};
use dgram_proto::Name;

use super::effects::{Effects, Output};
use super::op::{Op, Ticket};
use super::pending::{Held, Pending};
use super::snapshot::Snapshot;
use super::store::{ChangeStore, Fence, Submitted, NAME_TAKEN};
use super::{ChatConfig, ChatCore, ChatStats, PeerKey};

/// The chat server's rules over a store.
#[derive(Debug)]
pub struct Chat<S> {
    core: ChatCore,
    store: S,
    pending: Pending,
    next: Ticket,
}

impl<S: ChangeStore> Chat<S> {
    /// A chat server whose changes go to `store`.
    pub fn new(config: ChatConfig, store: S) -> Self {
        let keep = store.keeps();
        Self {
            core: ChatCore::new(config, keep),
            store,
            pending: Pending::default(),
            next: 0,
        }
    }

    /// Restores the state a store saved.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.core.restore(snapshot);
    }

    /// Makes this core one instance of a cluster: ids from here on are `offset` modulo `step`
    /// (each instance its own), and who comes and goes here is logged for the others.
    pub fn id_space(&mut self, step: u64, offset: u64) {
        self.core.id_space(step, offset);
    }

    /// In a cluster: applies one event's changes made by another instance, `origin` (already
    /// in the replicated log, so nothing is held); returns what to tell the sessions here.
    /// `live` is false while the log is replayed at start.
    pub fn replicate(&mut self, origin: &str, ops: Vec<Op>, live: bool) -> Vec<Output> {
        let mut out = self.core.replicate(origin, ops, live).out;
        // What it asks to log in turn (that this instance's sessions have a room post made
        // elsewhere) goes to the store as an event of its own; nobody waits for its answer.
        let received = self.core.take_received();
        if live && !received.is_empty() {
            let mut fx = Effects::new(true);
            fx.ops = received;
            out.extend(self.settle(fx));
        }
        out
    }

    /// In a cluster: the others declared this instance gone while it lives; logs again who
    /// is online here, for them.
    pub fn reannounce(&mut self) -> Vec<Output> {
        let fx = self.core.reannounce();
        self.settle(fx)
    }

    /// Counters for the logs.
    pub fn stats(&self) -> ChatStats {
        self.core.stats
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, to take what it was given (a test's store, say).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The name `session` speaks as, once it has said.
    pub fn speaks_as(&self, session: SessionId) -> Option<Name> {
        self.core.state.sessions.get(&session)?.user.clone()
    }

    /// How many events' outputs wait for their commit.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// A session opened from `peer` by the client whose long-term key (proved in the
    /// session's handshake) is `key`; names bind to it.
    pub fn open(&mut self, session: SessionId, peer: SocketAddr, key: Option<PeerKey>) {
        self.core.open(session, peer, key);
    }

    /// A session moved to a new address.
    pub fn migrated(&mut self, session: SessionId, peer: SocketAddr) {
        self.core.migrated(session, peer);
    }

    /// A session ended.
    pub fn close(&mut self, session: SessionId, now_ms: u64) -> Vec<Output> {
        let fx = self.core.close(session, now_ms);
        self.settle(fx)
    }

    /// Handles one request from a session.
    pub fn handle(&mut self, session: SessionId, now_ms: u64, msg: ClientMsg) -> Vec<Output> {
        let mut fx = self
            .core
            .handle(session, (now_ms, false), msg, &self.pending);
        if let Some(fence) = fx.fence.take() {
            // A store that is the only copy of the state has the answer now.
            if let Err(fence) = self.store.fence(fence) {
                fx = self.handle_fenced(fence, now_ms);
            }
        }
        self.settle(fx)
    }

    /// In a cluster: this replica caught up with the log after `fence`'s request came
    /// (`Ok`), or could not in time (`Err`, why); answers it now, from the state as it is.
    pub fn fenced(
        &mut self,
        fence: Fence,
        now_ms: u64,
        caught_up: Result<(), &str>,
    ) -> Vec<Output> {
        let fx = match caught_up {
            Ok(()) => self.handle_fenced(fence, now_ms),
            Err(why) => self.core.fence_failed(fence, why),
        };
        self.settle(fx)
    }

    fn handle_fenced(&mut self, fence: Fence, now_ms: u64) -> Effects {
        let Fence { session, msg } = fence;
        self.core
            .handle(session, (now_ms, true), msg, &self.pending)
    }

    /// Tells a session it sent something undecodable.
    pub fn malformed(&mut self, session: SessionId, why: &str) -> Vec<Output> {
        let fx = self.core.malformed(session, why);
        self.settle(fx)
    }

    /// The driver sent an output that waits for a receipt; `id` is its session message id.
    pub fn track(&mut self, session: SessionId, id: MessageId, chat: ChatId) {
        self.core.track(session, id, chat);
    }

    /// Recipients' sessions acknowledged messages: each is its own change, as it came.
    pub fn delivered(&mut self, acked: &[(SessionId, MessageId)]) -> Vec<Output> {
        let mut out = Vec::new();
        for &(session, id) in acked {
            let fx = self.core.delivered(session, id);
            let released = self.settle(fx);
            if out.is_empty() {
                out = released;
            } else {
                out.extend(released);
            }
        }
        out
    }

    /// A recipient's session could not be reached with a message.
    pub fn failed(&mut self, session: SessionId, id: MessageId, reason: &str) -> Vec<Output> {
        let fx = self.core.failed(session, id, reason);
        self.settle(fx)
    }

    /// A message with a receipt could not even be handed to a recipient's session.
    pub fn unsendable(&mut self, chat: ChatId, reason: &str) -> Vec<Output> {
        let fx = self.core.unsendable(chat, reason);
        self.settle(fx)
    }

    /// Drops what is older than the expiry and claims unused for longer than their lifetime.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Output> {
        let fx = self.core.expire(now_ms);
        self.settle(fx)
    }

    /// Sends what needs no commit; gives the store what does and holds its outputs.
    fn settle(&mut self, fx: Effects) -> Vec<Output> {
        if !fx.durable() {
            return fx.out;
        }
        let ticket = self.next;
        self.next += 1;
        let Effects {
            out,
            ops,
            posts,
            undo,
            ..
        } = fx;
        let held = Held {
            ticket,
            outputs: out,
            posts,
            undo,
        };
        match self.store.submit(ticket, ops) {
            Submitted::Committed => held.outputs,
            Submitted::Pending => {
                self.pending.hold(held);
                Vec::new()
            }
            Submitted::Refused(why) => {
                self.pending.hold(held);
                self.commit_failed(ticket, &why)
            }
        }
    }

    /// Everything up to `ticket` is committed: releases what it held back.
    pub fn committed(&mut self, ticket: Ticket) -> Vec<Output> {
        let mut released = Vec::new();
        for h in self.pending.take_until(ticket) {
            released.extend(h.outputs);
        }
        released
    }

    /// Everything up to `ticket` could not be committed: its changes are taken back, their
    /// requesters told why, and nothing is delivered.
    pub fn commit_failed(&mut self, ticket: Ticket, why: &str) -> Vec<Output> {
        let failed: Vec<Held> = self.pending.take_until(ticket).collect();
        let state = &mut self.core.state;
        // Newest first, so that each change is taken back from the state it left.
        for undo in failed.iter().rev().flat_map(|h| h.undo.iter().rev()) {
            state.take_back(undo);
        }
        let mut out = Vec::new();
        for h in failed {
            state.forget_posts(&h.posts);
            // A claim, join, part or topic was one request: its answer becomes the error, and
            // the notices it would have sent others (presence, topic, the joiner's replay) go.
            let request_only = !h.undo.is_empty();
            for held in h.outputs {
                out.extend(failed_output(held, why, request_only));
            }
        }
        out
    }
}

/// What becomes of one held output when its commit failed: `None` when it is not sent.
fn failed_output(out: Output, why: &str, request_only: bool) -> Option<Output> {
    let msg = match &*out.msg {
        ServerMsg::Accepted { req, .. } => ServerMsg::Error {
            req: Some(*req),
            kind: ErrorKind::Unavailable,
            message: format!("the server could not store this ({why}); it was not sent"),
        },
        // A claim that lost a race to another instance (the cluster's create-only names).
        ServerMsg::Welcome { name, .. } if request_only && why == NAME_TAKEN => ServerMsg::Error {
            req: None,
            kind: ErrorKind::Claimed,
            message: format!("the name {name} is claimed (just now); pick another name"),
        },
        // A claim (or an old claim's proof) was the request: its undo forgot it.
        ServerMsg::Welcome { name, .. } if request_only => ServerMsg::Error {
            req: None,
            kind: ErrorKind::Unavailable,
            message: format!("the server could not store your claim on {name} ({why}); try again"),
        },
        ServerMsg::Done { req } if request_only => ServerMsg::Error {
            req: Some(*req),
            kind: ErrorKind::Unavailable,
            message: format!("the server could not store this ({why}); nothing changed"),
        },
        ServerMsg::Message(_) | ServerMsg::NotDelivered { .. } => return None,
        _ if request_only => return None,
        _ => return Some(out),
    };
    Some(Output {
        msg: Arc::new(msg),
        ..out
    })
}
