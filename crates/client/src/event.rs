//! What the transport reports, in its own words: [`SessionEvent`]s from one chat session (what
//! a driver's callback sees), and [`LinkEvent`]s from the [`crate::Link`] that runs it (those,
//! plus the fate of each message handed over, the server's name moving, and the driver
//! stopping). Nothing here is for a screen: the [`crate::Chat`] state machine turns these into
//! [`crate::Note`]s.

use std::fmt;
use std::net::SocketAddr;

use dgram_proto::chat::ServerMsg;
use dgram_proto::session::MessageId;
use dgram_proto::RequestId;

/// What one chat session reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session is up.
    Connected {
        /// The same session continues from a new address (nothing needs saying again).
        resumed: bool,
    },
    /// The session ended; the session client is already handshaking again.
    Closed {
        /// Why, for people.
        reason: String,
    },
    /// The session client gave up on this server for good (its key is not the pinned one,
    /// or it speaks another protocol version); it will not try again.
    Refused {
        /// Why, for people: what changed and what to do.
        reason: String,
    },
    /// A chat message from the server.
    Message(ServerMsg),
    /// A message from the server that does not decode as chat; why.
    Undecodable(String),
    /// A message we sent was not acknowledged, and will not be resent.
    Failed {
        /// The session message.
        id: MessageId,
        /// Why, for people.
        reason: String,
    },
}

/// What the link reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The session's own news.
    Session(SessionEvent),
    /// A chat message was handed to the session (or not).
    Submitted {
        /// The request it carries (`None` for Hello).
        req: Option<RequestId>,
        /// Its session message id, or why it could not go.
        outcome: Result<MessageId, SubmitError>,
    },
    /// The server's name now resolves elsewhere, or the next server of a list is tried, and
    /// the session client handshakes there.
    Moved(Moved),
    /// Looking the server's name up again failed.
    LookupFailed(LookupFailed),
    /// The driver stopped with this error (the socket failed): nothing more will come.
    Stopped(String),
}

/// The server's name (`given`) now resolves to `to`, or `given` is a list of servers (one
/// service) and `from` stopped answering: the session client handshakes at `to` instead of at
/// `from`. Only ever while there is no session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The server as given (`--server`).
    pub given: String,
    /// Where the session client was pointed.
    pub from: SocketAddr,
    /// Where it is pointed now.
    pub to: SocketAddr,
}

/// Looking the server's name up again failed; said once until a lookup works again. Nothing
/// stops: the link keeps trying `trying`, and the name a few seconds later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFailed {
    /// The server as given.
    pub given: String,
    /// Why, for people.
    pub reason: String,
    /// The address still tried.
    pub trying: SocketAddr,
}

/// Why a message could not be handed to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// No session right now: try again once connected.
    NotConnected,
    /// The message does not encode (too large), or the session would not take it (its send
    /// buffer is full).
    Refused(dgram_proto::Error),
    /// The session took it without an id to follow it by (never for a reliable message).
    NoId,
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::NotConnected => f.write_str("not connected"),
            SubmitError::Refused(why) => write!(f, "{why}"),
            SubmitError::NoId => f.write_str("sent without an id"),
        }
    }
}
