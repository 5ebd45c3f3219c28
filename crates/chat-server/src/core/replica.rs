//! A cluster's other instances' changes, applied here: each instance's memory is a replica of
//! one state, kept by applying the replicated log of [`Op`]s (its own it made as it handled
//! them). Applying one changes the state as the instance that made it did, and tells this
//! instance's own sessions what they would have heard on a single server: a room post reaches
//! the members connected here, a direct message queued for someone connected here is delivered
//! to them (their acknowledgement is logged as a `Dequeue`, as always), and a `Dequeue` made
//! elsewhere becomes the sender's `Delivered` receipt when the sender is connected here. A
//! room post made elsewhere is counted here too: once every member session here has it, that
//! is logged (`Op::Received`) for the sender's instance, which waits for each instance showing
//! a member online. Nothing applied is logged again: it is in the log already.

use dgram_proto::chat::{ChatId, Posted, Presence, Room, ServerMsg, Target};
use dgram_proto::session::SessionId;
use dgram_proto::Name;

use super::effects::Effects;
use super::op::Op;
use super::state::{self, Owner, RoomState, Sent, User, UserKey};
use super::ChatCore;

impl ChatCore {
    /// Ids from here on are `offset` modulo `step`, above every id seen so far.
    pub(super) fn id_space(&mut self, step: u64, offset: u64) {
        self.clustered = true;
        let step = step.max(1);
        self.id_step = step;
        self.next_id = (self.next_id / step + 1) * step + offset % step;
    }

    /// Keeps this instance's next id above `seen` (so that ids stay in about the order they
    /// were made in, cluster-wide) and in its own residue.
    fn bump_ids(&mut self, seen: ChatId) {
        if self.next_id <= seen {
            let step = self.id_step;
            let offset = self.next_id % step;
            self.next_id = (seen / step + 1) * step + offset;
        }
    }

    /// Applies one event's changes, made by another instance (`origin`); returns what to
    /// tell sessions here (nothing in it needs a commit).
    pub(super) fn replicate(&mut self, origin: &str, ops: Vec<Op>, live: bool) -> Effects {
        // Nothing applied is recorded again: it is in the log already.
        let mut fx = Effects::new(false);
        let mut posted: Vec<Posted> = Vec::new();
        for op in ops {
            match op {
                Op::Claim { name, owner, at_ms } => {
                    self.remote_claim(name, Owner::Key(owner), at_ms)
                }
                Op::Bind { user, owner } => {
                    if let Some(u) = self.state.users.get_mut(user.key()) {
                        u.owner = Owner::Key(owner);
                    }
                }
                Op::Touch { user, at_ms } => {
                    if let Some(u) = self.state.users.get_mut(user.key()) {
                        u.last_used_ms = u.last_used_ms.max(at_ms);
                    }
                }
                Op::Established { user } => {
                    if let Some(u) = self.state.users.get_mut(user.key()) {
                        u.established = true;
                    }
                }
                Op::Lapse { user } => {
                    let here = self.state.users.get(user.key()).is_some_and(|u| u.online());
                    // Someone connected here still uses it: not lapsed after all.
                    if !here {
                        self.lapse(&mut fx, user.key());
                    }
                }
                Op::Post(p) => {
                    self.remote_post(&mut fx, &p);
                    posted.push(p);
                }
                Op::Sent { user, txn, id, ts } => self.remote_sent(&user, Sent { txn, id, ts }),
                Op::Queue { user, id } => {
                    if let Some(p) = posted.iter().find(|p| p.id == id) {
                        let p = p.clone();
                        self.remote_queue(&mut fx, &user, p);
                    }
                }
                Op::Dequeue { user, id } => self.remote_dequeue(&mut fx, &user, id),
                Op::Join { user, room } => self.remote_join(&mut fx, &user, room),
                Op::Part { user, room } => self.remote_part(&mut fx, &user, room),
                Op::DropRoom { room } => {
                    let empty = self
                        .state
                        .rooms
                        .get(room.key())
                        .is_some_and(|r| r.members.is_empty());
                    if empty {
                        self.state.rooms.remove(room.key());
                    }
                }
                Op::Topic { room, topic } => self.remote_topic(&mut fx, room, topic),
                // Replayed at start, who came and went long ago says nothing of who is on
                // now: only live news counts (a name shows online once it comes again).
                Op::Presence { user, online } if live => {
                    self.remote_presence(&mut fx, origin, &user, online)
                }
                Op::Presence { .. } => {}
                // Every instance runs its own expiry on the same clock and caps.
                Op::Expire { .. } => {}
                Op::Gone { instance } => self.instance_gone(&mut fx, &instance),
                Op::Received { id, failed } => self.remote_received(&mut fx, origin, id, failed),
            }
        }
        fx
    }

    /// A name came online on another instance, `origin`, or went offline there. Each
    /// instance says so once per name (its first session there, its last), so news that
    /// changes nothing there (a second "online", an "offline" for a name this replica never
    /// saw come, as after a restart) changes nothing here either.
    fn remote_presence(&mut self, fx: &mut Effects, origin: &str, user: &Name, online: bool) {
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
    fn instance_gone(&mut self, fx: &mut Effects, instance: &str) {
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
    fn elsewhere(&mut self, fx: &mut Effects, user: &Name, online: bool) {
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

    fn remote_claim(&mut self, name: Name, owner: Owner, at_ms: u64) {
        if let Some(u) = self.state.users.get_mut(name.key()) {
            // The name store decided (compare-and-set): whoever holds its key now owns it.
            u.owner = owner;
            u.last_used_ms = u.last_used_ms.max(at_ms);
            return;
        }
        self.state.users.insert(
            UserKey(name.clone()),
            Box::new(User::new(name, owner, at_ms)),
        );
    }

    fn remote_sent(&mut self, user: &Name, sent: Sent) {
        let cap = self.config.sent_per_user.max(1);
        if let Some(u) = self.state.users.get_mut(user.key()) {
            u.sent.push_back(sent);
            if u.sent.len() > cap {
                u.sent.pop_front();
            }
        }
    }

    /// A message accepted elsewhere: into its history; a room's members here receive it, and
    /// so do the sender's own sessions here (a DM's recipients get it with its `Queue`).
    fn remote_post(&mut self, fx: &mut Effects, p: &Posted) {
        self.bump_ids(p.id);
        match &p.to {
            Target::Room(room) => {
                let cap = self.config.room_history;
                let Some(r) = self.state.rooms.get_mut(room.key()) else {
                    return;
                };
                self.stats.history_dropped += state::push_capped(&mut r.history, p.clone(), cap);
                let sessions = self.member_sessions(room.key(), None);
                self.relay_receipt(fx, room.key(), &sessions, p);
            }
            Target::User(to) => {
                let pair = state::pair_key(&p.from, to);
                let cap = self.config.dm_history;
                let log = self.state.dms.entry(pair).or_default();
                self.stats.history_dropped += state::push_capped(log, p.clone(), cap);
                if p.from.key() != to.key() {
                    let mine = self.local_receiving(p.from.key());
                    self.deliver(fx, &mine, p, false);
                }
            }
        }
    }

    /// A DM accepted elsewhere waits for its recipient: delivered to their sessions here (with
    /// a receipt, whose acknowledgement dequeues it everywhere), or kept in the queue here for
    /// when they come.
    fn remote_queue(&mut self, fx: &mut Effects, user: &Name, p: Posted) {
        let sessions = self.local_receiving(user.key());
        if sessions.is_empty() {
            self.enqueue(user.key(), p);
        } else {
            self.deliver(fx, &sessions, &p, true);
        }
    }

    /// A recipient acknowledged a DM through another instance: it leaves the queue here, and
    /// its sender, when connected here, gets the receipt.
    fn remote_dequeue(&mut self, fx: &mut Effects, user: &Name, id: ChatId) {
        let mut sender = None;
        if let Some(u) = self.state.users.get_mut(user.key()) {
            if let Some(at) = u.queue.iter().position(|p| p.id == id) {
                sender = u.queue.remove(at).map(|p| p.from);
            }
        }
        // Delivered here too and waiting for an acknowledgement here: the first one counts.
        if let Some(p) = self.receipts.remove(&id) {
            sender = Some(p.sender);
        }
        if let Some(sender) = sender {
            self.send_to_user(fx, sender.key(), ServerMsg::Delivered { id });
        }
    }

    fn remote_join(&mut self, fx: &mut Effects, user: &Name, room: Room) {
        let Some(u) = self.state.users.get_mut(user.key()) else {
            return;
        };
        u.rooms.insert(room.key().to_owned());
        let name = u.name.clone();
        let r = self
            .state
            .rooms
            .entry(room.key().to_owned())
            .or_insert_with(|| RoomState::new(room.clone()));
        if r.members.insert(user.key().to_owned()) {
            let others = self.member_sessions(room.key(), Some(user.key()));
            let presence = Presence::Joined(room);
            fx.send_each(others, ServerMsg::Presence { name, presence });
        }
    }

    fn remote_part(&mut self, fx: &mut Effects, user: &Name, room: Room) {
        if let Some(u) = self.state.users.get_mut(user.key()) {
            u.rooms.remove(room.key());
        }
        let Some(r) = self.state.rooms.get_mut(room.key()) else {
            return;
        };
        if !r.members.remove(user.key()) {
            return;
        }
        let others = self.member_sessions(room.key(), None);
        let name = user.clone();
        fx.send_each(
            others,
            ServerMsg::Presence {
                name,
                presence: Presence::Left(room),
            },
        );
    }

    fn remote_topic(&mut self, fx: &mut Effects, room: Room, topic: String) {
        let Some(r) = self.state.rooms.get_mut(room.key()) else {
            return;
        };
        r.topic.clone_from(&topic);
        let sessions = self.member_sessions(room.key(), None);
        let msg = ServerMsg::Topic {
            req: None,
            room,
            topic,
        };
        fx.send_each(sessions, msg);
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
    fn relay_receipt(&mut self, fx: &mut Effects, room: &str, sessions: &[SessionId], p: &Posted) {
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
    fn remote_received(
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
    fn stop_awaiting(&mut self, fx: &mut Effects, instance: &str, gone: bool) {
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
    fn settle_receipt(&mut self, fx: &mut Effects, id: ChatId) {
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

    /// The receiving sessions here of a room's members, but `except`'s.
    fn member_sessions(&self, room: &str, except: Option<&str>) -> Vec<SessionId> {
        let s = &self.state;
        let Some(r) = s.rooms.get(room) else {
            return Vec::new();
        };
        r.members
            .iter()
            .filter(|m| Some(m.as_str()) != except)
            .filter_map(|m| s.users.get(m.as_str()))
            .flat_map(|u| s.receiving_iter(u))
            .collect()
    }

    /// A user's receiving sessions here.
    fn local_receiving(&self, key: &str) -> Vec<SessionId> {
        self.state
            .users
            .get(key)
            .map(|u| self.state.receiving(u))
            .unwrap_or_default()
    }
}
