//! Helpers for the tests of the chat core alone (no sockets, the clock in the test's hands):
//! [`ChatCore`] drives `Chat` over the in-memory store, or over a store that holds every change
//! until the test reports it committed or failed.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use chat_server::core::{ChangeStore, Chat, ChatConfig, ChatStats, MemoryStore, Op, Output};
use chat_server::core::{PeerKey, Submitted, Ticket};
use dgram_proto::chat::{ChatId, ClaimKey, ClientMsg, ServerMsg};
use dgram_proto::Name;

pub(crate) fn name(s: &str) -> Name {
    Name::new(s).expect("a valid name")
}

pub(crate) fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub(crate) fn drain(core: &mut ChatCore) -> Vec<(u32, ServerMsg)> {
    std::iter::from_fn(|| core.poll_output())
        .map(|o| (o.session, (*o.msg).clone()))
        .collect()
}

/// The long-term key of the device that opens `session` unless a test says otherwise: each
/// session its own device, as many clients are.
pub(crate) fn device(session: u32) -> PeerKey {
    *blake3::hash(&session.to_le_bytes()).as_bytes()
}

/// Opens `session` by the device `key` (its own, [`device`], when `None`) and says hello as
/// `who`; the server's answer.
pub(crate) fn hello(
    core: &mut ChatCore,
    session: u32,
    who: &str,
    key: Option<PeerKey>,
    now: u64,
) -> ServerMsg {
    let peer = addr(40000 + session as u16);
    let key = key.unwrap_or_else(|| device(session));
    answer(hello_at(core, session, peer, key, who, None, now))
}

/// The welcome or error among what the server sent.
pub(crate) fn answer(sent: Vec<(u32, ServerMsg)>) -> ServerMsg {
    sent.into_iter()
        .map(|(_, m)| m)
        .find(|m| matches!(m, ServerMsg::Welcome { .. } | ServerMsg::Error { .. }))
        .expect("an answer to hello")
}

/// Opens `session` from `ip` by the device `key` (its own when `None`) and says hello as `who`;
/// everything the server answered.
pub(crate) fn hello_from(
    core: &mut ChatCore,
    session: u32,
    ip: &str,
    who: &str,
    key: Option<PeerKey>,
    now: u64,
) -> Vec<(u32, ServerMsg)> {
    let ip: IpAddr = ip.parse().expect("an address");
    let key = key.unwrap_or_else(|| device(session));
    hello_at(
        core,
        session,
        SocketAddr::new(ip, 40_000),
        key,
        who,
        None,
        now,
    )
}

/// Opens `session` from `peer` by the device `key` and says hello as `who`, with an older
/// release's claim key if `legacy`; everything the server answered.
pub(crate) fn hello_at(
    core: &mut ChatCore,
    session: u32,
    peer: SocketAddr,
    key: PeerKey,
    who: &str,
    legacy: Option<ClaimKey>,
    now: u64,
) -> Vec<(u32, ServerMsg)> {
    core.open_as(session, peer, key);
    core.handle(
        session,
        now,
        ClientMsg::Hello {
            name: name(who),
            key: legacy,
            send_only: false,
        },
    );
    drain(core)
}

/// In memory, or holding changes for the test to commit.
#[derive(Debug)]
pub(crate) enum TestStore {
    Memory(MemoryStore),
    Held(VecDeque<(Ticket, Op)>),
}

impl ChangeStore for TestStore {
    fn keeps(&self) -> bool {
        match self {
            TestStore::Memory(m) => m.keeps(),
            TestStore::Held(_) => true,
        }
    }

    fn submit(&mut self, ticket: Ticket, ops: Vec<Op>) -> Submitted {
        match self {
            TestStore::Memory(m) => m.submit(ticket, ops),
            TestStore::Held(held) => {
                held.extend(ops.into_iter().map(|op| (ticket, op)));
                Submitted::Pending
            }
        }
    }

    fn backlog(&self) -> usize {
        match self {
            TestStore::Memory(m) => m.backlog(),
            TestStore::Held(held) => held.len(),
        }
    }
}

/// The chat core with its outputs queued for the test to take.
#[derive(Debug)]
pub(crate) struct ChatCore {
    chat: Chat<TestStore>,
    out: VecDeque<Output>,
}

impl ChatCore {
    /// In memory.
    pub(crate) fn new(config: ChatConfig) -> Self {
        let chat = Chat::new(config, TestStore::Memory(MemoryStore));
        Self {
            chat,
            out: VecDeque::new(),
        }
    }

    /// Over a store that commits only when the test says so.
    pub(crate) fn durable(config: ChatConfig) -> Self {
        let chat = Chat::new(config, TestStore::Held(VecDeque::new()));
        Self {
            chat,
            out: VecDeque::new(),
        }
    }

    /// Opens `session` from `peer` as its own device ([`device`]).
    pub(crate) fn open(&mut self, session: u32, peer: SocketAddr) {
        self.open_as(session, peer, device(session));
    }

    /// Opens `session` from `peer` with no key proved (a session layer without one).
    pub(crate) fn open_keyless(&mut self, session: u32, peer: SocketAddr) {
        self.chat.open(session, peer, None);
    }

    /// Opens `session` from `peer` by the client whose key is `key`.
    pub(crate) fn open_as(&mut self, session: u32, peer: SocketAddr, key: PeerKey) {
        self.chat.open(session, peer, Some(key));
    }

    pub(crate) fn handle(&mut self, session: u32, now_ms: u64, msg: ClientMsg) {
        let out = self.chat.handle(session, now_ms, msg);
        self.out.extend(out);
    }

    pub(crate) fn close(&mut self, session: u32, now_ms: u64) {
        let out = self.chat.close(session, now_ms);
        self.out.extend(out);
    }

    pub(crate) fn expire(&mut self, now_ms: u64) {
        let out = self.chat.expire(now_ms);
        self.out.extend(out);
    }

    pub(crate) fn unsendable(&mut self, chat: ChatId, why: &str) {
        let out = self.chat.unsendable(chat, why);
        self.out.extend(out);
    }

    pub(crate) fn committed(&mut self, ticket: Ticket) {
        let out = self.chat.committed(ticket);
        self.out.extend(out);
    }

    pub(crate) fn commit_failed(&mut self, ticket: Ticket, why: &str) {
        let out = self.chat.commit_failed(ticket, why);
        self.out.extend(out);
    }

    /// Restores what a store saved (the core as a restart finds it).
    pub(crate) fn restore(&mut self, snapshot: chat_server::core::Snapshot) {
        self.chat.restore(snapshot);
    }

    pub(crate) fn stats(&self) -> ChatStats {
        self.chat.stats()
    }

    /// The next thing to send.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next change given to the store, with its ticket.
    pub(crate) fn poll_op(&mut self) -> Option<(Ticket, Op)> {
        match self.chat.store_mut() {
            TestStore::Held(held) => held.pop_front(),
            TestStore::Memory(_) => None,
        }
    }
}
