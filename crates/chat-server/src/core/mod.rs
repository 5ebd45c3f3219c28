//! The chat server's rules as a state machine without I/O: it takes session events and
//! decoded requests with the wall-clock time in milliseconds, and answers each with its
//! effects (what to send, what to store). Identity comes from the session: whatever sender a
//! client claims, messages carry the name its session joined with.
//!
//! Each request is handled in its own file under `cmd/`; receipts and what is kept for how long
//! are `receipts.rs` and `keeping.rs`, and what one client network may create (rooms, claims)
//! is `quota.rs`. [`Chat`] puts the core over a [`ChangeStore`] and holds outputs back until
//! their changes are committed.

mod activity;
mod chat;
mod cmd;
mod dms;
#[cfg(test)]
mod dms_tests;
mod effects;
mod instances;
mod keeping;
mod op;
mod pending;
mod quota;
mod receipts;
mod replica;
mod resend;
mod snapshot;
mod state;
mod store;
mod undo;
mod users;

use std::net::SocketAddr;

use foldhash::{HashMap, HashMapExt};

use dgram_proto::chat::{ChatId, Presence, ServerMsg};
use dgram_proto::session::SessionId;
use dgram_proto::token_bucket::Rate;
use dgram_proto::Name;

pub use self::chat::Chat;
pub use self::effects::Output;
pub use self::op::{Op, Ticket};
pub use self::snapshot::{SavedRoom, SavedSent, SavedUser, Snapshot};
pub use self::state::{Owner, PeerKey};
pub use self::store::{ChangeStore, Fence, MemoryStore, Submitted, NAME_TAKEN};

use self::effects::Effects;
use self::quota::Quotas;
use self::state::{SessionInfo, State, UserKey};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// `n` an hour, all of them at once if need be, as a rate.
pub(crate) fn per_hour(n: u32) -> Rate {
    Rate {
        per_second: f64::from(n) / 3600.0,
        burst: n,
    }
}

/// Caps and lifetimes; the defaults are the documented ones.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Messages kept per room.
    pub room_history: usize,
    /// Messages replayed on joining a room.
    pub replay: usize,
    /// DMs queued per offline user.
    pub queue: usize,
    /// Messages kept per DM conversation.
    pub dm_history: usize,
    /// Age after which history and queued DMs are dropped.
    pub expiry_ms: u64,
    /// A claim unused this long lapses.
    pub claim_ttl_ms: u64,
    /// A new claim that no later session has used lapses this long after its last use: a name
    /// claimed once and never again is given back in a day, not in months.
    pub new_claim_ttl_ms: u64,
    /// A room with nothing said in it (that has not expired) whose members have all been
    /// offline this long is forgotten, so that rooms nobody uses do not fill the server.
    pub room_idle_ms: u64,
    /// Rooms each client network (an IPv4 address, an IPv6 /64) may create; `None`: no limit.
    pub rooms_per_network: Option<Rate>,
    /// Names each client network may claim; `None`: no limit.
    pub claims_per_network: Option<Rate>,
    /// Rooms one user may be in.
    pub max_rooms_per_user: usize,
    /// Rooms the server holds.
    pub max_rooms: usize,
    /// Messages per user remembered by their client-chosen id, so that a resend of one is
    /// not stored again: at least as many as a client keeps unanswered (it resends only
    /// those). They also go with the expiry.
    pub sent_per_user: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            room_history: 2048,
            replay: 50,
            queue: 256,
            dm_history: 256,
            expiry_ms: 7 * DAY_MS,
            claim_ttl_ms: 90 * DAY_MS,
            new_claim_ttl_ms: DAY_MS,
            room_idle_ms: 14 * DAY_MS,
            rooms_per_network: Some(per_hour(10)),
            claims_per_network: Some(per_hour(20)),
            max_rooms_per_user: 100,
            max_rooms: 10_000,
            sent_per_user: 256,
        }
    }
}

/// What fell off or was turned away, for the logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChatStats {
    /// Messages accepted.
    pub accepted: u64,
    /// History entries dropped by a cap.
    pub history_dropped: u64,
    /// DMs refused because their recipient's queue was full (nothing queued is ever dropped
    /// for a new one).
    pub queue_full: u64,
    /// History entries and queued DMs dropped by age.
    pub expired: u64,
    /// Notices to senders of DMs that will never be read that were dropped: over the cap of
    /// notices waiting for one sender, or with nobody to tell (the sender's claim lapsed).
    pub notices_dropped: u64,
    /// Claims that lapsed.
    pub claims_lapsed: u64,
    /// Rooms forgotten because nobody in them had been online for long and nothing said in
    /// them was left.
    pub rooms_reclaimed: u64,
    /// Rooms not created, and names not claimed, because their network was over its quota.
    pub over_quota: u64,
    /// Requests refused with an error.
    pub errors: u64,
    /// Sends answered as resends of a message already stored (not stored again).
    pub resends: u64,
}

/// Who waits for a message's receipt.
#[derive(Debug)]
struct Pending {
    sender: Name,
    remaining: u32,
    /// For a direct message, its recipient: the first acknowledgement dequeues it for good.
    dm_to: Option<Name>,
    /// In a cluster, a room post made here: its room, and the other instances showing a
    /// member online, each of which logs when its sessions have it (`Op::Received`).
    room: Option<String>,
    awaiting: Vec<String>,
    /// In a cluster, a room post made elsewhere: its sessions here having it is logged for
    /// the sender's instance, not told.
    relay: bool,
}

/// The chat server's state machine.
#[derive(Debug)]
pub(crate) struct ChatCore {
    config: ChatConfig,
    state: State,
    next_id: ChatId,
    /// Ids go up by this much: in a cluster each instance has its own residue, so that ids
    /// made on two instances at once never collide (1 on a single server).
    id_step: u64,
    receipts: HashMap<ChatId, Pending>,
    /// Per session, so that a closing session drops its own entries without a walk over
    /// everyone's; a session with nothing in transit has no entry.
    in_transit: HashMap<SessionId, receipts::InTransit>,
    stats: ChatStats,
    /// What each network may still create (rooms, claims).
    quotas: Quotas,
    /// Per sender who was offline at the time: the DMs that will never be read (they expired,
    /// or their recipient's claim lapsed), with why, told at the sender's next hello. Kept in
    /// memory only; a restart forgets them.
    notices: HashMap<UserKey, Vec<(ChatId, String)>>,
    /// Whether changes are recorded for a store.
    keep: bool,
    /// One instance of a cluster: who comes and goes is recorded too, for the others.
    clustered: bool,
    /// In a cluster: the names each other instance shows online (by the instance its log
    /// entries name), so that an instance that dies takes its names offline (`Op::Gone`).
    online_at: HashMap<String, foldhash::HashSet<String>>,
    /// What applying the log here has to log in turn (`Op::Received`), taken by the wrapper.
    received: Vec<Op>,
}

impl ChatCore {
    /// A server; `keep` records changes.
    fn new(config: ChatConfig, keep: bool) -> Self {
        Self {
            quotas: Quotas::new(&config),
            config,
            state: State::default(),
            next_id: 1,
            id_step: 1,
            receipts: HashMap::new(),
            in_transit: HashMap::new(),
            stats: ChatStats::default(),
            notices: HashMap::new(),
            keep,
            clustered: false,
            online_at: HashMap::new(),
            received: Vec::new(),
        }
    }

    /// An empty set of effects for one event.
    fn effects(&self) -> Effects {
        Effects::new(self.keep)
    }

    /// A session opened from `peer`, by the client whose long-term key is `key` (`None`: the
    /// session layer proved none, and the session cannot speak as a name).
    fn open(&mut self, session: SessionId, peer: SocketAddr, key: Option<PeerKey>) {
        self.state
            .sessions
            .insert(session, SessionInfo::new(peer, key));
    }

    /// A session moved to a new address.
    fn migrated(&mut self, session: SessionId, peer: SocketAddr) {
        if let Some(s) = self.state.sessions.get_mut(&session) {
            s.moved(peer);
        }
    }

    /// A session ended.
    fn close(&mut self, session: SessionId, now_ms: u64) -> Effects {
        let mut fx = self.effects();
        self.detach(&mut fx, session, now_ms);
        self.state.sessions.remove(&session);
        self.in_transit.remove(&session);
        fx
    }

    /// The session stops speaking as its name; the last one to go takes the name offline.
    fn detach(&mut self, fx: &mut Effects, session: SessionId, now_ms: u64) {
        let Some(name) = self
            .state
            .sessions
            .get_mut(&session)
            .and_then(|s| s.user.take())
        else {
            return;
        };
        let key = name.key();
        let Some(user) = self.state.users.get_mut(key) else {
            return;
        };
        user.detach(session);
        user.last_used_ms = now_ms;
        let (name, online) = (user.name.clone(), user.online());
        let gone_here = user.sessions.is_empty();
        fx.log(Op::Touch {
            user: name.clone(),
            at_ms: now_ms,
        });
        if self.clustered && gone_here {
            let user = name.clone();
            fx.log(Op::Presence {
                user,
                online: false,
            });
        }
        if !online {
            self.presence(fx, key, name, Presence::Offline);
        }
    }

    /// Tells the room co-members and DM partners of `key` about a presence change.
    fn presence(&self, fx: &mut Effects, key: &str, name: Name, presence: Presence) {
        let sessions = self.state.presence_sessions(key);
        fx.send_each(sessions, ServerMsg::Presence { name, presence });
    }
}
