//! `Send`: a message to a user or a room. It is accepted (an id and a timestamp), kept in the
//! conversation's history, and delivered to every receiving session of its recipients; a DM to
//! someone offline waits in their queue, and one to someone away gets their away message back.
//! Receipts follow once recipients acknowledge it. A resend (the same client-chosen `txn`
//! again) is answered by `resend.rs` and stored no more.

use dgram_proto::chat::{ClientMsg, ErrorKind, Posted, Presence, ServerMsg, Target, Txn, MAX_TEXT};
use dgram_proto::session::SessionId;
use dgram_proto::RequestId;
use smallvec::SmallVec;

use super::super::effects::Effects;
use super::super::op::Op;
use super::super::pending::Pending;
use super::super::state;
use super::super::state::Sent;
use super::super::store::Fence;
use super::super::ChatCore;
use super::{Asker, Handled, Refused};

pub(super) fn run(
    core: &mut ChatCore,
    at: Asker<'_>,
    (req, txn): (RequestId, Txn),
    to: Target,
    text: String,
    pending: &Pending,
) -> Handled {
    if let Some(fx) = core.resent(at.me, at.session, req, txn, pending) {
        return Ok(fx);
    }
    if text.len() > MAX_TEXT {
        let message = format!(
            "message of {} bytes exceeds the limit of {MAX_TEXT} bytes; split it",
            text.len()
        );
        return Err(Refused::new(ErrorKind::TooLong, message));
    }
    let mut fx = core.effects();
    let Some(from) = core.state.users.get(at.me).map(|u| u.name.clone()) else {
        return Ok(fx);
    };
    let to = spelled(core, to);
    if unknown_here(core, at, &to) {
        // Nothing was changed or counted yet: the request goes back whole, to run again.
        let msg = ClientMsg::Send { req, txn, to, text };
        fx.fence = Some(Fence {
            session: at.session,
            msg,
        });
        return Ok(fx);
    }
    let recipients = recipients(core, at, &to)?;
    inbox_has_room(core, &to, &recipients)?;
    // One allocation for the answer and every delivery (a room post fans out to each member).
    fx.out.reserve(recipients.len() + 2);
    let id = core.next_id;
    core.next_id += core.id_step;
    core.stats.accepted += 1;
    let posted = Posted {
        id,
        ts: at.now_ms,
        from,
        to,
        text,
    };
    if fx.keeps() {
        // Only a kept change copies the message; in memory nothing need.
        fx.log(Op::Post(posted.clone()));
    }
    let ts = at.now_ms;
    core.remember_sent(&mut fx, at.me, Sent { txn, id, ts });
    if let Target::User(name) = &posted.to {
        // Durably queued until the recipient acknowledges it, online or not, so that a
        // crash between sending and the acknowledgement loses nothing.
        let user = name.clone();
        fx.log(Op::Queue { user, id });
    }
    fx.send(at.session, ServerMsg::Accepted { req, id, ts });
    match posted.to.clone() {
        Target::Room(room) => to_room(core, &mut fx, at, &room, posted, recipients),
        Target::User(name) => to_user(core, &mut fx, at, &name, posted, recipients),
    }
    Ok(fx)
}

/// Messages name their target as its owner spells it, whatever the sender typed.
fn spelled(core: &ChatCore, to: Target) -> Target {
    match to {
        Target::User(n) => {
            Target::User(core.state.users.get(n.key()).map_or(n, |u| u.name.clone()))
        }
        Target::Room(r) => Target::Room(
            core.state
                .rooms
                .get(r.key())
                .map_or(r, |rs| rs.room.clone()),
        ),
    }
}

/// In a cluster, a DM to a name this replica does not know may be to one claimed through
/// another instance a moment ago, whose claim has not been applied here yet: it is answered
/// once this replica has caught up with the log (then an unknown name is refused as
/// unknown). A single server knows every name; it never asks, and copies nothing for it.
fn unknown_here(core: &ChatCore, at: Asker<'_>, to: &Target) -> bool {
    core.clustered
        && !at.fenced
        && matches!(to, Target::User(name) if !core.state.users.contains_key(name.key()))
}

/// A message's recipient sessions: inline for a DM's one or two, on the heap for a room's.
type Recipients = SmallVec<[SessionId; 4]>;

/// The sessions a message goes to: a user's receiving sessions, or every other member's.
fn recipients(core: &ChatCore, at: Asker<'_>, to: &Target) -> Result<Recipients, Refused> {
    let s = &core.state;
    match to {
        Target::User(name) => match s.users.get(name.key()) {
            Some(u) => Ok(s.receiving_iter(u).collect()),
            None => {
                let message = format!("no user named {name}");
                Err(Refused::new(ErrorKind::UnknownUser, message))
            }
        },
        Target::Room(room) => match s.rooms.get(room.key()) {
            Some(r) if r.members.contains(at.me) => Ok(r
                .members
                .iter()
                .filter_map(|m| s.users.get(m.as_str()))
                .flat_map(|u| s.receiving_iter(u))
                .filter(|&x| x != at.session)
                .collect()),
            _ => {
                let message = format!("you are not in #{room}; /join it first");
                Err(Refused::new(ErrorKind::NotInRoom, message))
            }
        },
    }
}

/// A DM that would wait in a full queue is refused: every queued DM was accepted, and an
/// accepted message is a promise, so the cap turns the new one away rather than drop an old one.
fn inbox_has_room(
    core: &mut ChatCore,
    to: &Target,
    recipients: &[SessionId],
) -> Result<(), Refused> {
    let Target::User(name) = to else {
        return Ok(());
    };
    let cap = core.config.queue;
    let full = recipients.is_empty()
        && core
            .state
            .users
            .get(name.key())
            .is_some_and(|u| u.activity().queue.len() >= cap);
    if !full {
        return Ok(());
    }
    core.stats.queue_full += 1;
    let message =
        format!("{name}'s inbox is full; not sent ({cap} messages wait for them to come back)");
    Err(Refused::new(ErrorKind::Limit, message))
}

fn to_room(
    core: &mut ChatCore,
    fx: &mut Effects,
    at: Asker<'_>,
    room: &dgram_proto::chat::Room,
    posted: Posted,
    recipients: Recipients,
) {
    let cap = core.config.room_history;
    if let Some(r) = core.state.rooms.get_mut(room.key()) {
        core.stats.history_dropped += state::push_capped(&mut r.history, posted.clone(), cap);
    }
    // In a cluster, the other instances showing a member online each say when their sessions
    // have it; a single server waits for none.
    let awaiting = core.instances_with_members(room.key());
    if recipients.is_empty() && awaiting.is_empty() {
        // Nobody else is there to acknowledge it: delivered to everyone there is.
        fx.send(at.session, ServerMsg::Delivered { id: posted.id });
    }
    let id = posted.id;
    core.deliver(fx, &recipients, &posted, true);
    if !awaiting.is_empty() {
        core.await_instances(id, posted.from, room.key(), awaiting);
    }
}

fn to_user(
    core: &mut ChatCore,
    fx: &mut Effects,
    at: Asker<'_>,
    name: &dgram_proto::Name,
    posted: Posted,
    recipients: Recipients,
) {
    let pair = state::pair_key(&posted.from, name);
    let cap = core.config.dm_history;
    let log = core.state.dms.log_mut(pair);
    core.stats.history_dropped += state::push_capped(log, posted.clone(), cap);
    // The sender's other sessions see what it sent (a `listen` beside a `send`).
    let mine: Recipients = core
        .state
        .users
        .get(at.me)
        .map(|u| {
            core.state
                .receiving_iter(u)
                .filter(|&s| s != at.session)
                .collect()
        })
        .unwrap_or_default();
    let to_self = name.key() == at.me;
    if recipients.is_empty() {
        core.queue(fx, name.key(), posted.clone(), at.session);
    } else {
        core.deliver(fx, &recipients, &posted, true);
        // As IRC's RPL_AWAY: a DM to someone online but away gets their away message back,
        // so that the sender knows why no answer comes.
        let away = core
            .state
            .users
            .get(name.key())
            .and_then(|u| u.activity().away.clone());
        if let (Some(away), false) = (away, to_self) {
            let presence = Presence::Away(away);
            let name = name.clone();
            fx.send(at.session, ServerMsg::Presence { name, presence });
        }
    }
    if !to_self {
        core.deliver(fx, &mine, &posted, false);
    }
}
