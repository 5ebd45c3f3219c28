//! `Away`: set or clear an away message; room co-members see the change.

use dgram_proto::chat::{ErrorKind, Presence, ServerMsg, MAX_STATUS_TEXT};
use dgram_proto::RequestId;

use super::super::ChatCore;
use super::{Asker, Handled, Refused};

pub(super) fn run(
    core: &mut ChatCore,
    at: Asker<'_>,
    req: RequestId,
    text: Option<String>,
) -> Handled {
    if let Some(len) = text
        .as_ref()
        .map(String::len)
        .filter(|&l| l > MAX_STATUS_TEXT)
    {
        let message =
            format!("away message of {len} bytes exceeds the limit of {MAX_STATUS_TEXT} bytes");
        return Err(Refused::new(ErrorKind::TooLong, message));
    }
    let mut fx = core.effects();
    let Some(user) = core.state.users.get_mut(at.me) else {
        return Ok(fx);
    };
    match &text {
        Some(t) => user.activity_mut().away = Some(t.clone()),
        None => {
            user.trim(|a| a.away = None);
        }
    }
    let name = user.name.clone();
    fx.send(at.session, ServerMsg::Done { req });
    let presence = match text {
        Some(t) => Presence::Away(t),
        None => Presence::Back,
    };
    core.presence(&mut fx, at.me, name, presence);
    Ok(fx)
}
