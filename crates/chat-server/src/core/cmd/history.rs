//! `History`: a conversation's messages, newest last, after an id if asked (to fill a gap)
//! and before one if asked (to scroll back past the newest), at most a limit; only what is
//! committed, and on the conversation's own channel.

use dgram_proto::chat::{channel_for, ChatId, ErrorKind, ServerMsg, Target};
use dgram_proto::RequestId;

use super::super::pending::Pending;
use super::super::state;
use super::super::ChatCore;
use super::{Asker, Handled, Refused};

/// The most messages one History answer carries.
const MAX_HISTORY_ANSWER: usize = 200;

pub(super) fn run(
    core: &mut ChatCore,
    at: Asker<'_>,
    req: RequestId,
    with: Target,
    span: (Option<ChatId>, Option<ChatId>),
    limit: u32,
    pending: &Pending,
) -> Handled {
    let limit = (limit as usize).min(MAX_HISTORY_ANSWER);
    let s = &core.state;
    let messages = match &with {
        Target::Room(room) => match s.rooms.get(room.key()) {
            Some(r) if r.members.contains(at.me) => state::tail(&r.history, span, limit),
            _ => {
                let message = format!("you are not in #{room}");
                return Err(Refused::new(ErrorKind::NotInRoom, message));
            }
        },
        Target::User(name) => s
            .users
            .get(at.me)
            .and_then(|u| s.dms.get(&state::pair_key(&u.name, name)))
            .map(|log| state::tail(log, span, limit))
            .unwrap_or_default(),
    };
    let messages = pending.committed_only(messages);
    let mut fx = core.effects();
    let channel = channel_for(&with);
    let req = Some(req);
    let answer = ServerMsg::History {
        req,
        with,
        messages,
    };
    fx.send_on(at.session, channel, answer);
    Ok(fx)
}
