//! `Join`: into a room, creating it if needed, within the per-user and per-server room caps and
//! the creator's network's quota of new rooms.
//! The joiner gets the recent history (only what is committed) and the topic; the other
//! members see the join.

use dgram_proto::chat::{channel_for, ErrorKind, Presence, Room, ServerMsg, Target};
use dgram_proto::session::SessionId;
use dgram_proto::{Name, RequestId};

use super::super::op::Op;
use super::super::pending::Pending;
use super::super::quota;
use super::super::state::{self, RoomState};
use super::super::undo::Undo;
use super::super::ChatCore;
use super::{Asker, Handled, Refused};

/// The joiner's name and whether it is in the room already, if the caps allow the join.
fn within_caps(
    core: &ChatCore,
    at: Asker<'_>,
    room: &Room,
) -> Result<Option<(Name, bool)>, Refused> {
    let Some(user) = core.state.users.get(at.me) else {
        return Ok(None);
    };
    let mine = &user.activity().rooms;
    let already = mine.contains(room.key());
    if !already && mine.len() >= core.config.max_rooms_per_user {
        let message = format!("you are in {} rooms, the most allowed", mine.len());
        return Err(Refused::new(ErrorKind::Limit, message));
    }
    let rooms = &core.state.rooms;
    if !rooms.contains_key(room.key()) && rooms.len() >= core.config.max_rooms {
        let message = "the server holds as many rooms as it may".to_owned();
        return Err(Refused::new(ErrorKind::Limit, message));
    }
    Ok(Some((user.name.clone(), already)))
}

/// A new room spends its creator's network's quota of rooms.
fn within_quota(core: &mut ChatCore, at: Asker<'_>) -> Result<(), Refused> {
    let Some(ip) = core.state.sessions.get(&at.session).map(|s| s.ip()) else {
        return Ok(());
    };
    if core.quotas.create_room(ip, at.now_ms) {
        return Ok(());
    }
    core.stats.over_quota += 1;
    let message = format!(
        "too many rooms were created from your network ({} at most); \
         join an existing room, or try again later",
        quota::describe(core.config.rooms_per_network)
    );
    Err(Refused::new(ErrorKind::Limit, message))
}

pub(super) fn run(
    core: &mut ChatCore,
    at: Asker<'_>,
    req: RequestId,
    room: Room,
    pending: &Pending,
) -> Handled {
    let mut fx = core.effects();
    let Some((name, already)) = within_caps(core, at, &room)? else {
        return Ok(fx);
    };
    if !core.state.rooms.contains_key(room.key()) {
        within_quota(core, at)?;
    }
    let r = core
        .state
        .rooms
        .entry(room.key().to_owned())
        .or_insert_with(|| RoomState::new(room.clone()));
    let joined = r.members.insert(at.me.to_owned());
    let (room, topic) = (r.room.clone(), r.topic.clone());
    let replay = state::tail(&r.history, (None, None), core.config.replay);
    let others: Vec<SessionId> = r
        .members
        .iter()
        .filter(|m| m.as_str() != at.me)
        .filter_map(|m| core.state.users.get(m.as_str()))
        .flat_map(|u| u.sessions.iter().copied())
        .collect();
    if let Some(u) = core.state.users.get_mut(at.me) {
        u.activity_mut().rooms.insert(room.key().to_owned());
    }
    if joined {
        let user = name.clone();
        fx.log(Op::Join {
            user,
            room: room.clone(),
        });
        fx.undo_on_failure(|| Undo::Join {
            user: at.me.to_owned(),
            room: room.key().to_owned(),
        });
    }
    fx.send(at.session, ServerMsg::Done { req });
    let with = Target::Room(room.clone());
    let messages = pending.committed_only(replay);
    let history = ServerMsg::History {
        req: None,
        with,
        messages,
    };
    fx.send_on(
        at.session,
        channel_for(&Target::Room(room.clone())),
        history,
    );
    if !topic.is_empty() {
        let room = room.clone();
        fx.send(
            at.session,
            ServerMsg::Topic {
                req: None,
                room,
                topic,
            },
        );
    }
    if !already {
        let presence = Presence::Joined(room);
        fx.send_each(others, ServerMsg::Presence { name, presence });
    }
    Ok(fx)
}
