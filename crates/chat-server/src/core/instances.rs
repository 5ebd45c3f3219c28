//! What one instance of a cluster knows of the others: which names each shows online (so
//! that one that dies takes its names offline, `Op::Gone`, and one declared gone while it
//! lives says again who is on), and a room post's receipt across instances: the sender's
//! instance waits for a `Received` from each other instance showing a member online, and an
//! instance whose sessions had a post made elsewhere logs that in turn.

use dgram_proto::chat::{ChatId, Posted, Presence, ServerMsg};
use dgram_proto::session::SessionId;
use dgram_proto::Name;

use super::effects::Effects;
use super::op::Op;
use super::ChatCore;

impl ChatCore {
    /// A name came online on another instance, `origin`, or went offline there. Each
    /// instance says so once per name (its first session there, its last), so news that
    /// changes nothing there (a second "online", an "offline" for a name this replica never
    /// saw come, as after a restart) changes nothing here either.
    pub(super) fn remote_presence(
        &mut self,
        fx: &mut Effects,
        origin: &str,
        user: &Name,
        online: bool,
    ) {
        let there = self.online_at.entry(origin.to_owned()).or_default();
        let changed = match online {
            true => there.insert(user.key().to_owned()),
            false => there.remove(user.key()),
        };
        if changed {
            self.elsewhere(fx, user, online);
        }
        if changed && !online {
            self.stop_awaiting(fx, origin, false);
        }
    }

    /// Another instance stopped without closing its sessions: every name it showed online is
    /// offline there.
    pub(super) fn instance_gone(&mut self, fx: &mut Effects, instance: &str) {
        let Some(names) = self.online_at.remove(instance) else {
            return;
        };
        tracing::info!(
            instance,
            names = names.len(),
            "an instance is gone; its names go offline there"
        );
        for key in names {
            let Some(name) = self.state.users.get(key.as_str()).map(|u| u.name.clone()) else {
                continue;
            };
            self.elsewhere(fx, &name, false);
        }
        self.stop_awaiting(fx, instance, true);
    }

    /// This instance was declared gone by the others while it lives (cut off from NATS for
    /// longer than their patience): says again who is online here, so that they show them
    /// online again. Logged like any presence, so nothing else changes here.
    pub(super) fn reannounce(&mut self) -> Effects {
        let mut fx = self.effects();
        if !self.clustered {
            return fx;
        }
        let here: Vec<Name> = self
            .state
            .users
            .values()
            .filter(|u| !u.sessions.is_empty())
            .map(|u| u.name.clone())
            .collect();
        tracing::warn!(
            names = here.len(),
            "declared gone by the other instances; saying again who is online here"
        );
        for user in here {
            fx.log(Op::Presence { user, online: true });
        }
        fx
    }

    /// One more (or one fewer) instance shows `user` online; the change is told if it is one.
    pub(super) fn elsewhere(&mut self, fx: &mut Effects, user: &Name, online: bool) {
        let Some(u) = self.state.users.get_mut(user.key()) else {
            return;
        };
        let was = u.online();
        u.elsewhere = if online {
            u.elsewhere.saturating_add(1)
        } else {
            u.elsewhere.saturating_sub(1)
        };
        let (now, name) = (u.online(), u.name.clone());
        if was != now {
            let presence = if now {
                Presence::Online
            } else {
                Presence::Offline
            };
            self.presence(fx, user.key(), name, presence);
        }
    }

    /// The other instances that show a member of `room` online (none on a single server).
    pub(super) fn instances_with_members(&self, room: &str) -> Vec<String> {
        if self.online_at.is_empty() {
            return Vec::new();
        }
        let Some(r) = self.state.rooms.get(room) else {
            return Vec::new();
        };
        self.online_at
            .iter()
            .filter(|(_, names)| r.members.iter().any(|m| names.contains(m.as_str())))
            .map(|(instance, _)| instance.clone())
            .collect()
    }

    /// A room post made here also waits for `awaiting`'s word (`Op::Received`).
    pub(super) fn await_instances(
        &mut self,
        id: ChatId,
        sender: Name,
        room: &str,
        awaiting: Vec<String>,
    ) {
        let p = self.receipts.entry(id).or_insert(super::Pending {
            sender,
            remaining: 0,
            dm_to: None,
            room: None,
            awaiting: Vec::new(),
            relay: false,
        });
        p.room = Some(room.to_owned());
        p.awaiting = awaiting;
    }

    /// A room post made elsewhere reaches the members here; once every session here has it,
    /// that is logged for the sender's instance (at once when none here receives it, but a
    /// member shows online here, as a send-only session does: the sender's instance may be
    /// waiting for this one).
    pub(super) fn relay_receipt(
        &mut self,
        fx: &mut Effects,
        room: &str,
        sessions: &[SessionId],
        p: &Posted,
    ) {
        if sessions.is_empty() {
            let online_here = self.state.rooms.get(room).is_some_and(|r| {
                r.members.iter().any(|m| {
                    self.state
                        .users
                        .get(m.as_str())
                        .is_some_and(|u| !u.sessions.is_empty())
                })
            });
            if online_here {
                let id = p.id;
                self.received.push(Op::Received { id, failed: None });
            }
            return;
        }
        self.deliver(fx, sessions, p, true);
        if let Some(pending) = self.receipts.get_mut(&p.id) {
            pending.relay = true;
        }
    }

    /// Another instance's sessions have a room post made here (or one failed).
    pub(super) fn remote_received(
        &mut self,
        fx: &mut Effects,
        origin: &str,
        id: ChatId,
        failed: Option<String>,
    ) {
        let Some(p) = self.receipts.get_mut(&id).filter(|p| !p.relay) else {
            return;
        };
        if let Some(why) = failed {
            let sender = p.sender.clone();
            self.receipts.remove(&id);
            let reason = format!("a recipient's session failed: {why}");
            self.send_to_user(fx, sender.key(), ServerMsg::NotDelivered { id, reason });
            return;
        }
        p.awaiting.retain(|i| i != origin);
        self.settle_receipt(fx, id);
    }

    /// Stops waiting for `instance`'s word on room posts: it is gone, or (`gone` false) it
    /// shows none of the room's members online any more, so none there will have them.
    pub(super) fn stop_awaiting(&mut self, fx: &mut Effects, instance: &str, gone: bool) {
        let names = self.online_at.get(instance);
        let rooms = &self.state.rooms;
        let mut done = Vec::new();
        for (&id, p) in self.receipts.iter_mut() {
            if !p.awaiting.iter().any(|i| i == instance) {
                continue;
            }
            let still = !gone
                && p.room
                    .as_deref()
                    .and_then(|r| rooms.get(r))
                    .zip(names)
                    .is_some_and(|(r, n)| r.members.iter().any(|m| n.contains(m.as_str())));
            if !still {
                p.awaiting.retain(|i| i != instance);
                done.push(id);
            }
        }
        for id in done {
            self.settle_receipt(fx, id);
        }
    }

    /// A room post's receipt, once nobody here or elsewhere is left to have it: `Delivered`.
    pub(super) fn settle_receipt(&mut self, fx: &mut Effects, id: ChatId) {
        let settled = self
            .receipts
            .get(&id)
            .is_some_and(|p| p.remaining == 0 && p.awaiting.is_empty());
        if let Some(p) = settled.then(|| self.receipts.remove(&id)).flatten() {
            self.send_to_user(fx, p.sender.key(), ServerMsg::Delivered { id });
        }
    }

    /// What applying the log asked to log in turn.
    pub(super) fn take_received(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.received)
    }
}
