//! The seam between the chat core and where its changes are kept. A [`ChangeStore`] takes each
//! event's changes ([`Op`]s, under a [`Ticket`] that orders them) and commits them at once (the
//! in-memory store, which keeps nothing), or later and reports back through
//! [`Chat::committed`](super::Chat::committed) and
//! [`Chat::commit_failed`](super::Chat::commit_failed) (SQLite's writer thread; a replicated
//! log such as NATS JetStream fits the same shape: publish, then report the acknowledgement).
//! At start a store hands the core a [`Snapshot`](super::Snapshot) to [`restore`].
//!
//! [`restore`]: super::Chat::restore

use dgram_proto::chat::ClientMsg;
use dgram_proto::session::SessionId;

use super::op::{Op, Ticket};

/// In a cluster: a request the core could not answer from its replica alone (a DM to a name
/// it does not know, which another instance may have claimed a moment ago and whose claim
/// this replica has not applied yet). The store makes sure this replica has applied the log
/// as far as it went when asked, then hands the request back through
/// [`Chat::fenced`](super::Chat::fenced), which answers it from the state then.
#[derive(Debug)]
pub struct Fence {
    /// The session that asked.
    pub session: SessionId,
    /// What it asked.
    pub msg: ClientMsg,
}

/// What a store did with one event's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Committed already: the event's outputs may go now.
    Committed,
    /// Taken; the store reports later whether the ticket was committed.
    Pending,
    /// Refused (the store is gone): the changes are taken back, with this reason.
    Refused(String),
}

/// The reason a store that claims names itself (a cluster's name store, compare-and-set) gives
/// for a claim it refused because someone else holds the name: the claimer is told the name is
/// claimed, not that the store failed.
pub const NAME_TAKEN: &str = "the name is claimed through another instance";

/// Where the chat core's changes go.
pub trait ChangeStore: std::fmt::Debug {
    /// Whether the store keeps changes at all. One that keeps nothing is given none, so that
    /// the hot path records (and copies) nothing for it.
    fn keeps(&self) -> bool;

    /// Takes one event's changes. Tickets come in increasing order; a store that commits
    /// later reports every ticket, in order, as committed or failed.
    fn submit(&mut self, ticket: Ticket, ops: Vec<Op>) -> Submitted;

    /// How many changes wait to be committed (new messages are refused past a cap).
    fn backlog(&self) -> usize;

    /// Takes a request to answer once this replica has caught up with the log (see
    /// [`Fence`]); `Err` gives it back to be answered now: a store that is the only copy of
    /// the state (memory, SQLite) has nothing to catch up with.
    fn fence(&mut self, fence: Fence) -> Result<(), Fence> {
        Err(fence)
    }
}

/// Keeps nothing: the chat lives in memory only and every change is final at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryStore;

impl ChangeStore for MemoryStore {
    fn keeps(&self) -> bool {
        false
    }

    fn submit(&mut self, _ticket: Ticket, _ops: Vec<Op>) -> Submitted {
        Submitted::Committed
    }

    fn backlog(&self) -> usize {
        0
    }
}

/// A boxed store is a store: the server picks memory or disk at start.
impl<T: ChangeStore + ?Sized> ChangeStore for Box<T> {
    fn keeps(&self) -> bool {
        (**self).keeps()
    }

    fn submit(&mut self, ticket: Ticket, ops: Vec<Op>) -> Submitted {
        (**self).submit(ticket, ops)
    }

    fn backlog(&self) -> usize {
        (**self).backlog()
    }

    fn fence(&mut self, fence: Fence) -> Result<(), Fence> {
        (**self).fence(fence)
    }
}
