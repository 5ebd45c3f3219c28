//! What the chat client has to tell its user: [`Note`]s, produced by the chat state machine
//! and shown by each front end its own way (coloured lines at the prompt, plain lines or JSON
//! objects from `listen`, an exit code from `send`), and the [`SendState`] of each message
//! this client sent.

use dgram_proto::chat::{ChatId, ErrorKind, Posted, Presence, Room, RoomInfo, Target, UserInfo};
use dgram_proto::{Name, RequestId};

use crate::event::{LookupFailed, Moved};

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
    /// A direct message the server holds for its recipient, who is offline (or whose session
    /// failed): it is delivered, and receipted, when they return. The server's words.
    Held(String),
    /// Not delivered: the server's reason (a room member's session failed), or the session's,
    /// when the message carrying it was never acknowledged.
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
            // The server's words say it is queued ("alex is offline; queued until they return").
            SendState::Held(reason) => reason.clone(),
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
            SendState::Held(_) => "held",
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

/// A message our name sent from another session, as this session saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elsewhere {
    /// Where it went.
    pub to: Target,
    /// Its first characters.
    pub preview: String,
}

/// Something to show: what the chat client has to tell its user. Each front end shows every
/// kind its own way, and says in its match what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The session is up: the first time, again after it ended, or the same session resumed
    /// from a new address (nothing else needs doing then).
    Connected {
        /// The first session of this client.
        first: bool,
        /// The same session, resumed.
        resumed: bool,
    },
    /// The session ended; the client is already trying to get it back.
    Disconnected {
        /// Why, for people.
        reason: String,
    },
    /// The server's name now resolves elsewhere, and the client handshakes there; the link's
    /// news, passed on as it is.
    Moved(Moved),
    /// Looking the server's name up again failed (said once until a lookup works again); the
    /// link's news, passed on as it is.
    LookupFailed(LookupFailed),
    /// The server accepted our name.
    Welcome {
        /// Our name, as the server spells it.
        name: Name,
        /// Who is online.
        online: Vec<UserInfo>,
        /// The name was claimed just now, and its key saved.
        claimed: bool,
        /// Welcomed again after a reconnect.
        again: bool,
        /// After a reconnect, the rooms joined again.
        rejoining: Vec<Room>,
    },
    /// The server refused our name (claimed by someone else, or reserved).
    Refused {
        /// Why, for programs.
        kind: ErrorKind,
        /// Why, for people.
        message: String,
    },
    /// A message for us (a DM, a room message, or our own DM sent from another session).
    Message {
        /// The message.
        posted: Posted,
        /// History shown on joining a room.
        replay: bool,
    },
    /// Someone's presence changed.
    Presence {
        /// Whose.
        name: Name,
        /// What it is now.
        presence: Presence,
    },
    /// We are sending a message: the text as typed, shown once.
    Sent {
        /// Which message.
        msg: Outgoing,
        /// Its whole text.
        text: String,
        /// Queued or sending.
        state: SendState,
    },
    /// A message we sent changed state.
    State {
        /// Which message.
        msg: Outgoing,
        /// Its id on the server, once it has one.
        id: Option<ChatId>,
        /// Where it stands now.
        state: SendState,
    },
    /// A receipt for a message sent by another session of ours (e.g. `send` beside `listen`).
    Receipt {
        /// The message's id on the server.
        id: ChatId,
        /// Where it went and how it began, when this session saw it (a session is sent the
        /// DMs and room messages its name sends from elsewhere).
        about: Option<Elsewhere>,
        /// Where it stands now.
        state: SendState,
    },
    /// We joined a room.
    Joined {
        /// The room.
        room: Room,
        /// Joined again on our own after a reconnect.
        auto: bool,
    },
    /// We left a room.
    Parted {
        /// The room.
        room: Room,
    },
    /// The rooms on the server.
    Rooms(Vec<RoomInfo>),
    /// Who is online, server-wide or in a room.
    Who {
        /// The room, or everyone.
        room: Option<Room>,
        /// Who.
        users: Vec<UserInfo>,
    },
    /// A room's topic: asked for, shown on joining, or just set by someone.
    Topic {
        /// The room.
        room: Room,
        /// Its topic (empty: none).
        topic: String,
    },
    /// Our away message was set (`Some`) or cleared.
    Away(Option<String>),
    /// A conversation's history, oldest first (the answer to a history request).
    History {
        /// Whose.
        with: Target,
        /// Its messages.
        messages: Vec<Posted>,
    },
    /// Where the server sees a user's sessions.
    Whois {
        /// Who.
        name: Name,
        /// The addresses of their sessions.
        addrs: Vec<String>,
        /// Their away message.
        away: Option<String>,
    },
    /// A request other than a message failed.
    Failed {
        /// Which request (`join #lobby`).
        what: String,
        /// Why, for people.
        reason: String,
    },
    /// The server reported an error that answers no request of ours, or sent something this
    /// client cannot read.
    Error {
        /// What, for people.
        message: String,
    },
}
