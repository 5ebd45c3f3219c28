//! Sessions and reliable delivery over UDP, as deterministic state machines in the style of
//! quinn-proto: they take `now` and datagrams, and hand back datagrams to send, the next time
//! they need to be woken, and events. No socket, no clock, no randomness they were not seeded
//! with.
//!
//! The origin's closing lesson was that TCP is reliable because the receiver acknowledges and
//! the sender resends, and UDP is not. This module adds exactly that, per message: every
//! reliable message arrives once and in order on its channel, or its sender is told it failed.
//!
//! - [`Server`] handshakes with a stateless cookie before it keeps any state for a peer (or
//!   does any Diffie-Hellman), then runs a Noise IK handshake (`noise`) that authenticates
//!   both sides' static keys ([`Keypair`]) and keys the session; every data packet after it is
//!   sealed (ChaCha20-Poly1305, header as associated data). It demultiplexes sessions by
//!   (address, session id).
//! - [`Client`] handshakes, checks the server's key against its [`ServerPin`], keeps its
//!   session alive, and resumes it from a new address.
//! - Both run a connection: acks with a 32-bit bitfield, RFC 6298 retransmission timers, fast
//!   retransmit, duplicate suppression, fragmentation of messages up to 64 KiB, per-channel
//!   ordering, bounded memory and backpressure, and NewReno congestion control with pacing
//!   (`congestion`, `pacing`).

mod channel_map;
mod client;
mod congestion;
mod conn;
mod crypto;
mod flight;
mod gate;
mod in_flight;
mod keys;
mod mtu;
pub(crate) mod noise;
mod pacing;
pub mod packet;
mod per_ip;
mod reassembly;
mod recv;
mod rtt;
mod send;
mod server;
#[cfg(test)]
mod tests;
mod time;
mod timers;

use std::net::SocketAddr;
use std::time::Duration;

pub(crate) use channel_map::ChannelMap;
pub use client::Client;
pub use crypto::Rng;
pub use keys::{
    fingerprint, parse_fingerprint, public_key_hex, BadKeyText, Fingerprint, Keypair, ServerPin,
    KEY_LEN,
};
pub use noise::{NOISE_PARAMS, TAG_LEN};
pub use packet::RejectReason;
pub use server::Server;

use crate::MAX_DATAGRAM;

/// Identifies a session on its server; random, chosen by the server.
pub type SessionId = u32;

/// Identifies a reliable message on the session that sent it, for its delivery report.
pub type MessageId = u64;

/// A conversation's lane: ordering holds within a channel, and a loss on one channel never
/// stalls another.
pub type Channel = u16;

/// The largest reliable message.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The most bytes of a message one data packet carries.
/// Room is left for the longest header and ACK frame, so a fragment fits any packet.
pub const MAX_FRAGMENT: usize = MAX_DATAGRAM
    - packet::MAX_HEADER_LEN
    - TAG_LEN
    - packet::frame::ACK_LEN
    - packet::frame::RELIABLE_HEADER;

/// The largest unreliable message (it must fit one datagram).
pub const MAX_UNRELIABLE: usize = MAX_DATAGRAM
    - packet::MAX_HEADER_LEN
    - TAG_LEN
    - packet::frame::ACK_LEN
    - packet::frame::UNRELIABLE_HEADER;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// At most once, in any order, never reported (presence, typing).
    Unreliable,
    /// Exactly once and in order on its channel, or reported failed.
    Reliable,
}

/// Tunables; [`Config::default`] suits chat over the Internet and loopback alike.
#[derive(Debug, Clone)]
pub struct Config {
    /// The retransmission timeout before any RTT sample.
    pub initial_rto: Duration,
    /// The retransmission timeout's floor; above the peer's longest ack delay.
    pub min_rto: Duration,
    /// The retransmission timeout's ceiling, backoff included.
    pub max_rto: Duration,
    /// The longest a received packet waits for its ack.
    pub max_ack_delay: Duration,
    /// A reliable message not acknowledged within this is reported failed.
    pub message_timeout: Duration,
    /// A session that hears nothing from its peer for this long is over.
    pub idle_timeout: Duration,
    /// A client pings after this long without sending, well under common 30 s NAT timeouts.
    pub keepalive: Duration,
    /// A client that has heard nothing for this long while it expects an answer handshakes
    /// again to resume its session, from whatever address it has now.
    pub resume_after: Duration,
    /// A client that expects an answer and has heard nothing at all from its server for this
    /// long (its resume handshake unanswered too) ends the session as timed out: a server that
    /// died is noticed in seconds while messages wait, not after `idle_timeout`. Longer than
    /// `resume_after`, so that a client whose address changed has time to resume first.
    pub dead_after: Duration,
    /// How often a client resends an unanswered handshake packet.
    pub handshake_retry: Duration,
    /// Unacknowledged reliable messages a session may hold.
    pub max_unacked_messages: usize,
    /// Unacknowledged reliable bytes a session may hold.
    pub max_unacked_bytes: usize,
    /// Packets with reliable data in flight at once.
    pub max_in_flight: usize,
    /// Channels a session may use.
    pub max_channels: usize,
    /// Unreliable messages waiting to go out before `send` refuses more.
    pub max_queued_unreliable: usize,
    /// Sessions a server holds at most.
    pub max_sessions: usize,
    /// Sessions a server holds at most from one client network (an IPv4 address or an IPv6
    /// /64): a Join past it is refused as busy, so one network cannot fill `max_sessions`.
    pub max_sessions_per_ip: usize,
    /// How long a cookie stays valid: it is accepted in its own time window and the next.
    pub cookie_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            initial_rto: Duration::from_millis(300),
            min_rto: Duration::from_millis(60),
            max_rto: Duration::from_secs(3),
            max_ack_delay: Duration::from_millis(20),
            message_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(10),
            resume_after: Duration::from_secs(3),
            dead_after: Duration::from_secs(8),
            handshake_retry: Duration::from_millis(500),
            max_unacked_messages: 1024,
            max_unacked_bytes: 1024 * 1024,
            max_in_flight: 256,
            max_channels: 4096,
            max_queued_unreliable: 256,
            max_sessions: 100_000,
            max_sessions_per_ip: 1024,
            cookie_window: Duration::from_secs(30),
        }
    }
}

/// Why a reliable message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// No acknowledgement within [`Config::message_timeout`].
    Timeout,
    /// The session ended first.
    SessionClosed(CloseReason),
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailReason::Timeout => f.write_str("not acknowledged in time"),
            FailReason::SessionClosed(why) => write!(f, "session ended: {why}"),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// This side closed it.
    Local,
    /// The peer said goodbye.
    Peer,
    /// Nothing was heard for [`Config::idle_timeout`].
    TimedOut,
    /// The server no longer knows the session (it restarted, or the session timed out there).
    Lost,
    /// The same client handshook again from the same address, starting over.
    Replaced,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CloseReason::Local => "closed here",
            CloseReason::Peer => "closed by the peer",
            CloseReason::TimedOut => "timed out",
            CloseReason::Lost => "the server no longer knows this session",
            CloseReason::Replaced => "replaced by a new session",
        })
    }
}

/// Something that happened on a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client's session is up (or up again, when `resumed`).
    Connected {
        /// The session.
        session: SessionId,
        /// Whether an existing session was resumed rather than a new one made.
        resumed: bool,
    },
    /// A server accepted a new session.
    Accepted {
        /// Where the client is.
        peer: SocketAddr,
    },
    /// The session now runs from another address of the client's.
    Migrated {
        /// The old address, which is no longer served.
        from: SocketAddr,
        /// The new one.
        to: SocketAddr,
    },
    /// A message arrived.
    Message {
        /// Its channel.
        channel: Channel,
        /// Its bytes.
        data: Vec<u8>,
        /// How it travelled.
        delivery: Delivery,
    },
    /// The peer acknowledged every byte of a reliable message.
    Delivered {
        /// The message.
        id: MessageId,
    },
    /// A reliable message may not have arrived, and will not be resent.
    Failed {
        /// The message.
        id: MessageId,
        /// Why.
        reason: FailReason,
    },
    /// The session is over.
    Closed {
        /// Why.
        reason: CloseReason,
    },
    /// The client gave up on this server for good: it cannot safely or usefully talk to it.
    HandshakeFailed {
        /// Why.
        error: HandshakeError,
    },
}

/// Why a client stopped handshaking with its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The server showed another static key than the one pinned: someone may be in the
    /// middle, or the server's key was replaced.
    #[error(
        "the server's key changed: expected {expected}, the server showed {}",
        Fingerprint::of(seen)
    )]
    KeyMismatch {
        /// What the client was pinned to.
        expected: ServerPin,
        /// The key the server showed.
        seen: [u8; KEY_LEN],
    },
    /// The server speaks a newer protocol version.
    #[error(
        "the server speaks session protocol v{server}, this client v{client}: upgrade the client"
    )]
    UpgradeClient {
        /// The server's version.
        server: u8,
        /// Ours.
        client: u8,
    },
    /// The server speaks an older protocol version.
    #[error("the server speaks session protocol v{server}, this client v{client}: the server must be upgraded")]
    UpgradeServer {
        /// The server's version.
        server: u8,
        /// Ours.
        client: u8,
    },
}

/// Counters of what the server turned away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams that are not session packets, or malformed ones.
    pub malformed: u64,
    /// Data packets whose (address, session id) matched no session: spoofed or stale.
    pub unmatched: u64,
    /// Joins with a cookie that was wrong, expired, or minted for another address.
    pub bad_cookie: u64,
    /// Joins refused (unknown session to resume, bad proof, server full, or too many sessions
    /// from the client's network).
    pub rejected: u64,
    /// Joins whose Noise message did not check out (a wrong or garbled handshake).
    pub bad_handshake: u64,
    /// Handshake packets of another protocol version (answered with a version Reject).
    pub other_version: u64,
    /// Data packets that failed authentication (tampered, forged, or under old keys).
    pub forged: u64,
    /// Authentic data packets whose number was already seen or is too old (replays), and
    /// copies of a session's Join after its data showed the client had the answer.
    pub replayed: u64,
}

/// Counters of what a client dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClientStats {
    /// Data packets that failed authentication.
    pub forged: u64,
    /// Authentic data packets whose number was already seen or is too old.
    pub replayed: u64,
    /// Welcomes whose Noise message did not check out.
    pub bad_handshake: u64,
}

/// A session's path as its sender sees it: the congestion window and what it counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PathStats {
    /// The congestion window now, in bytes (the initial window while nothing is in flight).
    pub window: u32,
    /// Bytes of reliable data in flight now.
    pub bytes_in_flight: u32,
    /// The most bytes that were ever in flight at once.
    pub max_bytes_in_flight: u32,
    /// The smoothed round-trip time, once measured.
    pub smoothed_rtt: Option<Duration>,
    /// Packets with reliable data sent (first sendings and resends alike).
    pub sent_packets: u32,
    /// Packets with data declared lost (and their data sent again).
    pub lost_packets: u32,
    /// Fragments (and skips) of those lost packets queued to be sent again; fewer than they
    /// held when some had been acknowledged by then in another packet.
    pub retransmitted: u32,
    /// Losses that cut the window (one per recovery period).
    pub congestion_events: u16,
    /// Runs of losses long enough to collapse the window to its minimum.
    pub persistent_congestion: u16,
    /// The largest datagram the session sends now: 1200 bytes until path MTU discovery has
    /// found that the path carries more.
    pub max_datagram: u16,
}

/// A datagram to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// How many bytes of the caller's buffer.
    pub len: usize,
}
