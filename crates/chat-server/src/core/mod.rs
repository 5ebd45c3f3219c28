//! The chat server's rules as a state machine without I/O: it takes session events and
//! decoded requests with the wall-clock time in milliseconds, and queues [`Output`]s for the
//! driver to send. Identity comes from the session: whatever sender a client claims, messages
//! carry the name its session joined with.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use self::journal::Journal;
pub use self::journal::{Op, SavedRoom, SavedUser, Snapshot, Ticket};
use self::state::{SessionInfo, State, User};
use dgram_proto::chat::{ChatId, ClaimKey, ClientMsg, ErrorKind, Presence, ServerMsg, UserInfo};
use dgram_proto::session::{MessageId, SessionId};
use dgram_proto::{Name, RequestId};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

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
    /// Rooms one user may be in.
    pub max_rooms_per_user: usize,
    /// Rooms the server holds.
    pub max_rooms: usize,
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
            max_rooms_per_user: 100,
            max_rooms: 10_000,
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
    /// Queued DMs dropped because a queue was full.
    pub queue_dropped: u64,
    /// History entries and queued DMs dropped by age.
    pub expired: u64,
    /// Claims that lapsed.
    pub claims_lapsed: u64,
    /// Requests refused with an error.
    pub errors: u64,
}

/// Something for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// To which session.
    pub session: SessionId,
    /// On which session channel.
    pub channel: u16,
    /// What. Shared: every recipient of a room post points at one message, so the driver
    /// can encode it once.
    pub msg: Arc<ServerMsg>,
    /// The message whose delivery receipt waits for this one's acknowledgement.
    pub receipt: Option<ChatId>,
}

#[derive(Debug)]
struct Pending {
    sender: Name,
    remaining: u32,
    /// For a direct message, its recipient: the first acknowledgement dequeues it for good.
    dm_to: Option<Name>,
}

/// The chat server's state machine.
#[derive(Debug)]
pub struct ChatCore {
    pub(super) config: ChatConfig,
    rng: Rng,
    pub(super) state: State,
    pub(super) next_id: ChatId,
    receipts: HashMap<ChatId, Pending>,
    /// Per session, so that a closing session drops its own entries without a walk over
    /// everyone's; a session with nothing in transit has no entry.
    in_transit: HashMap<SessionId, HashMap<MessageId, ChatId>>,
    pub(super) out: VecDeque<Output>,
    stats: ChatStats,
    pub(super) journal: Option<Journal>,
}

/// The claim keys' randomness: BLAKE3's output stream keyed by the server's seed, so that a
/// seeded server (a test, a simulation) hands out the same keys every run.
struct Rng(blake3::OutputReader);

impl Rng {
    fn from_seed(seed: [u8; 32]) -> Self {
        let mut hasher = blake3::Hasher::new_keyed(&seed);
        hasher.update(b"dgram session rng v1");
        Self(hasher.finalize_xof())
    }

    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill(buf);
    }
}

impl std::fmt::Debug for Rng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rng(..)")
    }
}

fn reserved(name: &Name) -> bool {
    matches!(name.key(), "server" | "admin" | "system") || name.key().starts_with("guest-")
}

fn key_hash(key: &ClaimKey) -> [u8; 32] {
    *blake3::hash(key).as_bytes()
}

fn info(u: &User) -> UserInfo {
    UserInfo {
        name: u.name.clone(),
        away: u.away.clone(),
    }
}

impl ChatCore {
    /// A server; `seed` is its only randomness (claim keys).
    pub fn new(config: ChatConfig, seed: [u8; 32]) -> Self {
        Self {
            config,
            rng: Rng::from_seed(seed),
            state: State::default(),
            next_id: 1,
            receipts: HashMap::new(),
            in_transit: HashMap::new(),
            out: VecDeque::new(),
            stats: ChatStats::default(),
            journal: None,
        }
    }

    /// A server in durable mode: changes come out of [`ChatCore::poll_op`] to be committed,
    /// and what they would tell clients waits for [`ChatCore::committed`].
    pub fn durable(config: ChatConfig, seed: [u8; 32]) -> Self {
        Self {
            journal: Some(Journal::default()),
            ..Self::new(config, seed)
        }
    }

    /// Counters for the logs.
    pub fn stats(&self) -> ChatStats {
        self.stats
    }

    /// The next thing to send.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Every queued output at once, in one allocation of the right size (a room post queues
    /// one per member).
    pub fn take_outputs(&mut self) -> Vec<Output> {
        self.out.drain(..).collect()
    }

    fn send(&mut self, session: SessionId, msg: ServerMsg) {
        send_each(&mut self.out, [session], msg);
    }

    fn error(
        &mut self,
        session: SessionId,
        req: Option<RequestId>,
        kind: ErrorKind,
        message: String,
    ) {
        self.stats.errors += 1;
        self.send(session, ServerMsg::Error { req, kind, message });
    }

    /// A session opened from `peer`.
    pub fn open(&mut self, session: SessionId, peer: SocketAddr) {
        self.state.sessions.insert(session, SessionInfo::new(peer));
    }

    /// A session moved to a new address.
    pub fn migrated(&mut self, session: SessionId, peer: SocketAddr) {
        if let Some(s) = self.state.sessions.get_mut(&session) {
            s.moved(peer);
        }
    }

    /// A session ended.
    pub fn close(&mut self, session: SessionId, now_ms: u64) {
        self.begin();
        self.detach(session, now_ms);
        self.end();
        self.state.sessions.remove(&session);
        self.in_transit.remove(&session);
    }

    fn detach(&mut self, session: SessionId, now_ms: u64) {
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
        self.log(Op::Touch {
            user: name.clone(),
            at_ms: now_ms,
        });
        if !online {
            self.presence(key, name, Presence::Offline);
        }
    }

    /// Tells the room co-members of `key` about a presence change.
    fn presence(&mut self, key: &str, name: Name, presence: Presence) {
        let sessions = self.state.co_member_sessions(key);
        send_each(
            &mut self.out,
            sessions,
            ServerMsg::Presence { name, presence },
        );
    }

    /// Handles one request from a session.
    pub fn handle(&mut self, session: SessionId, now_ms: u64, msg: ClientMsg) {
        self.begin();
        self.handle_inner(session, now_ms, msg);
        self.end();
    }

    fn handle_inner(&mut self, session: SessionId, now_ms: u64, msg: ClientMsg) {
        if !self.state.sessions.contains_key(&session) {
            return;
        }
        if let ClientMsg::Hello {
            name,
            key,
            send_only,
        } = msg
        {
            if let Some(s) = self.state.sessions.get_mut(&session) {
                s.send_only = send_only;
            }
            return self.hello(session, now_ms, name, key);
        }
        // A reference count, not a copy of the key per request.
        let Some(me) = self.state.user_of(session).map(|u| u.name.clone()) else {
            let req = msg.request_id();
            let text = "say who you are first (Hello with a name)".to_owned();
            return self.error(session, req, ErrorKind::NotJoined, text);
        };
        let me = me.key();
        match msg {
            ClientMsg::Send { req, to, text } => self.post(session, now_ms, me, req, to, text),
            ClientMsg::Join { req, room } => self.join(session, me, req, room),
            ClientMsg::Part { req, room } => self.part(session, me, req, room),
            ClientMsg::Rooms { req } => self.rooms(session, req),
            ClientMsg::Who { req, room } => self.who(session, req, room),
            ClientMsg::Topic { req, room, topic } => self.topic(session, me, req, room, topic),
            ClientMsg::Away { req, text } => self.away(session, me, req, text),
            ClientMsg::History {
                req,
                with,
                since,
                limit,
            } => self.history(session, me, req, with, since, limit),
            ClientMsg::Whois { req, name } => self.whois(session, req, name),
            ClientMsg::Hello { .. } => {}
        }
    }

    /// Tells a session it sent something undecodable.
    pub fn malformed(&mut self, session: SessionId, why: &str) {
        let message = format!("could not read your request: {why}");
        self.error(session, None, ErrorKind::Malformed, message);
    }
}

/// Queues one message for many sessions as one shared copy, which the driver encodes once (a
/// presence notice to a room of a hundred is one encoding, not a hundred). A free function so
/// that callers can pass sessions borrowed from the state while the queue is borrowed.
pub(super) fn send_each(
    out: &mut VecDeque<Output>,
    sessions: impl IntoIterator<Item = SessionId>,
    msg: ServerMsg,
) {
    let msg = Arc::new(msg);
    out.extend(sessions.into_iter().map(|session| Output {
        session,
        channel: 0,
        msg: Arc::clone(&msg),
        receipt: None,
    }));
}

mod journal;
mod keeping;
mod receipts;
mod requests;
mod rooms;
mod state;
