//! What the chat server keeps, and for how long: the offline queue (a DM to a claimed name
//! that is not online, up to a cap), and the periodic expiry of old history and queued DMs and
//! of claims unused for longer than their lifetime.

use dgram_proto::chat::{Posted, ServerMsg};
use dgram_proto::session::SessionId;
use dgram_proto::Name;

use super::effects::Effects;
use super::op::Op;
use super::state::{self, UserKey};
use super::ChatCore;

impl ChatCore {
    /// Queues a DM for an offline recipient and tells its sender so.
    pub(super) fn queue(&mut self, fx: &mut Effects, key: &str, posted: Posted, sender: SessionId) {
        let id = posted.id;
        let Some(name) = self.enqueue(fx, key, posted) else {
            return;
        };
        let reason = format!("{name} is offline; queued until they return");
        fx.send(sender, ServerMsg::NotDelivered { id, reason });
    }

    /// Puts a DM on its recipient's queue; what falls off the cap is counted, and dequeued on
    /// disk too. Returns the recipient's name.
    pub(super) fn enqueue(&mut self, fx: &mut Effects, key: &str, posted: Posted) -> Option<Name> {
        let cap = self.config.queue;
        let user = self.state.users.get_mut(key)?;
        let name = user.name.clone();
        user.queue.push_back(posted);
        let mut dropped = 0;
        while user.queue.len() > cap {
            if let Some(p) = user.queue.pop_front() {
                dropped += 1;
                let user = name.clone();
                fx.log(Op::Dequeue { user, id: p.id });
            }
        }
        self.stats.queue_dropped += dropped;
        Some(name)
    }

    /// A claim lapsed: the name, its rooms and its queue are free again.
    pub(super) fn lapse(&mut self, fx: &mut Effects, key: &str) {
        let Some(u) = self.state.users.remove(key) else {
            return;
        };
        for room in &u.rooms {
            if let Some(r) = self.state.rooms.get_mut(room) {
                r.members.remove(key);
            }
        }
        self.stats.claims_lapsed += 1;
        fx.log(Op::Lapse { user: u.name });
    }

    /// Drops what is older than the expiry and claims unused for longer than their lifetime.
    pub(super) fn expire(&mut self, now_ms: u64) -> Effects {
        let mut fx = self.effects();
        let cutoff = now_ms.saturating_sub(self.config.expiry_ms);
        fx.log(Op::Expire {
            before_ms: cutoff,
            room_history: self.config.room_history,
        });
        let mut expired = 0;
        for r in self.state.rooms.values_mut() {
            expired += state::expire(&mut r.history, cutoff);
        }
        for log in self.state.dms.values_mut() {
            expired += state::expire(log, cutoff);
        }
        self.state.dms.retain(|_, log| !log.is_empty());
        for u in self.state.users.values_mut() {
            expired += state::expire(&mut u.queue, cutoff);
            // Not counted: a message's id outlives nothing but the message itself.
            u.sent.retain(|s| s.ts >= cutoff);
        }
        self.stats.expired += expired;
        let ttl = self.config.claim_ttl_ms;
        let lapsed: Vec<UserKey> = self
            .state
            .users
            .iter()
            .filter(|(_, u)| !u.online() && u.last_used_ms + ttl < now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for key in lapsed {
            self.lapse(&mut fx, key.0.key());
        }
        fx
    }
}
