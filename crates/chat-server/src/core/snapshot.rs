//! What a store hands the chat core at start ([`Snapshot`]), and how the core restores it.

use std::collections::VecDeque;

use foldhash::{HashSet, HashSetExt};

use dgram_proto::chat::{ChatId, Posted, Room, Target, Txn};
use dgram_proto::Name;

use super::state::{pair_key, push_capped, Owner, RoomState, Sent, User};
use super::ChatCore;

/// A claimed name as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedUser {
    /// The name.
    pub name: Name,
    /// Who may speak as it.
    pub owner: Owner,
    /// When it was last used.
    pub last_used_ms: u64,
    /// Whether a session after the claiming one has used it (a new claim lapses sooner).
    pub established: bool,
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

/// A message remembered by its client-chosen id, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSent {
    /// The sender.
    pub user: Name,
    /// The client's id for it.
    pub txn: Txn,
    /// The server's.
    pub id: ChatId,
    /// When it was accepted.
    pub ts: u64,
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
    /// Messages by their senders' ids, oldest first.
    pub sent: Vec<SavedSent>,
    /// The id the next message gets.
    pub next_id: ChatId,
}

impl ChatCore {
    /// Restores the state a store saved.
    pub(crate) fn restore(&mut self, snapshot: Snapshot) {
        for u in snapshot.users {
            let mut user = User::new(u.name.clone(), u.owner, u.last_used_ms);
            user.established = u.established;
            self.state.users.insert(Box::new(user));
        }
        for r in snapshot.rooms {
            let room_key = r.room.key().to_owned();
            let mut members = HashSet::new();
            for m in r.members {
                if let Some(u) = self.state.users.get_mut(m.key()) {
                    u.activity_mut().rooms.insert(room_key.clone());
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
            if let Target::User(to) = &p.to {
                let pair = pair_key(&p.from, to);
                let cap = self.config.dm_history;
                let log = self.state.dms.log_mut(pair);
                push_capped(log, p, cap);
            }
        }
        // No cap here: the queue on disk also holds what was on its way to an online recipient
        // when the server stopped, all of it accepted; the cap applies as messages are queued
        // for someone offline (and what falls off it is dequeued on disk then).
        for (user, p) in snapshot.queued {
            if let Some(u) = self.state.users.get_mut(user.key()) {
                u.activity_mut().queue.push_back(p);
            }
        }
        let cap = self.config.sent_per_user.max(1);
        for s in snapshot.sent {
            if let Some(u) = self.state.users.get_mut(s.user.key()) {
                let (txn, id, ts) = (s.txn, s.id, s.ts);
                u.remember(Sent { txn, id, ts }, cap);
            }
        }
        self.next_id = self.next_id.max(snapshot.next_id);
    }
}
