//! Receipts: which session message carries which chat message, and turning a recipient
//! session's acknowledgement (or failure) into the sender's `Delivered` (or `NotDelivered`).
//! A room post's receipt waits for every member session it went to.

use std::sync::Arc;

use super::Op;
use super::{send_each, ChatCore, Output, Pending};
use dgram_proto::chat::{channel_for, ChatId, Posted, ServerMsg, Target};
use dgram_proto::session::{MessageId, SessionId};

impl ChatCore {
    /// The driver sent an output that waits for a receipt; `id` is its session message id.
    pub fn track(&mut self, session: SessionId, id: MessageId, chat: ChatId) {
        self.in_transit.entry(session).or_default().insert(id, chat);
    }

    fn take_in_transit(&mut self, session: SessionId, id: MessageId) -> Option<ChatId> {
        let mine = self.in_transit.get_mut(&session)?;
        let chat = mine.remove(&id);
        if mine.is_empty() {
            self.in_transit.remove(&session);
        }
        chat
    }

    /// A recipient's session acknowledged a message.
    pub fn delivered(&mut self, session: SessionId, id: MessageId) {
        self.begin();
        self.delivered_inner(session, id);
        self.end();
    }

    fn delivered_inner(&mut self, session: SessionId, id: MessageId) {
        let Some(chat) = self.take_in_transit(session, id) else {
            return;
        };
        let Some(p) = self.receipts.get_mut(&chat) else {
            return;
        };
        if let Some(user) = p.dm_to.take() {
            self.log(Op::Dequeue { user, id: chat });
        }
        let Some(p) = self.receipts.get_mut(&chat) else {
            return;
        };
        p.remaining = p.remaining.saturating_sub(1);
        if p.remaining == 0 {
            let sender = p.sender.clone();
            self.receipts.remove(&chat);
            self.send_to_user(sender.key(), ServerMsg::Delivered { id: chat });
        }
    }

    /// A recipient's session could not be reached with a message.
    pub fn failed(&mut self, session: SessionId, id: MessageId, reason: &str) {
        let Some(chat) = self.take_in_transit(session, id) else {
            return;
        };
        self.begin();
        self.undelivered(chat, reason);
        self.end();
    }

    /// A message with a receipt could not even be handed to a recipient's session (it closed,
    /// or its send buffer is full).
    pub fn unsendable(&mut self, chat: ChatId, reason: &str) {
        self.begin();
        self.undelivered(chat, reason);
        self.end();
    }

    /// Tells the sender; a direct message goes back on its recipient's queue, to be delivered
    /// when they next join, rather than being lost.
    fn undelivered(&mut self, chat: ChatId, reason: &str) {
        let Some(p) = self.receipts.remove(&chat) else {
            return;
        };
        let mut reason = format!("a recipient's session failed: {reason}");
        if let Some(to) = &p.dm_to {
            let pair = super::state::pair_key(&p.sender, to);
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
        self.send_to_user(p.sender.key(), ServerMsg::NotDelivered { id: chat, reason });
    }

    /// To every session of a name (a sender's receipt reaches each device it uses).
    pub(super) fn send_to_user(&mut self, key: &str, msg: ServerMsg) {
        if let Some(u) = self.state.users.get(key) {
            send_each(&mut self.out, u.sessions.iter().copied(), msg);
        }
    }

    /// Delivers a posted message to sessions, counting them towards its receipt.
    pub(super) fn deliver(&mut self, sessions: &[SessionId], posted: &Posted, counted: bool) {
        let channel = channel_for(&posted.to);
        if counted && !sessions.is_empty() {
            let dm_to = match &posted.to {
                Target::User(n) => Some(n.clone()),
                Target::Room(_) => None,
            };
            let p = self.receipts.entry(posted.id).or_insert(Pending {
                sender: posted.from.clone(),
                remaining: 0,
                dm_to,
            });
            p.remaining += sessions.len() as u32;
        }
        let msg = Arc::new(ServerMsg::Message(posted.clone()));
        for &s in sessions {
            self.out.push_back(Output {
                session: s,
                channel,
                msg: Arc::clone(&msg),
                receipt: counted.then_some(posted.id),
            });
        }
    }
}
