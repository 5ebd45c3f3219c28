//! `Rooms`: every room with its member count and topic, the busiest first, within one
//! answer's size budget.

use dgram_proto::chat::{RoomInfo, ServerMsg};
use dgram_proto::RequestId;

use super::super::state;
use super::super::ChatCore;
use super::{Asker, Handled};

pub(super) fn run(core: &mut ChatCore, at: Asker<'_>, req: RequestId) -> Handled {
    let mut rooms: Vec<RoomInfo> = core
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
    let mut fx = core.effects();
    fx.send(at.session, ServerMsg::Rooms { req, rooms });
    Ok(fx)
}
