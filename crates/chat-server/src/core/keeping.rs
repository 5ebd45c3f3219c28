//! What the chat server keeps, and for how long: the offline queue (a DM to a claimed name
//! that is not online, up to a cap past which new DMs are refused, never old ones dropped), and
//! the periodic expiry: old history and queued DMs (whose senders are told), claims unused past
//! their lifetime (a new claim's is short), and rooms nobody uses any more.

use dgram_proto::chat::{ChatId, Posted, ServerMsg};
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
        let Some(name) = self.enqueue(key, posted) else {
            return;
        };
        if self.state.users.get(key).is_some_and(|u| u.elsewhere > 0) {
            // Online through another instance: it delivers from the log, and the receipt
            // comes back with the recipient's acknowledgement.
            return;
        }
        let reason = format!("{name} is offline; queued until they return");
        fx.send(sender, ServerMsg::NotDelivered { id, reason });
    }

    /// Puts a DM on its recipient's queue; returns the recipient's name. Nothing is dropped
    /// for it: the cap is kept by refusing new DMs to a full queue (`Send`), and a DM that
    /// comes back from a failed delivery was accepted already, so it goes back on the queue
    /// even past the cap.
    pub(super) fn enqueue(&mut self, key: &str, posted: Posted) -> Option<Name> {
        let user = self.state.users.get_mut(key)?;
        user.activity_mut().queue.push_back(posted);
        Some(user.name.clone())
    }

    /// A claim lapsed: the name, its rooms and its queue are free again, and the senders of
    /// what waited for it are told.
    pub(super) fn lapse(&mut self, fx: &mut Effects, key: &str) {
        let Some(u) = self.state.users.remove(key) else {
            return;
        };
        for room in &u.activity().rooms {
            let Some(r) = self.state.rooms.get_mut(room) else {
                continue;
            };
            r.members.remove(key);
            // A room it leaves with nobody in it and nothing said is forgotten now, not at the
            // next expiry: a claim that lapses gives back the rooms it made.
            if r.members.is_empty() && r.history.is_empty() {
                if let Some(r) = self.state.rooms.remove(room) {
                    self.stats.rooms_reclaimed += 1;
                    fx.log(Op::DropRoom { room: r.room });
                }
            }
        }
        if let Some(lost) = self.notices.remove(key) {
            self.stats.notices_dropped += lost.len() as u64;
        }
        // What waited for the name will never be read: its senders are told.
        for p in &u.activity().queue {
            let reason = format!("{}'s claim lapsed", u.name);
            self.tell_unread(fx, &p.from, p.id, reason);
        }
        self.stats.claims_lapsed += 1;
        fx.log(Op::Lapse { user: u.name });
    }

    /// Drops what is older than the expiry (telling the senders of queued DMs), claims unused
    /// for longer than their lifetime, and rooms nobody uses.
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
        let unread = self.expire_queues(cutoff);
        self.stats.expired += expired + unread.len() as u64;
        for (sender, id) in unread {
            self.tell_unread(&mut fx, &sender, id, EXPIRED.to_owned());
        }
        let (ttl, new_ttl) = (self.config.claim_ttl_ms, self.config.new_claim_ttl_ms);
        let lapsed: Vec<Name> = self
            .state
            .users
            .values()
            .filter(|u| u.lapsed(ttl, new_ttl, now_ms))
            .map(|u| u.name.clone())
            .collect();
        for name in lapsed {
            self.lapse(&mut fx, name.key());
        }
        self.reclaim_rooms(&mut fx, now_ms);
        fx
    }

    /// Drops the queued DMs accepted before `cutoff`; returns each one's sender and id. The
    /// whole queue is looked at: a DM that came back from a failed delivery may stand behind
    /// newer ones.
    fn expire_queues(&mut self, cutoff: u64) -> Vec<(Name, ChatId)> {
        let mut unread = Vec::new();
        for u in self.state.users.values_mut() {
            // Not counted: a message's id outlives nothing but the message itself.
            u.trim(|a| {
                a.sent.retain(|s| s.ts >= cutoff);
                a.queue.retain(|p| {
                    let old = p.ts < cutoff;
                    if old {
                        unread.push((p.from.clone(), p.id));
                    }
                    !old
                });
            });
        }
        unread
    }

    /// Tells the sender of a DM that will never be read why (it expired, or its recipient's
    /// claim lapsed): at once when online, else at their next hello (in memory only: a
    /// restart forgets it).
    fn tell_unread(&mut self, fx: &mut Effects, sender: &Name, id: ChatId, reason: String) {
        let Some(user) = self.state.users.get(sender.key()) else {
            // The sender's own claim lapsed: nobody is left to tell.
            self.stats.notices_dropped += 1;
            return;
        };
        if user.online() {
            self.send_to_user(fx, sender.key(), ServerMsg::NotDelivered { id, reason });
            return;
        }
        let waiting = self.notices.entry(UserKey(user.name.clone())).or_default();
        if waiting.len() < MAX_NOTICES {
            waiting.push((id, reason));
        } else {
            self.stats.notices_dropped += 1;
        }
    }

    /// The notices that waited for `session`'s name, now it is back.
    pub(super) fn waiting_notices(&mut self, fx: &mut Effects, session: SessionId, key: &str) {
        for (id, reason) in self.notices.remove(key).unwrap_or_default() {
            fx.send(session, ServerMsg::NotDelivered { id, reason });
        }
    }

    /// Forgets each room with nothing left in its history whose members (if any are left) have
    /// all been offline for the room idle time: rooms nobody uses cannot fill the server.
    fn reclaim_rooms(&mut self, fx: &mut Effects, now_ms: u64) {
        let idle = self.config.room_idle_ms;
        let users = &self.state.users;
        let gone = |m: &String| {
            users
                .get(m.as_str())
                .is_none_or(|u| !u.online() && u.last_used_ms.saturating_add(idle) < now_ms)
        };
        let unused: Vec<String> = self
            .state
            .rooms
            .iter()
            .filter(|(_, r)| r.history.is_empty() && r.members.iter().all(gone))
            .map(|(k, _)| k.clone())
            .collect();
        for key in unused {
            let Some(r) = self.state.rooms.remove(&key) else {
                continue;
            };
            for m in &r.members {
                if let Some(u) = self.state.users.get_mut(m.as_str()) {
                    u.trim(|a| a.rooms.remove(&key));
                }
            }
            self.stats.rooms_reclaimed += 1;
            fx.log(Op::DropRoom { room: r.room });
        }
    }
}

/// What the sender of a DM that expired unread is told.
pub(super) const EXPIRED: &str = "expired";

/// Notices kept per offline sender; past it they are counted and dropped.
const MAX_NOTICES: usize = 1024;
