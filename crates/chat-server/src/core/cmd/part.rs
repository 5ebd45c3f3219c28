//! `Part`: out of a room. The remaining members see it; a room left with nobody in it and
//! nothing said in it is forgotten, so that made-up rooms cannot use up the server's limit.

use dgram_proto::chat::{ErrorKind, Presence, Room, ServerMsg};
use dgram_proto::session::SessionId;
use dgram_proto::RequestId;

use super::super::op::Op;
use super::super::undo::Undo;
use super::super::ChatCore;
use super::{Asker, Handled, Refused};

pub(super) fn run(core: &mut ChatCore, at: Asker<'_>, req: RequestId, room: Room) -> Handled {
    let member = core
        .state
        .rooms
        .get_mut(room.key())
        .is_some_and(|r| r.members.remove(at.me));
    if !member {
        let message = format!("you are not in #{room}");
        return Err(Refused::new(ErrorKind::NotInRoom, message));
    }
    let mut fx = core.effects();
    let name = match core.state.users.get_mut(at.me) {
        Some(u) => {
            u.trim(|a| a.rooms.remove(room.key()));
            u.name.clone()
        }
        None => return Ok(fx),
    };
    fx.log(Op::Part {
        user: name.clone(),
        room: room.clone(),
    });
    fx.undo_on_failure(|| Undo::Part {
        user: at.me.to_owned(),
        room: room.clone(),
    });
    let vacant = core
        .state
        .rooms
        .get(room.key())
        .is_some_and(|r| r.members.is_empty() && r.history.is_empty() && r.topic.is_empty());
    if vacant {
        core.state.rooms.remove(room.key());
        fx.log(Op::DropRoom { room: room.clone() });
    }
    fx.send(at.session, ServerMsg::Done { req });
    let s = &core.state;
    let remaining: Vec<SessionId> = s
        .rooms
        .get(room.key())
        .map(|r| {
            r.members
                .iter()
                .filter_map(|m| s.users.get(m.as_str()))
                .flat_map(|u| s.receiving_iter(u))
                .collect()
        })
        .unwrap_or_default();
    let presence = Presence::Left(room);
    fx.send_each(remaining, ServerMsg::Presence { name, presence });
    Ok(fx)
}
