//! The chat server's data: users and their claims, sessions, rooms, bounded histories and
//! offline queues. Only the bookkeeping lives here; the rules are the handlers' (`cmd/`).

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use foldhash::{HashMap, HashSet, HashSetExt};
use smallvec::SmallVec;

use dgram_proto::chat::{ChatId, Posted, Room, Txn};
use dgram_proto::session::SessionId;
use dgram_proto::Name;

use super::activity::Activity;
use super::dms::Dms;
use super::users::Users;

/// A client's long-term public key, as its session proved it in the handshake.
pub type PeerKey = [u8; 32];

/// Who may speak as a name: the key it is bound to, or (for a claim made before names
/// belonged to keys) the hash of the old claim key, which proves the name once and then binds
/// it to the proving session's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Bound to this public key.
    Key(PeerKey),
    /// Claimed by an older release: the BLAKE3 hash of its claim key.
    Legacy([u8; 32]),
}

/// A claimed name.
#[derive(Debug)]
pub(crate) struct User {
    pub(crate) name: Name,
    pub(crate) owner: Owner,
    pub(crate) last_used_ms: u64,
    /// Used by a session after the one that claimed it: the claim lives its full lifetime.
    /// Until then it is new, and lapses after a day unused.
    pub(crate) established: bool,
    /// A handful at most in practice (a laptop, a phone, a script): a list is smaller and
    /// faster than a set, and the first two sit inline, in the 24 bytes an empty `Vec` takes,
    /// so that a user online once holds no allocation for it (issue 17).
    pub(crate) sessions: SmallVec<[SessionId; 2]>,
    /// What only a user who does something has; `None` while it would all be empty.
    pub(super) activity: Option<Box<Activity>>,
    /// In a cluster: on how many other instances the name has sessions (0 on a single server).
    pub(crate) elsewhere: u32,
}

impl User {
    /// A name just claimed (or restored, or claimed on another instance) by `owner`, last
    /// used at `at_ms`: new, offline, in no room, with nothing queued.
    pub(crate) fn new(name: Name, owner: Owner, at_ms: u64) -> Self {
        Self {
            name,
            owner,
            last_used_ms: at_ms,
            established: false,
            sessions: SmallVec::new(),
            activity: None,
            elsewhere: 0,
        }
    }

    pub(crate) fn online(&self) -> bool {
        !self.sessions.is_empty() || self.elsewhere > 0
    }

    pub(crate) fn attach(&mut self, session: SessionId) {
        if !self.sessions.contains(&session) {
            self.sessions.push(session);
        }
    }

    /// Whether the claim has gone unused past its lifetime (a new claim's is short) by `now_ms`.
    pub(crate) fn lapsed(&self, claim_ttl_ms: u64, new_claim_ttl_ms: u64, now_ms: u64) -> bool {
        let ttl = if self.established {
            claim_ttl_ms
        } else {
            new_claim_ttl_ms.min(claim_ttl_ms)
        };
        !self.online() && self.last_used_ms.saturating_add(ttl) < now_ms
    }

    pub(crate) fn detach(&mut self, session: SessionId) {
        self.sessions.retain(|s| *s != session);
        // Claims outlive sessions by months: back inline once few enough, with no spare room.
        if self.sessions.len() <= self.sessions.inline_size() {
            self.sessions.shrink_to_fit();
        }
    }
}

/// A message a user sent, by the id its client gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// The client's id for it.
    pub(crate) txn: Txn,
    /// The server's.
    pub(crate) id: ChatId,
    /// When it was accepted.
    pub(crate) ts: u64,
}

/// A map key for tables by user (DM partners, waiting notices): the name itself, looked up by
/// its case-folded key (`&str`). It shares the user's name buffer, where a `String` key would
/// be a copy per user (the users table itself keeps no key: see `users`). `Borrow`
/// needs hashing and equality to agree with `str`'s: a `Name`'s go by its key alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct UserKey(pub(crate) Name);

impl Borrow<str> for UserKey {
    fn borrow(&self) -> &str {
        self.0.key()
    }
}

#[derive(Debug)]
pub(crate) struct SessionInfo {
    /// Where the client is, for whois: address and port, without an IPv6 flow label or scope,
    /// which makes every session 16 bytes smaller than a `SocketAddr` would.
    ip: IpAddr,
    port: u16,
    /// Shares the user's name buffer (a reference count), not a copy of its key.
    pub(crate) user: Option<Name>,
    /// Gets answers and receipts but no messages.
    pub(crate) send_only: bool,
    /// The client's long-term key, proved in the session's handshake: what names bind to.
    pub(crate) key: Option<PeerKey>,
}

impl SessionInfo {
    pub(crate) fn new(peer: SocketAddr, key: Option<PeerKey>) -> Self {
        Self {
            ip: peer.ip(),
            port: peer.port(),
            user: None,
            send_only: false,
            key,
        }
    }

    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    pub(crate) fn moved(&mut self, peer: SocketAddr) {
        self.ip = peer.ip();
        self.port = peer.port();
    }
}

#[derive(Debug)]
pub(crate) struct RoomState {
    pub(crate) room: Room,
    pub(crate) topic: String,
    pub(crate) members: HashSet<String>,
    pub(crate) history: VecDeque<Posted>,
}

impl RoomState {
    /// A room as its first join makes it: no topic, nobody in it yet, nothing said.
    pub(crate) fn new(room: Room) -> Self {
        Self {
            room,
            topic: String::new(),
            members: HashSet::new(),
            history: VecDeque::new(),
        }
    }
}

/// A bounded log: pushing past `cap` drops the oldest, and says how many fell off.
pub(crate) fn push_capped(log: &mut VecDeque<Posted>, item: Posted, cap: usize) -> u64 {
    log.push_back(item);
    let mut dropped = 0;
    while log.len() > cap {
        log.pop_front();
        dropped += 1;
    }
    dropped
}

/// Drops entries older than `cutoff_ms` from the front of a log; returns how many.
pub(crate) fn expire(log: &mut VecDeque<Posted>, cutoff_ms: u64) -> u64 {
    let mut dropped = 0;
    while log.front().is_some_and(|p| p.ts < cutoff_ms) {
        log.pop_front();
        dropped += 1;
    }
    dropped
}

/// The newest `limit` entries after `since` and before `before`, oldest first.
pub(crate) fn tail(
    log: &VecDeque<Posted>,
    (since, before): (Option<u64>, Option<u64>),
    limit: usize,
) -> Vec<Posted> {
    let mut budget = ANSWER_BUDGET;
    let mut newest: Vec<Posted> = log
        .iter()
        .rev()
        .filter(|p| before.is_none_or(|b| p.id < b))
        .take_while(|p| since.is_none_or(|s| p.id > s))
        .take(limit)
        .take_while(|p| {
            let size = p.text.len() + p.from.as_str().len() + 64;
            budget = budget.saturating_sub(size);
            budget > 0
        })
        .cloned()
        .collect();
    newest.reverse();
    newest
}

/// The most bytes of entries one answer carries: every answer is one session message, at most
/// 64 KiB encoded, so lists stop short of that rather than fail to encode. Asking again (with
/// `since`) gets the rest.
pub(crate) const ANSWER_BUDGET: usize = 48 * 1024;

/// The longest prefix of `items` whose estimated sizes fit [`ANSWER_BUDGET`].
pub(crate) fn within_budget<T>(
    items: impl Iterator<Item = T>,
    size: impl Fn(&T) -> usize,
) -> Vec<T> {
    let mut budget = ANSWER_BUDGET;
    items
        .take_while(|item| {
            budget = budget.saturating_sub(size(item));
            budget > 0
        })
        .collect()
}

/// The key of the DM conversation between two users, the same from either side.
pub(crate) fn pair_key(a: &Name, b: &Name) -> (Name, Name) {
    if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

/// Everything the server knows.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Boxed: the table then holds pointers, so its spare capacity costs 8 bytes a slot,
    /// not a whole user.
    pub(crate) users: Users,
    pub(crate) sessions: HashMap<SessionId, SessionInfo>,
    pub(crate) rooms: HashMap<String, RoomState>,
    pub(crate) dms: Dms,
}

impl State {
    /// The sessions of `user` that receive messages.
    pub(crate) fn receiving(&self, user: &User) -> Vec<SessionId> {
        self.receiving_iter(user).collect()
    }

    /// [`State::receiving`] without the `Vec`, for a room's members one after another.
    pub(crate) fn receiving_iter<'a>(
        &'a self,
        user: &'a User,
    ) -> impl Iterator<Item = SessionId> + 'a {
        user.sessions
            .iter()
            .copied()
            .filter(|s| self.sessions.get(s).is_some_and(|i| !i.send_only))
    }

    /// The user a session speaks as.
    pub(crate) fn user_of(&self, session: SessionId) -> Option<&User> {
        let name = self.sessions.get(&session)?.user.as_ref()?;
        self.users.get(name.key())
    }

    /// Every session of every user who shares a room or a DM conversation with `key` (one
    /// still in the history), except `key`'s own: who is told of `key`'s presence. DM partners
    /// come from [`Dms::partners`], so this costs `key`'s partners and co-members, not every
    /// conversation on the server (issue 17).
    pub(crate) fn presence_sessions(&self, key: &str) -> Vec<SessionId> {
        let mut sessions = self.co_member_sessions(key);
        let partners = self.dms.partners(key);
        let users = partners.iter().filter_map(|n| self.users.get(n.key()));
        sessions.extend(users.flat_map(|u| u.sessions.iter().copied()));
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// Every session of every user who shares a room with `key`, except `key`'s own.
    pub(crate) fn co_member_sessions(&self, key: &str) -> Vec<SessionId> {
        let Some(user) = self.users.get(key) else {
            return Vec::new();
        };
        let mut peers: HashSet<&str> = HashSet::new();
        for room in &user.activity().rooms {
            if let Some(r) = self.rooms.get(room) {
                peers.extend(r.members.iter().map(String::as_str));
            }
        }
        peers.remove(key);
        peers
            .into_iter()
            .filter_map(|k| self.users.get(k))
            .flat_map(|u| u.sessions.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_found_by_their_folded_key_whatever_the_spelling() {
        let mut users = std::collections::HashMap::new();
        for raw in ["Alex", "黎诗", "ǅemal"] {
            let name = Name::new(raw).expect("a valid name");
            let key = name.key().to_owned();
            users.insert(UserKey(name), raw);
            assert_eq!(users.get(key.as_str()), Some(&raw), "{raw}");
        }
        assert_eq!(users.get("Alex"), None, "the spelling is not the key");
        assert!(users.contains_key("alex"));
    }

    #[test]
    fn a_user_s_sessions_go_back_inline_once_few_enough() {
        let name = Name::new("黎诗").expect("a valid name");
        let mut u = User::new(name, Owner::Key([2; 32]), 0);
        for s in 1..=5 {
            u.attach(s);
        }
        u.attach(3);
        assert_eq!(u.sessions.as_slice(), [1, 2, 3, 4, 5], "once each");
        assert!(u.sessions.spilled());
        for s in [1, 4, 5] {
            u.detach(s);
        }
        assert_eq!(u.sessions.as_slice(), [2, 3]);
        assert!(!u.sessions.spilled(), "inline again");
        u.detach(2);
        u.detach(3);
        assert!(!u.online());
    }
}
