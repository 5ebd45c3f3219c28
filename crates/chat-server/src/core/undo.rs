//! Taking back what a failed commit changed. The core changes its memory as it handles an
//! event, and the [`Chat`](super::Chat) wrapper holds back what it would tell anyone until the
//! change is stored; when the store reports that it could not commit, the change is undone in
//! memory too, so that the server never shows, after a failure or after a restart, a state that
//! its clients were told did not happen (or the other way round).

use dgram_proto::chat::{ChatId, Posted, Room};
use dgram_proto::session::SessionId;

use super::state::{Owner, RoomState, State};

/// How to take back one in-memory change that is not a message (those are found from the
/// held outputs).
#[derive(Debug)]
pub(crate) enum Undo {
    /// `session` claimed the free name `user` (a name's key).
    Claim { session: SessionId, user: String },
    /// `session` proved the name `user` with its old claim key (whose hash is `legacy`) and
    /// bound it to its own key.
    Bind {
        session: SessionId,
        user: String,
        legacy: [u8; 32],
    },
    /// A join made `user` (a name's key) a member of `room` (a room's key).
    Join { user: String, room: String },
    /// A part took `user` out of `room`, and forgot the room if nothing else was in it.
    Part { user: String, room: Room },
    /// A room's topic went from `old` to `new`.
    Topic {
        room: String,
        old: String,
        new: String,
    },
}

impl State {
    /// Takes back one change.
    pub(crate) fn take_back(&mut self, undo: &Undo) {
        match undo {
            Undo::Claim { session, user } => self.forget_claim(*session, user),
            Undo::Bind {
                session,
                user,
                legacy,
            } => {
                if let Some(u) = self.users.get_mut(user.as_str()) {
                    u.owner = Owner::Legacy(*legacy);
                    u.detach(*session);
                }
                if let Some(s) = self.sessions.get_mut(session) {
                    s.user = None;
                }
            }
            Undo::Join { user, room } => {
                if let Some(r) = self.rooms.get_mut(room.as_str()) {
                    r.members.remove(user.as_str());
                    if r.members.is_empty() && r.history.is_empty() && r.topic.is_empty() {
                        self.rooms.remove(room.as_str());
                    }
                }
                if let Some(u) = self.users.get_mut(user.as_str()) {
                    u.trim(|a| a.rooms.remove(room.as_str()));
                }
            }
            Undo::Part { user, room } => {
                // The name may have lapsed since; a room of nobody is not brought back.
                let Some(u) = self.users.get_mut(user.as_str()) else {
                    return;
                };
                u.activity_mut().rooms.insert(room.key().to_owned());
                self.rooms
                    .entry(room.key().to_owned())
                    .or_insert_with(|| RoomState::new(room.clone()))
                    .members
                    .insert(user.clone());
            }
            Undo::Topic { room, old, new } => {
                // A later topic still waiting for its own commit stays.
                if let Some(r) = self.rooms.get_mut(room.as_str()) {
                    if r.topic == *new {
                        r.topic.clone_from(old);
                    }
                }
            }
        }
    }

    /// Takes back a claim whose commit failed: the name is free again and the session that
    /// tried to claim it speaks as nobody.
    fn forget_claim(&mut self, session: SessionId, key: &str) {
        self.users.remove(key);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.user = None;
        }
    }

    /// Takes back messages whose commit failed: out of room and DM histories and queues.
    pub(crate) fn forget_posts(&mut self, ids: &[ChatId]) {
        if ids.is_empty() {
            return;
        }
        let gone = |p: &Posted| ids.contains(&p.id);
        for r in self.rooms.values_mut() {
            r.history.retain(|p| !gone(p));
        }
        for log in self.dms.values_mut() {
            log.retain(|p| !gone(p));
        }
        for u in self.users.values_mut() {
            u.trim(|a| {
                a.queue.retain(|p| !gone(p));
                a.sent.retain(|s| !ids.contains(&s.id));
            });
        }
    }
}
