//! `Topic`: read a room's topic, or (as a member) set it; every member sees the new one.

use dgram_proto::chat::{ErrorKind, Room, ServerMsg, MAX_STATUS_TEXT};
use dgram_proto::session::SessionId;
use dgram_proto::RequestId;

use super::super::op::Op;
use super::super::undo::Undo;
use super::super::ChatCore;
use super::{Asker, Handled, Refused};

pub(super) fn run(
    core: &mut ChatCore,
    at: Asker<'_>,
    req: RequestId,
    room: Room,
    topic: Option<String>,
) -> Handled {
    let mut fx = core.effects();
    let Some(r) = core.state.rooms.get_mut(room.key()) else {
        let message = format!("there is no room #{room}");
        return Err(Refused::new(ErrorKind::NotInRoom, message));
    };
    let Some(topic) = topic else {
        let (room, topic) = (r.room.clone(), r.topic.clone());
        let req = Some(req);
        fx.send(at.session, ServerMsg::Topic { req, room, topic });
        return Ok(fx);
    };
    if !r.members.contains(at.me) {
        let message = format!("you are not in #{room}");
        return Err(Refused::new(ErrorKind::NotInRoom, message));
    }
    if topic.len() > MAX_STATUS_TEXT {
        let message = format!(
            "topic of {} bytes exceeds the limit of {MAX_STATUS_TEXT} bytes",
            topic.len()
        );
        return Err(Refused::new(ErrorKind::TooLong, message));
    }
    let old = std::mem::replace(&mut r.topic, topic.clone());
    let room = r.room.clone();
    let sessions: Vec<SessionId> = r
        .members
        .iter()
        .filter_map(|m| core.state.users.get(m.as_str()))
        .flat_map(|u| u.sessions.iter().copied())
        .collect();
    fx.log(Op::Topic {
        room: room.clone(),
        topic: topic.clone(),
    });
    fx.undo_on_failure(|| Undo::Topic {
        room: room.key().to_owned(),
        old,
        new: topic.clone(),
    });
    fx.send(at.session, ServerMsg::Done { req });
    let msg = ServerMsg::Topic {
        req: None,
        room,
        topic,
    };
    fx.send_each(sessions, msg);
    Ok(fx)
}
