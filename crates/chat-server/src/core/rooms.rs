//! The chat server's answers about rooms: joining (with the history replay and the topic),
//! leaving, listing rooms and members, and topics.

use super::journal::Undo;
use super::state::{self, RoomState};
use super::Op;
use super::{info, send_each, ChatCore};
use dgram_proto::chat::{
    channel_for, ErrorKind, Presence, Room, RoomInfo, ServerMsg, Target, MAX_STATUS_TEXT,
};
use dgram_proto::session::SessionId;
use dgram_proto::RequestId;

impl ChatCore {
    pub(super) fn join(&mut self, session: SessionId, me: &str, req: RequestId, room: Room) {
        let Some(user) = self.state.users.get(me) else {
            return;
        };
        let name = user.name.clone();
        let already = user.rooms.contains(room.key());
        if !already && user.rooms.len() >= self.config.max_rooms_per_user {
            let message = format!("you are in {} rooms, the most allowed", user.rooms.len());
            return self.error(session, Some(req), ErrorKind::Limit, message);
        }
        if !self.state.rooms.contains_key(room.key())
            && self.state.rooms.len() >= self.config.max_rooms
        {
            let message = "the server holds as many rooms as it may".to_owned();
            return self.error(session, Some(req), ErrorKind::Limit, message);
        }
        let r = self
            .state
            .rooms
            .entry(room.key().to_owned())
            .or_insert_with(|| RoomState::new(room.clone()));
        let joined = r.members.insert(me.to_owned());
        let (room, topic) = (r.room.clone(), r.topic.clone());
        let replay = state::tail(&r.history, None, self.config.replay);
        let others: Vec<SessionId> = r
            .members
            .iter()
            .filter(|m| m.as_str() != me)
            .filter_map(|m| self.state.users.get(m.as_str()))
            .flat_map(|u| u.sessions.iter().copied())
            .collect();
        if let Some(u) = self.state.users.get_mut(me) {
            u.rooms.insert(room.key().to_owned());
        }
        let replay = self.committed_only(replay);
        if joined {
            let user = name.clone();
            self.log(Op::Join {
                user,
                room: room.clone(),
            });
            self.undo_on_failure(|| Undo::Join {
                user: me.to_owned(),
                room: room.key().to_owned(),
            });
        }
        self.send(session, ServerMsg::Done { req });
        self.out.push_back(super::Output {
            session,
            channel: channel_for(&Target::Room(room.clone())),
            msg: std::sync::Arc::new(ServerMsg::History {
                req: None,
                with: Target::Room(room.clone()),
                messages: replay,
            }),
            receipt: None,
        });
        if !topic.is_empty() {
            self.send(
                session,
                ServerMsg::Topic {
                    req: None,
                    room: room.clone(),
                    topic,
                },
            );
        }
        if !already {
            let presence = Presence::Joined(room.clone());
            send_each(
                &mut self.out,
                others,
                ServerMsg::Presence { name, presence },
            );
        }
    }

    pub(super) fn part(&mut self, session: SessionId, me: &str, req: RequestId, room: Room) {
        let member = self
            .state
            .rooms
            .get_mut(room.key())
            .is_some_and(|r| r.members.remove(me));
        if !member {
            let message = format!("you are not in #{room}");
            return self.error(session, Some(req), ErrorKind::NotInRoom, message);
        }
        let name = match self.state.users.get_mut(me) {
            Some(u) => {
                u.rooms.remove(room.key());
                u.name.clone()
            }
            None => return,
        };
        self.log(Op::Part {
            user: name.clone(),
            room: room.clone(),
        });
        self.undo_on_failure(|| Undo::Part {
            user: me.to_owned(),
            room: room.clone(),
        });
        // A room nobody is in and nothing was said in is forgotten, so that joining and leaving
        // made-up rooms cannot use up the server's room limit.
        let vacant =
            self.state.rooms.get(room.key()).is_some_and(|r| {
                r.members.is_empty() && r.history.is_empty() && r.topic.is_empty()
            });
        if vacant {
            self.state.rooms.remove(room.key());
            self.log(Op::DropRoom { room: room.clone() });
        }
        self.send(session, ServerMsg::Done { req });
        let remaining: Vec<SessionId> = self
            .state
            .rooms
            .get(room.key())
            .map(|r| {
                r.members
                    .iter()
                    .filter_map(|m| self.state.users.get(m.as_str()))
                    .flat_map(|u| self.state.receiving_iter(u))
                    .collect()
            })
            .unwrap_or_default();
        let presence = Presence::Left(room);
        send_each(
            &mut self.out,
            remaining,
            ServerMsg::Presence { name, presence },
        );
    }

    pub(super) fn rooms(&mut self, session: SessionId, req: RequestId) {
        let mut rooms: Vec<RoomInfo> = self
            .state
            .rooms
            .values()
            .map(|r| RoomInfo {
                room: r.room.clone(),
                members: r.members.len() as u32,
                topic: r.topic.clone(),
            })
            .collect();
        rooms.sort_by(|a, b| {
            b.members
                .cmp(&a.members)
                .then(a.room.key().cmp(b.room.key()))
        });
        let rooms = state::within_budget(rooms.into_iter(), |r| {
            r.room.as_str().len() + r.topic.len() + 16
        });
        self.send(session, ServerMsg::Rooms { req, rooms });
    }

    pub(super) fn who(&mut self, session: SessionId, req: RequestId, room: Option<Room>) {
        let users = match &room {
            None => self
                .state
                .users
                .values()
                .filter(|u| u.online())
                .take(1000)
                .map(|u| info(u))
                .collect(),
            Some(r) => match self.state.rooms.get(r.key()) {
                Some(rs) => rs
                    .members
                    .iter()
                    .filter_map(|m| self.state.users.get(m.as_str()))
                    .filter(|u| u.online())
                    .take(1000)
                    .map(|u| info(u))
                    .collect(),
                None => Vec::new(),
            },
        };
        let users: Vec<_> = users;
        let users = state::within_budget(users.into_iter(), |u| {
            u.name.as_str().len() + u.away.as_ref().map_or(0, String::len) + 16
        });
        self.send(session, ServerMsg::Who { req, room, users });
    }

    pub(super) fn topic(
        &mut self,
        session: SessionId,
        me: &str,
        req: RequestId,
        room: Room,
        topic: Option<String>,
    ) {
        let Some(r) = self.state.rooms.get_mut(room.key()) else {
            let message = format!("there is no room #{room}");
            return self.error(session, Some(req), ErrorKind::NotInRoom, message);
        };
        let Some(topic) = topic else {
            let (room, topic) = (r.room.clone(), r.topic.clone());
            return self.send(
                session,
                ServerMsg::Topic {
                    req: Some(req),
                    room,
                    topic,
                },
            );
        };
        if !r.members.contains(me) {
            let message = format!("you are not in #{room}");
            return self.error(session, Some(req), ErrorKind::NotInRoom, message);
        }
        if topic.len() > MAX_STATUS_TEXT {
            let message = format!(
                "topic of {} bytes exceeds the limit of {MAX_STATUS_TEXT} bytes",
                topic.len()
            );
            return self.error(session, Some(req), ErrorKind::TooLong, message);
        }
        let old = std::mem::replace(&mut r.topic, topic.clone());
        let room = r.room.clone();
        let sessions: Vec<SessionId> = r
            .members
            .iter()
            .filter_map(|m| self.state.users.get(m.as_str()))
            .flat_map(|u| u.sessions.iter().copied())
            .collect();
        self.log(Op::Topic {
            room: room.clone(),
            topic: topic.clone(),
        });
        self.undo_on_failure(|| Undo::Topic {
            room: room.key().to_owned(),
            old,
            new: topic.clone(),
        });
        self.send(session, ServerMsg::Done { req });
        let msg = ServerMsg::Topic {
            req: None,
            room,
            topic,
        };
        send_each(&mut self.out, sessions, msg);
    }
}
