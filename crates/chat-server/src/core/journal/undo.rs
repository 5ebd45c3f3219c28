//! Taking back what a failed commit changed. The core changes its memory as it handles an
//! event and holds back what it would tell anyone until the change is on disk; when the store
//! reports that it could not commit, the change is undone in memory too, so that the server
//! never shows, after a failure or after a restart, a state that its clients were told did not
//! happen (or the other way round). The requester gets an error instead of the answer, and
//! nobody else hears of it.

use std::sync::Arc;

use super::super::state::RoomState;
use super::super::{ChatCore, Output};
use super::Ticket;
use dgram_proto::chat::{ChatId, ErrorKind, Room, ServerMsg};
use dgram_proto::session::SessionId;

/// How to take back one in-memory change that is not a message or a claim (those are found
/// from the held outputs).
#[derive(Debug)]
pub(crate) enum Undo {
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

impl ChatCore {
    /// Records how to take back a change if its commit fails (durable mode only: in memory
    /// nothing is made for it).
    pub(crate) fn undo_on_failure(&mut self, undo: impl FnOnce() -> Undo) {
        if let Some(j) = self.journal.as_mut() {
            j.undo.push(undo());
        }
    }

    /// Everything up to `ticket` could not be committed: its changes are taken back, their
    /// requesters told why, and nothing is delivered.
    pub fn commit_failed(&mut self, ticket: Ticket, why: &str) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        let mut failed = Vec::new();
        while j.held.front().is_some_and(|h| h.ticket <= ticket) {
            if let Some(h) = j.held.pop_front() {
                failed.push(h);
            }
        }
        // Newest first, so that each change is taken back from the state it left.
        for undo in failed.iter().rev().flat_map(|h| h.undo.iter().rev()) {
            self.take_back(undo);
        }
        for h in failed {
            self.forget_posts(&h.posts);
            // A join, part or topic was one request: its answer becomes the error, and the
            // notices it would have sent others (presence, topic, the joiner's replay) go.
            let request_only = !h.undo.is_empty();
            for out in h.outputs {
                if let Some(out) = self.failed_output(out, why, request_only) {
                    self.out.push_back(out);
                }
            }
        }
    }

    /// What becomes of one held output when its commit failed: `None` when it is not sent.
    fn failed_output(&mut self, out: Output, why: &str, request_only: bool) -> Option<Output> {
        let msg = match &*out.msg {
            ServerMsg::Accepted { req, .. } => ServerMsg::Error {
                req: Some(*req),
                kind: ErrorKind::Unavailable,
                message: format!("the server could not store this ({why}); it was not sent"),
            },
            ServerMsg::Welcome {
                name, key: Some(_), ..
            } => {
                self.forget_claim(out.session, name.key());
                ServerMsg::Error {
                    req: None,
                    kind: ErrorKind::Unavailable,
                    message: format!(
                        "the server could not store your claim on {name} ({why}); try again"
                    ),
                }
            }
            ServerMsg::Done { req } if request_only => ServerMsg::Error {
                req: Some(*req),
                kind: ErrorKind::Unavailable,
                message: format!("the server could not store this ({why}); nothing changed"),
            },
            ServerMsg::Message(_) | ServerMsg::NotDelivered { .. } => return None,
            _ if request_only => return None,
            _ => return Some(out),
        };
        Some(Output {
            msg: Arc::new(msg),
            ..out
        })
    }

    fn take_back(&mut self, undo: &Undo) {
        let state = &mut self.state;
        match undo {
            Undo::Join { user, room } => {
                if let Some(r) = state.rooms.get_mut(room.as_str()) {
                    r.members.remove(user.as_str());
                    if r.members.is_empty() && r.history.is_empty() && r.topic.is_empty() {
                        state.rooms.remove(room.as_str());
                    }
                }
                if let Some(u) = state.users.get_mut(user.as_str()) {
                    u.rooms.remove(room.as_str());
                }
            }
            Undo::Part { user, room } => {
                // The name may have lapsed since; a room of nobody is not brought back.
                let Some(u) = state.users.get_mut(user.as_str()) else {
                    return;
                };
                u.rooms.insert(room.key().to_owned());
                state
                    .rooms
                    .entry(room.key().to_owned())
                    .or_insert_with(|| RoomState::new(room.clone()))
                    .members
                    .insert(user.clone());
            }
            Undo::Topic { room, old, new } => {
                // A later topic still waiting for its own commit stays.
                if let Some(r) = state.rooms.get_mut(room.as_str()) {
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
        self.state.users.remove(key);
        if let Some(s) = self.state.sessions.get_mut(&session) {
            s.user = None;
        }
    }

    /// Takes back messages whose commit failed: out of room and DM histories and queues.
    fn forget_posts(&mut self, ids: &[ChatId]) {
        if ids.is_empty() {
            return;
        }
        let gone = |p: &dgram_proto::chat::Posted| ids.contains(&p.id);
        for r in self.state.rooms.values_mut() {
            r.history.retain(|p| !gone(p));
        }
        for log in self.state.dms.values_mut() {
            log.retain(|p| !gone(p));
        }
        for u in self.state.users.values_mut() {
            u.queue.retain(|p| !gone(p));
        }
    }
}
