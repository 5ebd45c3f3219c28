//! What this client has seen, and picking a room up again after a reconnect from the last
//! message seen there, so that only what was missed is shown.
//!
//! The server replays a room's latest messages on every Join (the first join's welcome into a
//! room) and answers `History { since }` with what came after an id; it knows nothing of what
//! this client showed. So the client remembers each message it showed by id and timestamp (a
//! server without durable state hands out ids from 1 again after a restart, and a reused id
//! with another timestamp is another message), and the newest id per room. Rejoining a room
//! after a reconnect it asks for the history since that id, holds the Join's replay back until
//! that answer comes (both travel on the room's channel, the replay first), and shows the
//! messages of both it has not shown, oldest first, as the messages they are: missed, not
//! `(earlier)`.

use dgram_proto::chat::{ChatId, ClientMsg, Posted, Room, Target};

use super::requests::Purpose;
use super::{Chat, MAX_TRACKED};
use crate::note::Note;

/// The most missed messages asked for per room on a reconnect (the server's own cap on one
/// history answer).
pub(super) const CATCH_UP_LIMIT: u32 = 200;

impl Chat {
    /// Records that `posted` was shown (or sent by us); false if it had been already.
    pub(super) fn saw(&mut self, posted: &Posted) -> bool {
        self.saw_id(&posted.to, posted.id, posted.ts)
    }

    /// [`Chat::saw`], by the parts of the message that identify it.
    pub(super) fn saw_id(&mut self, to: &Target, id: ChatId, ts: u64) -> bool {
        if !self.seen.insert((id, ts)) {
            return false;
        }
        // Ids grow, so the smallest is the oldest.
        while self.seen.len() > MAX_TRACKED {
            self.seen.pop_first();
        }
        if let Target::Room(room) = to {
            let last = self.last_seen.entry(room.key().to_owned()).or_insert(id);
            *last = (*last).max(id);
        }
        true
    }

    /// After a reconnect, rejoining `room`: asks for what came since the last message seen
    /// there (nothing to ask when nothing was seen: the Join's replay is then all there is).
    pub(super) fn catch_up(&mut self, room: &Room) {
        let Some(&since) = self.last_seen.get(room.key()) else {
            return;
        };
        self.catching_up.insert(room.key().to_owned(), Vec::new());
        let req = self.new_req();
        let msg = ClientMsg::History {
            req,
            with: Target::Room(room.clone()),
            since: Some(since),
            before: None,
            limit: CATCH_UP_LIMIT,
        };
        self.submit(req, msg, Purpose::CatchUp(room.clone()));
    }

    /// The replay the server sends on a Join: held back while the room catches up, otherwise
    /// shown as history, without what was shown before.
    pub(super) fn replay_came(&mut self, with: Target, messages: Vec<Posted>) {
        if let Target::Room(room) = &with {
            if let Some(held) = self.catching_up.get_mut(room.key()) {
                held.extend(messages);
                return;
            }
        }
        for posted in messages {
            if self.saw(&posted) {
                self.show(Note::Message {
                    posted,
                    replay: true,
                });
            }
        }
    }

    /// The answer to the catch-up for `room` (empty if it failed): shows what was missed.
    pub(super) fn caught_up(&mut self, room: &Room, messages: Vec<Posted>) {
        let mut all = self.catching_up.remove(room.key()).unwrap_or_default();
        all.extend(messages);
        all.sort_by_key(|p| (p.id, p.ts));
        for posted in all {
            if self.saw(&posted) {
                self.show(Note::Message {
                    posted,
                    replay: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
