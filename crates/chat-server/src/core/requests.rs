//! The chat server's answers to each request: joining with a name (and claiming it), posting
//! to a user or a room, rooms and topics, presence, history and whois. What is kept and for how
//! long (the offline queue, expiry) is in `keeping.rs`.

use std::collections::{BTreeSet, VecDeque};

use super::state::{self, User, UserKey};
use super::Op;
use super::{info, key_hash, reserved, ChatCore};
use dgram_proto::chat::{
    channel_for, ChatId, ClaimKey, ErrorKind, Posted, Presence, ServerMsg, Target, MAX_STATUS_TEXT,
    MAX_TEXT,
};
use dgram_proto::session::SessionId;
use dgram_proto::{Name, RequestId};

/// The most online users a welcome lists: enough to pick a partner from, while a server with
/// thousands online does not send each newcomer a list of thousands (`Who` asks for more).
const WELCOME_ONLINE: usize = 100;

/// The most messages one History answer carries.
const MAX_HISTORY_ANSWER: usize = 200;

impl ChatCore {
    pub(super) fn hello(
        &mut self,
        session: SessionId,
        now_ms: u64,
        name: Name,
        key: Option<ClaimKey>,
    ) {
        if reserved(&name) {
            let message = format!("the name {name} is reserved; pick another");
            return self.error(session, None, ErrorKind::Reserved, message);
        }
        let k = name.key().to_owned();
        if let Some(user) = self.state.users.get(k.as_str()) {
            let lapsed = !user.online() && user.last_used_ms + self.config.claim_ttl_ms < now_ms;
            if lapsed {
                self.lapse(&k);
            }
        }
        let mut new_key = None;
        match self.state.users.get(k.as_str()) {
            Some(user) => {
                let proven = key.is_some_and(|key| key_hash(&key) == user.key_hash);
                if !proven {
                    let message = format!(
                        "the name {} is claimed, and this client does not hold its key \
                         (it is kept on the device that claimed it); pick another name",
                        user.name
                    );
                    return self.error(session, None, ErrorKind::Claimed, message);
                }
            }
            None => {
                let mut key = [0u8; 16];
                self.rng.fill(&mut key);
                new_key = Some(key);
                self.log(Op::Claim {
                    name: name.clone(),
                    key_hash: key_hash(&key),
                    at_ms: now_ms,
                });
                self.state.users.insert(
                    UserKey(name.clone()),
                    Box::new(User {
                        name: name.clone(),
                        key_hash: key_hash(&key),
                        last_used_ms: now_ms,
                        sessions: Vec::new(),
                        away: None,
                        queue: VecDeque::new(),
                        rooms: BTreeSet::new(),
                    }),
                );
            }
        }
        self.detach(session, now_ms);
        if let Some(s) = self.state.sessions.get_mut(&session) {
            s.user = Some(name.clone());
        }
        let Some(user) = self.state.users.get_mut(k.as_str()) else {
            return;
        };
        let came_online = !user.online();
        user.attach(session);
        user.last_used_ms = now_ms;
        let spelled = user.name.clone();
        let send_only = self
            .state
            .sessions
            .get(&session)
            .is_some_and(|s| s.send_only);
        let Some(user) = self.state.users.get_mut(k.as_str()) else {
            return;
        };
        // What waits for the name goes to a session that reads, not to a one-shot sender.
        let queued: Vec<Posted> = if send_only {
            Vec::new()
        } else {
            user.queue.drain(..).collect()
        };
        if new_key.is_none() {
            self.log(Op::Touch {
                user: spelled.clone(),
                at_ms: now_ms,
            });
        }
        let online: Vec<_> = self
            .state
            .users
            .values()
            .filter(|u| u.online())
            .take(WELCOME_ONLINE)
            .map(|u| info(u))
            .collect();
        self.send(
            session,
            ServerMsg::Welcome {
                name: spelled.clone(),
                key: new_key,
                online,
            },
        );
        if came_online {
            self.presence(&k, spelled, Presence::Online);
        }
        // What waited for this user, in order; its senders get receipts once it is acked.
        for posted in queued {
            self.deliver(&[session], &posted, true);
        }
    }

    pub(super) fn post(
        &mut self,
        session: SessionId,
        now_ms: u64,
        me: &str,
        req: RequestId,
        to: Target,
        text: String,
    ) {
        if text.len() > MAX_TEXT {
            let message = format!(
                "message of {} bytes exceeds the limit of {MAX_TEXT} bytes; split it",
                text.len()
            );
            return self.error(session, Some(req), ErrorKind::TooLong, message);
        }
        let Some(from) = self.state.users.get(me).map(|u| u.name.clone()) else {
            return;
        };
        // Messages name their target as its owner spells it, whatever the sender typed.
        let to = match to {
            Target::User(n) => {
                Target::User(self.state.users.get(n.key()).map_or(n, |u| u.name.clone()))
            }
            Target::Room(r) => Target::Room(
                self.state
                    .rooms
                    .get(r.key())
                    .map_or(r, |rs| rs.room.clone()),
            ),
        };
        let recipients: Vec<SessionId> = match &to {
            Target::User(name) => match self.state.users.get(name.key()) {
                Some(u) => self.state.receiving(u),
                None => {
                    let message = format!("no user named {name}");
                    return self.error(session, Some(req), ErrorKind::UnknownUser, message);
                }
            },
            Target::Room(room) => match self.state.rooms.get(room.key()) {
                Some(r) if r.members.contains(me) => r
                    .members
                    .iter()
                    .filter_map(|m| self.state.users.get(m.as_str()))
                    .flat_map(|u| self.state.receiving_iter(u))
                    .filter(|&s| s != session)
                    .collect(),
                _ => {
                    let message = format!("you are not in #{room}; /join it first");
                    return self.error(session, Some(req), ErrorKind::NotInRoom, message);
                }
            },
        };
        let id = self.next_id;
        self.next_id += 1;
        self.stats.accepted += 1;
        let posted = Posted {
            id,
            ts: now_ms,
            from,
            to: to.clone(),
            text,
        };
        if self.journal.is_some() {
            // Only a durable core keeps the op; an in-memory one need not copy the message.
            self.log(Op::Post(posted.clone()));
        }
        if let Target::User(name) = &to {
            // Durably queued until the recipient acknowledges it, online or not, so that a
            // crash between sending and the acknowledgement loses nothing.
            let user = name.clone();
            self.log(Op::Queue { user, id });
        }
        self.send(
            session,
            ServerMsg::Accepted {
                req,
                id,
                ts: now_ms,
            },
        );
        match &to {
            Target::Room(room) => {
                let cap = self.config.room_history;
                if let Some(r) = self.state.rooms.get_mut(room.key()) {
                    self.stats.history_dropped +=
                        state::push_capped(&mut r.history, posted.clone(), cap);
                }
                if recipients.is_empty() {
                    // Nobody else is there to acknowledge it: delivered to everyone there is.
                    self.send(session, ServerMsg::Delivered { id });
                }
                self.deliver(&recipients, &posted, true);
            }
            Target::User(name) => {
                let pair = state::pair_key(&posted.from, name);
                let cap = self.config.dm_history;
                let log = self.state.dms.entry(pair).or_default();
                self.stats.history_dropped += state::push_capped(log, posted.clone(), cap);
                // The sender's other sessions see what it sent (a `listen` beside a `send`).
                let mine: Vec<SessionId> = self
                    .state
                    .users
                    .get(me)
                    .map(|u| {
                        self.state
                            .receiving(u)
                            .into_iter()
                            .filter(|&s| s != session)
                            .collect()
                    })
                    .unwrap_or_default();
                let to_self = name.key() == me;
                if recipients.is_empty() {
                    self.queue(name.key(), posted.clone(), session);
                } else {
                    self.deliver(&recipients, &posted, true);
                }
                if !to_self {
                    self.deliver(&mine, &posted, false);
                }
            }
        }
    }

    pub(super) fn away(
        &mut self,
        session: SessionId,
        me: &str,
        req: RequestId,
        text: Option<String>,
    ) {
        if text.as_ref().is_some_and(|t| t.len() > MAX_STATUS_TEXT) {
            let len = text.as_ref().map_or(0, String::len);
            let message =
                format!("away message of {len} bytes exceeds the limit of {MAX_STATUS_TEXT} bytes");
            return self.error(session, Some(req), ErrorKind::TooLong, message);
        }
        let Some(user) = self.state.users.get_mut(me) else {
            return;
        };
        user.away = text.clone();
        let name = user.name.clone();
        self.send(session, ServerMsg::Done { req });
        let presence = match text {
            Some(t) => Presence::Away(t),
            None => Presence::Back,
        };
        self.presence(me, name, presence);
    }

    pub(super) fn history(
        &mut self,
        session: SessionId,
        me: &str,
        req: RequestId,
        with: Target,
        since: Option<ChatId>,
        limit: u32,
    ) {
        let limit = (limit as usize).min(MAX_HISTORY_ANSWER);
        let messages = match &with {
            Target::Room(room) => match self.state.rooms.get(room.key()) {
                Some(r) if r.members.contains(me) => state::tail(&r.history, since, limit),
                _ => {
                    let message = format!("you are not in #{room}");
                    return self.error(session, Some(req), ErrorKind::NotInRoom, message);
                }
            },
            Target::User(name) => self
                .state
                .users
                .get(me)
                .and_then(|u| self.state.dms.get(&state::pair_key(&u.name, name)))
                .map(|log| state::tail(log, since, limit))
                .unwrap_or_default(),
        };
        let messages = self.committed_only(messages);
        self.out.push_back(super::Output {
            session,
            channel: channel_for(&with),
            msg: std::sync::Arc::new(ServerMsg::History {
                req: Some(req),
                with,
                messages,
            }),
            receipt: None,
        });
    }

    pub(super) fn whois(&mut self, session: SessionId, req: RequestId, name: Name) {
        let Some(user) = self.state.users.get(name.key()) else {
            let message = format!("no user named {name}");
            return self.error(session, Some(req), ErrorKind::UnknownUser, message);
        };
        let addrs = user
            .sessions
            .iter()
            .filter_map(|s| self.state.sessions.get(s))
            .map(|s| s.peer().to_string())
            .collect();
        let msg = ServerMsg::Whois {
            req,
            name: user.name.clone(),
            addrs,
            away: user.away.clone(),
        };
        self.send(session, msg);
    }
}
