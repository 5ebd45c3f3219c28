//! Durability without I/O: in durable mode the core writes every change as an [`Op`] for the
//! driver to commit, and holds back what a change would tell clients (a message's `Accepted`,
//! its deliveries, a new claim's key) until the driver says the change is committed. A crash
//! can then lose only what nobody was told; a change whose commit fails is taken back
//! ([`undo`]). [`Snapshot`] is what a store loads at start.

mod undo;

pub(crate) use undo::Undo;

use std::collections::VecDeque;

use super::{ChatCore, Output};
use dgram_proto::chat::{ChatId, Posted, Room};
use dgram_proto::Name;

/// Orders commits: every batch of ops (all that one event caused) gets the next ticket.
pub type Ticket = u64;

/// One change to the chat state, to be made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A name was claimed.
    Claim {
        /// The name.
        name: Name,
        /// The BLAKE3 hash of its key.
        key_hash: [u8; 32],
        /// When.
        at_ms: u64,
    },
    /// A name was used.
    Touch {
        /// The name.
        user: Name,
        /// When.
        at_ms: u64,
    },
    /// A claim lapsed.
    Lapse {
        /// The name.
        user: Name,
    },
    /// A message was accepted.
    Post(Posted),
    /// A direct message awaits its recipient's acknowledgement.
    Queue {
        /// The recipient.
        user: Name,
        /// The message.
        id: ChatId,
    },
    /// A recipient's session acknowledged a direct message.
    Dequeue {
        /// The recipient.
        user: Name,
        /// The message.
        id: ChatId,
    },
    /// A user joined a room (creating it if new).
    Join {
        /// The user.
        user: Name,
        /// The room.
        room: Room,
    },
    /// A user left a room.
    Part {
        /// The user.
        user: Name,
        /// The room.
        room: Room,
    },
    /// An empty room was forgotten.
    DropRoom {
        /// The room.
        room: Room,
    },
    /// A room's topic changed.
    Topic {
        /// The room.
        room: Room,
        /// The topic.
        topic: String,
    },
    /// Messages older than `before_ms` go, and rooms keep at most `room_history` messages.
    Expire {
        /// Message cutoff.
        before_ms: u64,
        /// Messages kept per room.
        room_history: usize,
    },
}

/// A claimed name as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedUser {
    /// The name.
    pub name: Name,
    /// The BLAKE3 hash of its key.
    pub key_hash: [u8; 32],
    /// When it was last used.
    pub last_used_ms: u64,
}

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRoom {
    /// The room.
    pub room: Room,
    /// Its topic.
    pub topic: String,
    /// Its members.
    pub members: Vec<Name>,
    /// Its newest messages, oldest first.
    pub history: Vec<Posted>,
}

/// Everything a store hands the core at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Claimed names.
    pub users: Vec<SavedUser>,
    /// Rooms.
    pub rooms: Vec<SavedRoom>,
    /// Recent direct messages, oldest first.
    pub dms: Vec<Posted>,
    /// Direct messages not yet acknowledged by their recipient, oldest first.
    pub queued: Vec<(Name, Posted)>,
    /// The id the next message gets.
    pub next_id: ChatId,
}

/// The durable mode's bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    ops: VecDeque<(Ticket, Op)>,
    next: Ticket,
    /// Where the current event's outputs start in the core's queue.
    start: usize,
    dirty: bool,
    held: VecDeque<Held>,
    /// The current event's messages and how to take back its other changes.
    posts: Vec<ChatId>,
    undo: Vec<undo::Undo>,
}

/// One event's effects, held until its ticket is committed.
#[derive(Debug)]
struct Held {
    ticket: Ticket,
    /// What it would tell clients.
    outputs: Vec<Output>,
    /// The messages it accepted, taken back if the commit fails.
    posts: Vec<ChatId>,
    /// How to take back its other in-memory changes, in the order they were made.
    undo: Vec<undo::Undo>,
}

impl ChatCore {
    /// Writes `op` to the journal, in durable mode.
    pub(crate) fn log(&mut self, op: Op) {
        if let Some(j) = self.journal.as_mut() {
            if let Op::Post(p) = &op {
                j.posts.push(p.id);
            }
            j.ops.push_back((j.next, op));
            j.dirty = true;
        }
    }

    /// Marks the start of an event's effects.
    pub(crate) fn begin(&mut self) {
        let len = self.out.len();
        if let Some(j) = self.journal.as_mut() {
            j.start = len;
        }
    }

    /// Holds back what the event would tell clients, if it changed anything durable.
    pub(crate) fn end(&mut self) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        if !j.dirty {
            return;
        }
        let outputs: Vec<Output> = self.out.drain(j.start.min(self.out.len())..).collect();
        j.held.push_back(Held {
            ticket: j.next,
            outputs,
            posts: std::mem::take(&mut j.posts),
            undo: std::mem::take(&mut j.undo),
        });
        j.next += 1;
        j.dirty = false;
    }

    /// The next change to commit, with its ticket (durable mode only).
    pub fn poll_op(&mut self) -> Option<(Ticket, Op)> {
        self.journal.as_mut()?.ops.pop_front()
    }

    /// Everything up to `ticket` is committed: release what it held back.
    pub fn committed(&mut self, ticket: Ticket) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        let mut released = Vec::new();
        while j.held.front().is_some_and(|h| h.ticket <= ticket) {
            if let Some(h) = j.held.pop_front() {
                released.extend(h.outputs);
            }
        }
        self.out.extend(released);
    }

    /// Leaves out messages whose commit is still pending: nobody may read a message that a
    /// failed commit or a crash could still take back.
    pub(crate) fn committed_only(&self, messages: Vec<Posted>) -> Vec<Posted> {
        let Some(j) = self.journal.as_ref() else {
            return messages;
        };
        if j.held.is_empty() && j.posts.is_empty() {
            return messages;
        }
        let pending: std::collections::HashSet<ChatId> = j
            .held
            .iter()
            .flat_map(|h| h.posts.iter().copied())
            .chain(j.posts.iter().copied())
            .collect();
        messages
            .into_iter()
            .filter(|p| !pending.contains(&p.id))
            .collect()
    }

    /// Restores the state a store saved.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.load(snapshot);
    }
}

impl ChatCore {
    fn load(&mut self, snapshot: Snapshot) {
        use super::state::{pair_key, RoomState, User, UserKey};
        use std::collections::HashSet;

        for u in snapshot.users {
            self.state.users.insert(
                UserKey(u.name.clone()),
                Box::new(User {
                    name: u.name,
                    key_hash: u.key_hash,
                    last_used_ms: u.last_used_ms,
                    sessions: Vec::new(),
                    away: None,
                    queue: VecDeque::new(),
                    rooms: std::collections::BTreeSet::new(),
                }),
            );
        }
        for r in snapshot.rooms {
            let room_key = r.room.key().to_owned();
            let mut members = HashSet::new();
            for m in r.members {
                if let Some(u) = self.state.users.get_mut(m.key()) {
                    u.rooms.insert(room_key.clone());
                    members.insert(m.key().to_owned());
                }
            }
            let history: VecDeque<Posted> = r.history.into_iter().collect();
            self.state.rooms.insert(
                room_key,
                RoomState {
                    room: r.room,
                    topic: r.topic,
                    members,
                    history,
                },
            );
        }
        for p in snapshot.dms {
            if let dgram_proto::chat::Target::User(to) = &p.to {
                let pair = pair_key(&p.from, to);
                let cap = self.config.dm_history;
                let log = self.state.dms.entry(pair).or_default();
                super::state::push_capped(log, p, cap);
            }
        }
        // No cap here: the queue on disk also holds what was on its way to an online recipient
        // when the server stopped, all of it accepted; the cap applies as messages are queued
        // for someone offline (and what falls off it is dequeued on disk then).
        for (user, p) in snapshot.queued {
            if let Some(u) = self.state.users.get_mut(user.key()) {
                u.queue.push_back(p);
            }
        }
        self.next_id = self.next_id.max(snapshot.next_id);
    }
}
