//! `Hello`: the session speaks as a name. A free name is claimed (the client gets a new key to
//! keep), within its network's quota of claims; a claimed one needs its key, and once a later
//! session shows it the claim is established (a new claim lapses after a day unused, an
//! established one after `claim_ttl`); a claim unused past its lifetime lapses first. What
//! waited for the name is delivered (and the news of what it sent that expired unread), and its
//! room co-members see it come online.

use std::collections::{BTreeSet, VecDeque};

use dgram_proto::chat::{ClaimKey, ErrorKind, Posted, Presence, ServerMsg};
use dgram_proto::session::SessionId;
use dgram_proto::Name;

use super::super::effects::Effects;
use super::super::op::Op;
use super::super::quota;
use super::super::state::{User, UserKey};
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
    key: Option<ClaimKey>,
    send_only: bool,
) -> Handled {
    if let Some(s) = core.state.sessions.get_mut(&session) {
        s.send_only = send_only;
    }
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
    let new_key = match core.state.users.get_mut(k.as_str()) {
        Some(user) => {
            prove(user, key)?;
            establish(&mut fx, user);
            None
        }
        None => Some(claim(core, &mut fx, &name, now_ms)),
    };
    core.detach(&mut fx, session, now_ms);
    if let Some(s) = core.state.sessions.get_mut(&session) {
        s.user = Some(name);
    }
    welcome(core, &mut fx, session, now_ms, &k, new_key);
    Ok(fx)
}

/// Names nobody may take: they would pass for the server, or for a guest of the client's.
fn reserved(name: &Name) -> bool {
    matches!(name.key(), "server" | "admin" | "system") || name.key().starts_with("guest-")
}

fn key_hash(key: &ClaimKey) -> [u8; 32] {
    *blake3::hash(key).as_bytes()
}

/// A claimed name needs the key its claim handed out.
fn prove(user: &User, key: Option<ClaimKey>) -> Result<(), Refused> {
    if key.is_some_and(|key| key_hash(&key) == user.key_hash) {
        return Ok(());
    }
    let message = format!(
        "the name {} is claimed, and this client does not hold its key \
         (it is kept on the device that claimed it); pick another name",
        user.name
    );
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
         try again later, or use a name you hold the key of",
        quota::describe(core.config.claims_per_network)
    );
    Err(Refused::new(ErrorKind::Limit, message))
}

/// Claims a free name; returns its new key.
fn claim(core: &mut ChatCore, fx: &mut Effects, name: &Name, now_ms: u64) -> ClaimKey {
    let mut key = [0u8; 16];
    core.rng.fill(&mut key);
    fx.log(Op::Claim {
        name: name.clone(),
        key_hash: key_hash(&key),
        at_ms: now_ms,
    });
    core.state.users.insert(
        UserKey(name.clone()),
        Box::new(User {
            name: name.clone(),
            key_hash: key_hash(&key),
            last_used_ms: now_ms,
            established: false,
            sessions: Vec::new(),
            away: None,
            queue: VecDeque::new(),
            sent: VecDeque::new(),
            rooms: BTreeSet::new(),
            elsewhere: 0,
        }),
    );
    key
}

/// Attaches the session to the user `k`, welcomes it, tells co-members, and delivers what
/// waited for the name.
fn welcome(
    core: &mut ChatCore,
    fx: &mut Effects,
    session: SessionId,
    now_ms: u64,
    k: &str,
    new_key: Option<ClaimKey>,
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
        user.queue.drain(..).collect()
    };
    if new_key.is_none() {
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
        .map(|u| info(u))
        .collect();
    let name = spelled.clone();
    let key = new_key;
    fx.send(session, ServerMsg::Welcome { name, key, online });
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
