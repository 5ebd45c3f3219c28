//! What waits for the store: each event's outputs, held under its ticket until the store
//! reports it committed (or failed), with what a failure takes back. Handlers that show
//! history read it too, so that nobody reads a message a failed commit or a crash could still
//! take back.

use std::collections::{HashSet, VecDeque};

use dgram_proto::chat::{ChatId, Posted};

use super::effects::Output;
use super::op::Ticket;
use super::undo::Undo;

/// One event's effects, held until its ticket is committed.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) ticket: Ticket,
    /// What it would tell clients.
    pub(crate) outputs: Vec<Output>,
    /// The messages it accepted, taken back if the commit fails.
    pub(crate) posts: Vec<ChatId>,
    /// How to take back its other in-memory changes, in the order they were made.
    pub(crate) undo: Vec<Undo>,
}

/// Every held event, oldest first (tickets increase).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    held: VecDeque<Held>,
}

impl Pending {
    /// Holds an event's effects.
    pub(crate) fn hold(&mut self, held: Held) {
        self.held.push_back(held);
    }

    /// How many events are held.
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }

    /// Takes every event up to `ticket`, oldest first.
    pub(crate) fn take_until(
        &mut self,
        ticket: Ticket,
    ) -> std::collections::vec_deque::Drain<'_, Held> {
        let n = self.held.iter().take_while(|h| h.ticket <= ticket).count();
        self.held.drain(..n)
    }

    /// Whether message `id`'s commit is still pending.
    pub(crate) fn holds_post(&self, id: ChatId) -> bool {
        self.held.iter().any(|h| h.posts.contains(&id))
    }

    /// Leaves out messages whose commit is still pending.
    pub(crate) fn committed_only(&self, messages: Vec<Posted>) -> Vec<Posted> {
        if self.held.iter().all(|h| h.posts.is_empty()) {
            return messages;
        }
        let pending: HashSet<ChatId> = self
            .held
            .iter()
            .flat_map(|h| h.posts.iter().copied())
            .collect();
        messages
            .into_iter()
            .filter(|p| !pending.contains(&p.id))
            .collect()
    }
}
