//! `Whois`: where the server sees each of a user's sessions, and their away text.

use dgram_proto::chat::{ErrorKind, ServerMsg};
use dgram_proto::{Name, RequestId};

use super::super::ChatCore;
use super::{Asker, Handled, Refused};

pub(super) fn run(core: &mut ChatCore, at: Asker<'_>, req: RequestId, name: Name) -> Handled {
    let s = &core.state;
    let Some(user) = s.users.get(name.key()) else {
        let message = format!("no user named {name}");
        return Err(Refused::new(ErrorKind::UnknownUser, message));
    };
    let addrs = user
        .sessions
        .iter()
        .filter_map(|id| s.sessions.get(id))
        .map(|i| i.peer().to_string())
        .collect();
    let msg = ServerMsg::Whois {
        req,
        name: user.name.clone(),
        addrs,
        away: user.activity().away.clone(),
    };
    let mut fx = core.effects();
    fx.send(at.session, msg);
    Ok(fx)
}
