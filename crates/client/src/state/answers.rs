//! What the chat state machine makes of each message from the server: the Welcome (or the
//! refusal of our name), answers matched to their requests by id, receipts matched to our
//! messages by their server id, and what others do (messages, presence, topics).

use dgram_proto::chat::{
    ChatId, ClaimKey, ErrorKind, Posted, Presence, ServerMsg, Target, UserInfo,
};
use dgram_proto::{Name, RequestId};

use super::requests::Purpose;
use super::{Action, Chat, Phase};
use crate::note::{Elsewhere, Note, SendState};

impl Chat {
    /// Takes in one message from the server.
    pub(super) fn answer(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { name, key, online } => self.welcome(name, key, online),
            ServerMsg::Error {
                req: None,
                kind: kind @ (ErrorKind::Claimed | ErrorKind::Reserved),
                message,
            } if self.phase == Phase::Hello => {
                self.phase = Phase::Refused;
                self.show(Note::Refused { kind, message });
            }
            ServerMsg::Error {
                req: None, message, ..
            } => self.show(Note::Error { message }),
            ServerMsg::Error {
                req: Some(req),
                kind,
                message,
            } => self.refused(req, kind, message),
            ServerMsg::Accepted { req, id, ts } => self.accepted(req, id, ts),
            ServerMsg::Delivered { id } => self.receipt(id, SendState::Delivered, true),
            ServerMsg::NotDelivered { id, reason } => {
                // Kept: a DM queued for an offline user is delivered, and receipted, later.
                let state = self.undelivered(id, reason);
                self.receipt(id, state, false);
            }
            ServerMsg::Message(posted) => self.message(posted),
            ServerMsg::Presence { name, presence } => self.presence(name, presence),
            ServerMsg::Rooms { req, rooms } => {
                self.take(req);
                self.show(Note::Rooms(rooms));
            }
            ServerMsg::Who { req, room, users } => {
                self.take(req);
                if room.is_none() {
                    self.online = by_key(&users);
                }
                self.show(Note::Who { room, users });
            }
            ServerMsg::Topic { req, room, topic } => {
                if let Some(req) = req {
                    self.take(req);
                }
                self.show(Note::Topic { room, topic });
            }
            ServerMsg::Done { req } => self.done(req),
            ServerMsg::History {
                req,
                with,
                messages,
            } => self.history_came(req, with, messages),
            ServerMsg::Whois {
                req,
                name,
                addrs,
                away,
            } => {
                self.take(req);
                self.show(Note::Whois { name, addrs, away });
            }
            // proto's messages are `non_exhaustive`: a newer server may say things this client
            // does not know, and they are not for us.
            unknown => tracing::debug!(?unknown, "a server message this client does not know"),
        }
    }

    fn welcome(&mut self, name: Name, key: Option<ClaimKey>, online: Vec<UserInfo>) {
        let claimed = key.is_some();
        match key {
            Some(key) => {
                self.key = Some(key);
                self.actions.push_back(Action::SaveKey(key));
            }
            // Welcomed without a claim key: the name belongs to this client's identity now
            // (an old claim key, if one was sent, bound it), so the old key is not sent again.
            None => self.key = None,
        }
        self.me = name.clone();
        self.online = by_key(&online);
        let again = self.welcomed;
        let at = self.actions.len();
        let rejoining = self.ready();
        // Shown before what `ready` queued (the rejoins and the queued messages), so that the
        // story reads in order.
        let note = Note::Welcome {
            name,
            online,
            claimed,
            again,
            rejoining,
        };
        self.actions.insert(at, Action::Show(note));
    }

    fn accepted(&mut self, req: RequestId, id: ChatId, ts: u64) {
        let Some(r) = self.take(req) else { return };
        match r.purpose {
            Purpose::Send(msg) => {
                // Our own message is seen: a room's replay after a reconnect does not repeat it.
                self.saw_id(&msg.to, id, ts);
                self.track(id, msg.clone());
                let state = SendState::Accepted;
                self.show(Note::State {
                    msg,
                    id: Some(id),
                    state,
                });
            }
            // Only messages are accepted; anything else is answered otherwise.
            Purpose::Join { .. }
            | Purpose::Part(_)
            | Purpose::Away(_)
            | Purpose::CatchUp(_)
            | Purpose::Query { .. } => {}
        }
    }

    fn message(&mut self, posted: Posted) {
        if !self.saw(&posted) {
            return;
        }
        self.saw_online(&posted.from);
        if posted.from.key() == self.me.key() {
            self.sent_elsewhere(&posted);
        }
        self.show(Note::Message {
            posted,
            replay: false,
        });
    }

    fn history_came(&mut self, req: Option<RequestId>, with: Target, messages: Vec<Posted>) {
        let Some(req) = req else {
            // The replay on joining a room: shown like messages, marked as history.
            return self.replay_came(with, messages);
        };
        match self.take(req).map(|r| r.purpose) {
            Some(Purpose::CatchUp(room)) => self.caught_up(&room, messages),
            Some(
                Purpose::Query { .. }
                | Purpose::Send(_)
                | Purpose::Join { .. }
                | Purpose::Part(_)
                | Purpose::Away(_),
            )
            | None => self.show(Note::History { with, messages }),
        }
    }

    fn presence(&mut self, name: Name, presence: Presence) {
        if presence == Presence::Offline {
            self.online.remove(name.key());
        } else {
            self.saw_online(&name);
        }
        self.show(Note::Presence { name, presence });
    }

    fn saw_online(&mut self, name: &Name) {
        self.online.insert(name.key().to_owned(), name.clone());
    }

    fn receipt(&mut self, id: ChatId, state: SendState, last: bool) {
        let msg = if last {
            self.tracked.remove(&id)
        } else {
            self.tracked.get(&id).cloned()
        };
        match msg {
            Some(msg) => self.show(Note::State {
                msg,
                id: Some(id),
                state,
            }),
            None => {
                let about = match last {
                    true => self.elsewhere.remove(&id),
                    false => self.elsewhere.get(&id).cloned(),
                };
                self.show(Note::Receipt { id, about, state });
            }
        }
    }

    /// What a "not delivered" receipt means: a DM the server says it queued is held for its
    /// recipient (the protocol says so only in words: "alex is offline; queued until they
    /// return"); anything else was not delivered.
    fn undelivered(&self, id: ChatId, reason: String) -> SendState {
        let to = match self.tracked.get(&id) {
            Some(msg) => Some(&msg.to),
            None => self.elsewhere.get(&id).map(|e| &e.to),
        };
        match to {
            Some(Target::User(_)) if reason.contains("queued") => SendState::Held(reason),
            Some(Target::User(_) | Target::Room(_)) | None => SendState::NotDelivered(reason),
        }
    }

    /// Our name's message from another session: kept, so that its receipts say what it was.
    fn sent_elsewhere(&mut self, posted: &Posted) {
        let about = Elsewhere {
            to: posted.to.clone(),
            preview: super::requests::preview(&posted.text),
        };
        self.elsewhere.insert(posted.id, about);
        while self.elsewhere.len() > super::MAX_TRACKED {
            self.elsewhere.pop_first();
        }
    }

    fn refused(&mut self, req: RequestId, kind: ErrorKind, message: String) {
        let Some(r) = self.take(req) else {
            return self.show(Note::Error { message });
        };
        match r.purpose {
            Purpose::Send(msg) => self.show(Note::State {
                msg,
                id: None,
                state: SendState::Refused { kind, message },
            }),
            // Not in the room after all (its rejoin failed, and says so): show what was held.
            Purpose::CatchUp(room) => self.caught_up(&room, Vec::new()),
            purpose @ (Purpose::Join { .. }
            | Purpose::Part(_)
            | Purpose::Away(_)
            | Purpose::Query { .. }) => {
                if let Purpose::Join { room, auto: true } = &purpose {
                    // The server will not have us back in this room: stop trying.
                    self.rooms.remove(room.key());
                }
                self.show(Note::Failed {
                    what: purpose.what(),
                    reason: message,
                });
            }
        }
    }

    fn done(&mut self, req: RequestId) {
        let Some(r) = self.take(req) else { return };
        match r.purpose {
            Purpose::Join { room, auto } => {
                self.rooms.insert(room.key().to_owned(), room.clone());
                self.show(Note::Joined { room, auto });
            }
            Purpose::Part(room) => {
                self.rooms.remove(room.key());
                self.show(Note::Parted { room });
            }
            Purpose::Away(text) => self.show(Note::Away(text)),
            // A topic that was set comes back to every member as a Topic; nothing to add. A
            // message is answered with Accepted, a catch-up with History, never Done.
            Purpose::Query { .. } | Purpose::Send(_) | Purpose::CatchUp(_) => {}
        }
    }
}

/// Users by their names' keys.
fn by_key(users: &[UserInfo]) -> std::collections::BTreeMap<String, Name> {
    let names = users
        .iter()
        .map(|u| (u.name.key().to_owned(), u.name.clone()));
    names.collect()
}
