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
use super::state::{self, Owner, RoomState, Sent, User};
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

    fn remote_claim(&mut self, name: Name, owner: Owner, at_ms: u64) {
        if let Some(u) = self.state.users.get_mut(name.key()) {
            // The name store decided (compare-and-set): whoever holds its key now owns it.
            u.owner = owner;
            u.last_used_ms = u.last_used_ms.max(at_ms);
            return;
        }
        self.state
            .users
            .insert(Box::new(User::new(name, owner, at_ms)));
    }

    fn remote_sent(&mut self, user: &Name, sent: Sent) {
        let cap = self.config.sent_per_user.max(1);
        if let Some(u) = self.state.users.get_mut(user.key()) {
            u.remember(sent, cap);
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
                let log = self.state.dms.log_mut(pair);
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
            sender = u
                .trim(|a| {
                    let at = a.queue.iter().position(|p| p.id == id)?;
                    a.queue.remove(at).map(|p| p.from)
                })
                .flatten();
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
        u.activity_mut().rooms.insert(room.key().to_owned());
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
            u.trim(|a| a.rooms.remove(room.key()));
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
