//! dgram's protocol crate, what both ends share: the message envelope, its wire format, names,
//! the chat messages, and the protocol logic (sessions, echo) as state machines that take `now`
//! and datagrams and return what to send; the chat server's own rules are chat-server's. Nothing here touches a socket, a clock or a runtime, so every rule can be tested with a
//! simulated clock and a simulated link.
//!
//! One [`Envelope`] is exactly one datagram: this layer never splits or merges messages, and it
//! never truncates one (the origin's `recvfrom(1024)` silently cut long messages).
#![forbid(unsafe_code)]

pub mod chat;
mod codec;
pub mod echo;
mod envelope;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod name;
pub mod network;
pub mod session;
pub mod token_bucket;

pub use codec::{is_envelope, CHAT_PREFIX, MAGIC, PREFIX_LEN, VERSION};
pub use envelope::{Body, Echo, Envelope, ErrorCode, ErrorReply, Kind, RequestId};
pub use error::Error;
pub use name::{Name, MAX_NAME_BYTES, MAX_NAME_CHARS};

/// The largest datagram dgram sends before it knows the path carries more, in bytes (and the
/// largest echo datagram).
///
/// 1200 bytes fit every path without IP fragmentation (it is QUIC's floor for the same reason).
pub const MAX_DATAGRAM: usize = 1200;

/// The largest session datagram: what path MTU discovery probes up to over IPv4 (a 1500-byte
/// Ethernet path less IPv4's 20-byte and UDP's 8-byte headers; over IPv6, 1452). A session
/// sends more than [`MAX_DATAGRAM`] only once a probe of that size was acknowledged, and
/// accepts up to this from its peer.
pub const MAX_PATH_DATAGRAM: usize = 1472;

/// The largest text payload of any envelope, in bytes, whatever the sender's name.
///
/// It is what is left of [`MAX_DATAGRAM`] after the prefix and the largest possible header: an
/// envelope whose payload is at most this long always encodes.
pub const MAX_PAYLOAD: usize = MAX_DATAGRAM - PREFIX_LEN - envelope::MAX_HEADER;
