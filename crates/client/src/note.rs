//! What the chat client has to tell its user: [`Note`]s, produced by the chat state machine
//! and shown by each front end its own way (coloured lines at the prompt, plain lines or JSON
//! objects from `listen`, an exit code from `send`).

use std::net::SocketAddr;

use dgram_proto::chat::{ChatId, ErrorKind, Posted, Presence, Room, RoomInfo, Target, UserInfo};
use dgram_proto::{Name, RequestId};

/// Where one message this client sent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendState {
    /// Typed while disconnected; it goes out once the session is up and the name accepted.
    Queued,
    /// On its way to the server.
    Sending,
    /// The server took it and gave it an id.
    Accepted,
    /// Every recipient session acknowledged it.
    Delivered,
    /// Not delivered (yet): the server's reason (e.g. queued for an offline user), or the
    /// session's, when the message carrying it was never acknowledged.
    NotDelivered(String),
    /// The server turned it away (unknown user, not in the room, too long, rate limit).
    Refused {
        /// Why, for programs.
        kind: ErrorKind,
        /// Why, for people.
        message: String,
    },
}

impl SendState {
    /// The state as a person reads it: `sending`, `accepted`, `not delivered: REASON`.
    pub fn label(&self) -> String {
        match self {
            SendState::Queued => "queued until connected".to_owned(),
            SendState::Sending => "sending".to_owned(),
            SendState::Accepted => "accepted".to_owned(),
            SendState::Delivered => "delivered".to_owned(),
            SendState::NotDelivered(reason) => format!("not delivered: {reason}"),
            SendState::Refused { message, .. } => format!("not delivered: {message}"),
        }
    }

    /// The state as one word for programs (`listen --json`).
    pub fn code(&self) -> &'static str {
        match self {
            SendState::Queued => "queued",
            SendState::Sending => "sending",
            SendState::Accepted => "accepted",
            SendState::Delivered => "delivered",
            SendState::NotDelivered(_) => "not_delivered",
            SendState::Refused { .. } => "refused",
        }
    }
}

/// A message this client sent, as far as it needs to be shown again when its state changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The request that carried it.
    pub req: RequestId,
    /// Where it went.
    pub to: Target,
    /// Its first characters, to say which message a state line is about.
    pub preview: String,
}

/// Something to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The session is up: the first time, again after it ended (`resumed` false), or the same
    /// session resumed from a new address (`resumed` true; nothing else needs doing).
    Connected { first: bool, resumed: bool },
    /// The session ended; the client is already trying to get it back.
    Disconnected { reason: String },
    /// The server's name (`given`) now resolves to `to`, so the client handshakes there
    /// instead of at `from`. Only ever while there is no session.
    Moved {
        given: String,
        from: SocketAddr,
        to: SocketAddr,
    },
    /// Looking the server's name up again failed; said once until a lookup works again.
    /// Nothing stops: the client keeps trying `trying`, and the name a few seconds later.
    LookupFailed {
        given: String,
        reason: String,
        trying: SocketAddr,
    },
    /// The server accepted our name. `claimed`: it was claimed just now, and the key saved.
    /// `again`: after a reconnect, in which case `rejoining` lists the rooms joined again.
    Welcome {
        name: Name,
        online: Vec<UserInfo>,
        claimed: bool,
        again: bool,
        rejoining: Vec<Room>,
    },
    /// The server refused our name (claimed by someone else, or reserved).
    Refused { kind: ErrorKind, message: String },
    /// A message for us (a DM, a room message, or our own DM sent from another session).
    /// `replay`: history shown on joining a room or asked for with `/history`.
    Message { posted: Posted, replay: bool },
    /// Someone's presence changed.
    Presence { name: Name, presence: Presence },
    /// We are sending a message: the text as typed, shown once.
    Sent {
        msg: Outgoing,
        text: String,
        state: SendState,
    },
    /// A message we sent changed state.
    State {
        msg: Outgoing,
        id: Option<ChatId>,
        state: SendState,
    },
    /// A receipt for a message sent by another session of ours (e.g. `send` beside `listen`).
    Receipt { id: ChatId, state: SendState },
    /// We joined a room (`auto`: joined again after a reconnect).
    Joined { room: Room, auto: bool },
    /// We left a room.
    Parted { room: Room },
    /// The rooms on the server.
    Rooms(Vec<RoomInfo>),
    /// Who is online, server-wide or in a room.
    Who {
        room: Option<Room>,
        users: Vec<UserInfo>,
    },
    /// A room's topic: asked for, shown on joining, or just set by someone.
    Topic { room: Room, topic: String },
    /// Our away message was set (`Some`) or cleared.
    Away(Option<String>),
    /// A conversation's history, oldest first (the answer to `/history`).
    History { with: Target, messages: Vec<Posted> },
    /// Where the server sees a user's sessions.
    Whois {
        name: Name,
        addrs: Vec<String>,
        away: Option<String>,
    },
    /// A request other than a message failed; `what` says which (`join #lobby`).
    Failed { what: String, reason: String },
    /// The server reported an error that answers no request of ours, or sent something this
    /// client cannot read.
    Error { message: String },
}
