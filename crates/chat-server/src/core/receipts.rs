//! Receipts: which session message carries which chat message, and turning a recipient
//! session's acknowledgement (or failure) into the sender's `Delivered` (or `NotDelivered`).
//! A room post's receipt waits for every member session it went to.

use std::sync::Arc;

use dgram_proto::chat::{channel_for, ChatId, Posted, ServerMsg, Target};
use dgram_proto::session::{MessageId, SessionId};
use smallvec::SmallVec;

use super::effects::{Effects, Output};
use super::op::Op;
use super::state::pair_key;
use super::{ChatCore, Pending};

/// One session's messages that wait for a receipt, by session message id, in order. A session
/// has one or two in transit most of the time, and its entry comes and goes with them: inline,
/// that costs no allocation per message. Ids grow as messages are sent, so the list stays
/// sorted by appending, and a long one (a slow member of busy rooms) is searched by halves.
pub(super) type InTransit = SmallVec<[(MessageId, ChatId); 2]>;

impl ChatCore {
    /// The driver sent an output that waits for a receipt; `id` is its session message id.
    pub(super) fn track(&mut self, session: SessionId, id: MessageId, chat: ChatId) {
        let mine = self.in_transit.entry(session).or_default();
        match mine.binary_search_by_key(&id, |&(m, _)| m) {
            Ok(at) => mine[at].1 = chat,
            Err(at) => mine.insert(at, (id, chat)),
        }
    }

    fn take_in_transit(&mut self, session: SessionId, id: MessageId) -> Option<ChatId> {
        let mine = self.in_transit.get_mut(&session)?;
        let chat = mine
            .binary_search_by_key(&id, |&(m, _)| m)
            .ok()
            .map(|at| mine.remove(at).1);
        if mine.is_empty() {
            self.in_transit.remove(&session);
        }
        chat
    }

    /// A recipient's session acknowledged a message.
    pub(super) fn delivered(&mut self, session: SessionId, id: MessageId) -> Effects {
        let mut fx = self.effects();
        let Some(chat) = self.take_in_transit(session, id) else {
            return fx;
        };
        let Some(p) = self.receipts.get_mut(&chat) else {
            return fx;
        };
        if let Some(user) = p.dm_to.take() {
            fx.log(Op::Dequeue { user, id: chat });
        }
        p.remaining = p.remaining.saturating_sub(1);
        if p.remaining == 0 && p.awaiting.is_empty() {
            let (sender, relay) = (p.sender.clone(), p.relay);
            self.receipts.remove(&chat);
            if relay {
                // Posted elsewhere: its instance counts this one's sessions as one.
                fx.log(Op::Received {
                    id: chat,
                    failed: None,
                });
            } else {
                self.send_to_user(&mut fx, sender.key(), ServerMsg::Delivered { id: chat });
            }
        }
        fx
    }

    /// A recipient's session could not be reached with a message.
    pub(super) fn failed(&mut self, session: SessionId, id: MessageId, reason: &str) -> Effects {
        let mut fx = self.effects();
        if let Some(chat) = self.take_in_transit(session, id) {
            self.undelivered(&mut fx, chat, reason);
        }
        fx
    }

    /// A message with a receipt could not even be handed to a recipient's session (it closed,
    /// or its send buffer is full).
    pub(super) fn unsendable(&mut self, chat: ChatId, reason: &str) -> Effects {
        let mut fx = self.effects();
        self.undelivered(&mut fx, chat, reason);
        fx
    }

    /// Tells the sender; a direct message goes back on its recipient's queue, to be delivered
    /// when they next join, rather than being lost.
    fn undelivered(&mut self, fx: &mut Effects, chat: ChatId, reason: &str) {
        let Some(p) = self.receipts.remove(&chat) else {
            return;
        };
        if p.relay {
            let failed = Some(reason.to_owned());
            fx.log(Op::Received { id: chat, failed });
            return;
        }
        let mut reason = format!("a recipient's session failed: {reason}");
        if let Some(to) = &p.dm_to {
            let pair = pair_key(&p.sender, to);
            let posted = self
                .state
                .dms
                .get(&pair)
                .and_then(|log| log.iter().find(|m| m.id == chat))
                .cloned();
            if let Some(posted) = posted {
                if self.enqueue(to.key(), posted).is_some() {
                    reason.push_str("; queued until they return");
                }
            }
        }
        let msg = ServerMsg::NotDelivered { id: chat, reason };
        self.send_to_user(fx, p.sender.key(), msg);
    }

    /// To every session of a name (a sender's receipt reaches each device it uses).
    pub(super) fn send_to_user(&self, fx: &mut Effects, key: &str, msg: ServerMsg) {
        if let Some(u) = self.state.users.get(key) {
            fx.send_each(u.sessions.iter().copied(), msg);
        }
    }

    /// Delivers a posted message to sessions, counting them towards its receipt.
    pub(super) fn deliver(
        &mut self,
        fx: &mut Effects,
        sessions: &[SessionId],
        posted: &Posted,
        counted: bool,
    ) {
        // Nothing to copy for nobody (a sender's other sessions are usually none).
        if sessions.is_empty() {
            return;
        }
        let channel = channel_for(&posted.to);
        if counted {
            let dm_to = match &posted.to {
                Target::User(n) => Some(n.clone()),
                Target::Room(_) => None,
            };
            let p = self.receipts.entry(posted.id).or_insert(Pending {
                sender: posted.from.clone(),
                remaining: 0,
                dm_to,
                room: None,
                awaiting: Vec::new(),
                relay: false,
            });
            p.remaining += sessions.len() as u32;
        }
        let msg = Arc::new(ServerMsg::Message(posted.clone()));
        fx.out.extend(sessions.iter().map(|&s| Output {
            session: s,
            channel,
            msg: Arc::clone(&msg),
            receipt: counted.then_some(posted.id),
        }));
    }
}
