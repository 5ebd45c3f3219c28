//! `Who`: who is online, server-wide or in one room, within one answer's size budget.

use dgram_proto::chat::{Room, ServerMsg, UserInfo};
use dgram_proto::RequestId;

use super::super::state;
use super::super::ChatCore;
use super::{info, Asker, Handled};

/// The most users one answer lists.
const MAX_WHO: usize = 1000;

pub(super) fn run(
    core: &mut ChatCore,
    at: Asker<'_>,
    req: RequestId,
    room: Option<Room>,
) -> Handled {
    let s = &core.state;
    let users: Vec<UserInfo> = match &room {
        None => s
            .users
            .values()
            .filter(|u| u.online())
            .take(MAX_WHO)
            .map(info)
            .collect(),
        Some(r) => match s.rooms.get(r.key()) {
            Some(rs) => rs
                .members
                .iter()
                .filter_map(|m| s.users.get(m.as_str()))
                .filter(|u| u.online())
                .take(MAX_WHO)
                .map(info)
                .collect(),
            None => Vec::new(),
        },
    };
    let users = state::within_budget(users.into_iter(), |u| {
        u.name.as_str().len() + u.away.as_ref().map_or(0, String::len) + 16
    });
    let mut fx = core.effects();
    fx.send(at.session, ServerMsg::Who { req, room, users });
    Ok(fx)
}
