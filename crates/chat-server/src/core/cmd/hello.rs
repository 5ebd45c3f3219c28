//! `Hello`: the session speaks as a name. A name belongs to a key: the first session to say a
//! free name binds it to the client's long-term public key (which the session layer proved in
//! its handshake), within its network's quota of claims, and only sessions of that key may
//! speak as it later; nothing a session sends, and nothing stored, lets another client in. A
//! name claimed by an older release (with a claim key, kept as its hash) is proved once with
//! that key and bound to the proving client's key from then on. Once a later session uses a
//! claim it is established (a new claim lapses after a day unused, an established one after
//! `claim_ttl`); a claim unused past its lifetime lapses first. What waited for the name is
//! delivered (and the news of what it sent that expired unread), and its room co-members see
//! it come online.

use dgram_proto::chat::{ClaimKey, ErrorKind, Posted, Presence, ServerMsg};
use dgram_proto::session::SessionId;
use dgram_proto::Name;

use super::super::effects::Effects;
use super::super::op::Op;
use super::super::quota;
use super::super::state::{Owner, PeerKey, User};
use super::super::undo::Undo;
use super::super::ChatCore;
use super::{info, Handled, Refused};

/// The most online users a welcome lists: enough to pick a partner from, while a server with
/// thousands online does not send each newcomer a list of thousands (`Who` asks for more).
const WELCOME_ONLINE: usize = 100;

pub(super) fn run(
    core: &mut ChatCore,
    session: SessionId,
    now_ms: u64,
    name: Name,
    legacy: Option<ClaimKey>,
    send_only: bool,
) -> Handled {
    let Some(me) = core.state.sessions.get_mut(&session).map(|s| {
        s.send_only = send_only;
        s.key
    }) else {
        return Ok(core.effects());
    };
    let Some(me) = me else {
        let message = "this session proved no key, and names belong to keys; \
                       upgrade the client"
            .to_owned();
        return Err(Refused::new(ErrorKind::Claimed, message));
    };
    if reserved(&name) {
        let message = format!("the name {name} is reserved; pick another");
        return Err(Refused::new(ErrorKind::Reserved, message));
    }
    let mut fx = core.effects();
    let k = name.key().to_owned();
    let (ttl, new_ttl) = (core.config.claim_ttl_ms, core.config.new_claim_ttl_ms);
    let lapsed = core
        .state
        .users
        .get(k.as_str())
        .map(|user| user.lapsed(ttl, new_ttl, now_ms));
    // A hello that claims is checked against the quota before anything changes: a refusal
    // must leave nothing half done (a lapse whose change would never be stored).
    if lapsed != Some(false) {
        within_quota(core, session, now_ms)?;
    }
    if lapsed == Some(true) {
        core.lapse(&mut fx, &k);
    }
    let claimed = match core.state.users.get_mut(k.as_str()) {
        Some(user) => {
            prove(&mut fx, session, user, me, legacy)?;
            establish(&mut fx, user);
            false
        }
        None => {
            claim(core, &mut fx, session, &name, me, now_ms);
            true
        }
    };
    core.detach(&mut fx, session, now_ms);
    if let Some(s) = core.state.sessions.get_mut(&session) {
        s.user = Some(name);
    }
    welcome(core, &mut fx, session, now_ms, &k, claimed);
    Ok(fx)
}

/// Names nobody may take: they would pass for the server, or for a guest of the client's.
fn reserved(name: &Name) -> bool {
    matches!(name.key(), "server" | "admin" | "system") || name.key().starts_with("guest-")
}

fn key_hash(key: &ClaimKey) -> [u8; 32] {
    *blake3::hash(key).as_bytes()
}

/// A claimed name needs its owner's key, or (claimed by an older release) the old claim key,
/// which binds it to this session's key.
fn prove(
    fx: &mut Effects,
    session: SessionId,
    user: &mut User,
    me: PeerKey,
    legacy: Option<ClaimKey>,
) -> Result<(), Refused> {
    let message = match user.owner {
        Owner::Key(owner) if owner == me => return Ok(()),
        Owner::Legacy(hash) if legacy.is_some_and(|key| key_hash(&key) == hash) => {
            user.owner = Owner::Key(me);
            fx.log(Op::Bind {
                user: user.name.clone(),
                owner: me,
            });
            let user = user.name.key().to_owned();
            fx.undo_on_failure(|| Undo::Bind {
                session,
                user,
                legacy: hash,
            });
            return Ok(());
        }
        Owner::Key(_) => format!(
            "the name {} belongs to another key; this device's identity is not the one \
             that claimed it (copy that one here with `client-cli key export` and \
             `key import`), or pick another name",
            user.name
        ),
        Owner::Legacy(_) => format!(
            "the name {} was claimed by an older client, and this one does not hold its old \
             claim key (it is kept on the device that claimed it); pick another name",
            user.name
        ),
    };
    Err(Refused::new(ErrorKind::Claimed, message))
}

/// A claim used again by a later session lives its full lifetime from now on.
fn establish(fx: &mut Effects, user: &mut User) {
    if !user.established {
        user.established = true;
        fx.log(Op::Established {
            user: user.name.clone(),
        });
    }
}

/// A new claim spends its network's quota of claims.
fn within_quota(core: &mut ChatCore, session: SessionId, now_ms: u64) -> Result<(), Refused> {
    let Some(ip) = core.state.sessions.get(&session).map(|s| s.ip()) else {
        return Ok(());
    };
    if core.quotas.claim(ip, now_ms) {
        return Ok(());
    }
    core.stats.over_quota += 1;
    let message = format!(
        "too many names were claimed from your network ({} at most); \
         try again later, or use a name your key already holds",
        quota::describe(core.config.claims_per_network)
    );
    Err(Refused::new(ErrorKind::Limit, message))
}

/// Claims a free name for the key `owner`.
fn claim(
    core: &mut ChatCore,
    fx: &mut Effects,
    session: SessionId,
    name: &Name,
    owner: PeerKey,
    now_ms: u64,
) {
    fx.log(Op::Claim {
        name: name.clone(),
        owner,
        at_ms: now_ms,
    });
    fx.undo_on_failure(|| Undo::Claim {
        session,
        user: name.key().to_owned(),
    });
    core.state
        .users
        .insert(Box::new(User::new(name.clone(), Owner::Key(owner), now_ms)));
}

/// Attaches the session to the user `k`, welcomes it, tells co-members, and delivers what
/// waited for the name.
fn welcome(
    core: &mut ChatCore,
    fx: &mut Effects,
    session: SessionId,
    now_ms: u64,
    k: &str,
    claimed: bool,
) {
    let send_only = core
        .state
        .sessions
        .get(&session)
        .is_some_and(|s| s.send_only);
    let Some(user) = core.state.users.get_mut(k) else {
        return;
    };
    let came_online = !user.online();
    let first_here = user.sessions.is_empty();
    user.attach(session);
    user.last_used_ms = now_ms;
    let spelled = user.name.clone();
    // What waits for the name goes to a session that reads, not to a one-shot sender.
    let queued: Vec<Posted> = if send_only {
        Vec::new()
    } else {
        user.trim(|a| a.queue.drain(..).collect())
            .unwrap_or_default()
    };
    if !claimed {
        fx.log(Op::Touch {
            user: spelled.clone(),
            at_ms: now_ms,
        });
    }
    if core.clustered && first_here {
        let user = spelled.clone();
        fx.log(Op::Presence { user, online: true });
    }
    let online: Vec<_> = core
        .state
        .users
        .values()
        .filter(|u| u.online())
        .take(WELCOME_ONLINE)
        .map(info)
        .collect();
    let name = spelled.clone();
    // Names belong to keys: there is no claim key to hand out.
    fx.send(
        session,
        ServerMsg::Welcome {
            name,
            key: None,
            online,
        },
    );
    if came_online {
        core.presence(fx, k, spelled, Presence::Online);
    }
    // What waited for this user, in order; its senders get receipts once it is acked.
    for posted in queued {
        core.deliver(fx, &[session], &posted, true);
    }
    // And what it sent that expired unread while it was away.
    core.waiting_notices(fx, session, k);
}
