//! The chat protocol: what clients and the chat server say to each other over a session
//! ([`ClientMsg`], [`ServerMsg`]). Every chat message travels as one reliable session message,
//! encoded by the codec module (bincode behind a 2-byte prefix). The server's rules are the
//! chat-server crate's own.

mod room;

use serde::{Deserialize, Serialize};

pub use room::{Room, MAX_ROOM_CHARS};

use crate::{codec, Error, Name, RequestId};

/// A server-assigned message id: increasing, unique per server.
pub type ChatId = u64;

/// A client-chosen message id (a transaction id, as Matrix's and IRCv3's labels): unique among
/// one sender's recent messages, so that a message sent again after a crash is stored once.
pub type Txn = u64;

/// A secret that proves ownership of a name. The server keeps only its hash.
pub type ClaimKey = [u8; 16];

/// The longest text of a chat message, in bytes.
pub const MAX_TEXT: usize = 4096;
/// The longest topic or away text, in bytes.
pub const MAX_STATUS_TEXT: usize = 300;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A direct message to a user.
    User(Name),
    /// A message to everyone in a room.
    Room(Room),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::User(n) => write!(f, "{n}"),
            Target::Room(r) => write!(f, "#{r}"),
        }
    }
}

/// A message as the server accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    /// The server's id for it.
    pub id: ChatId,
    /// When the server accepted it: UTC milliseconds since the Unix epoch.
    pub ts: u64,
    /// Who sent it (the server fills this from the session, whatever the client wrote).
    pub from: Name,
    /// Where it went.
    pub to: Target,
    /// What it says.
    pub text: String,
}

/// What a client asks of the chat server. Requests carry an id the answer repeats. Not
/// `non_exhaustive`: the server matches every request, so that a new one cannot go unanswered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Use `name` on this session. The name belongs to the session's proved identity key;
    /// `key` is only an older release's claim key, which proves a legacy name once.
    Hello {
        /// The name.
        name: Name,
        /// The claim key, if this client has one for the name.
        key: Option<ClaimKey>,
        /// The session only sends (a script's one-shot `send`): it gets answers and receipts,
        /// but no messages, so it neither takes the name's queue nor swallows DMs meant for the
        /// name's other sessions.
        send_only: bool,
    },
    /// Send `text` to a user or a room.
    Send {
        /// Request id.
        req: RequestId,
        /// The client's own id for this message, the same every time it is sent again (after a
        /// session failed before the answer came): the server stores a message once per
        /// sender and `txn`, and answers a resend with the original's id and timestamp.
        txn: Txn,
        /// Where to.
        to: Target,
        /// What.
        text: String,
    },
    /// Join a room (creating it if needed).
    Join {
        /// Request id.
        req: RequestId,
        /// The room.
        room: Room,
    },
    /// Leave a room.
    Part {
        /// Request id.
        req: RequestId,
        /// The room.
        room: Room,
    },
    /// List rooms.
    Rooms {
        /// Request id.
        req: RequestId,
    },
    /// Who is online, server-wide or in a room.
    Who {
        /// Request id.
        req: RequestId,
        /// The room, or everyone.
        room: Option<Room>,
    },
    /// Read or set a room's topic.
    Topic {
        /// Request id.
        req: RequestId,
        /// The room.
        room: Room,
        /// The new topic, or `None` to read it.
        topic: Option<String>,
    },
    /// Set or clear an away message.
    Away {
        /// Request id.
        req: RequestId,
        /// The away text, or `None` to be back.
        text: Option<String>,
    },
    /// Messages of a conversation, newest last.
    History {
        /// Request id.
        req: RequestId,
        /// The room or the user the conversation is with.
        with: Target,
        /// Only messages after this id (to fill a gap after a drop).
        since: Option<ChatId>,
        /// Only messages before this id (to scroll back past the newest `limit`).
        before: Option<ChatId>,
        /// At most this many.
        limit: u32,
    },
    /// The address the server sees a user's sessions at.
    Whois {
        /// Request id.
        req: RequestId,
        /// The user.
        name: Name,
    },
}

/// Someone's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Presence {
    /// Came online.
    Online,
    /// Went offline (their last session ended).
    Offline,
    /// Set an away message.
    Away(String),
    /// Is back from away.
    Back,
    /// Joined a room.
    Joined(Room),
    /// Left a room.
    Left(Room),
}

/// A user as listed by `Who`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The name.
    pub name: Name,
    /// The away text, if away.
    pub away: Option<String>,
}

/// A room as listed by `Rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room.
    pub room: Room,
    /// How many members it has.
    pub members: u32,
    /// Its topic.
    pub topic: String,
}

/// Machine-readable reasons for [`ServerMsg::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request needs a name first (`Hello`).
    NotJoined,
    /// The name is reserved.
    Reserved,
    /// The name is claimed and the key is missing or wrong.
    Claimed,
    /// No such user (never claimed).
    UnknownUser,
    /// Not a member of that room.
    NotInRoom,
    /// Text, topic or away message over its limit.
    TooLong,
    /// Too many rooms, queued messages or sessions.
    Limit,
    /// Over the rate limit; slow down.
    RateLimited,
    /// The request could not be decoded.
    Malformed,
    /// The server cannot store messages right now (its disk is full or failing).
    Unavailable,
}

/// What the chat server says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ServerMsg {
    /// The session now speaks as `name`.
    Welcome {
        /// The name, as the server spells it.
        name: Name,
        /// Always `None` since names belong to the session's proved key (issue 12); kept so
        /// that the chat protocol's layout does not move. Older servers sent a new claim key.
        key: Option<ClaimKey>,
        /// Who is online now.
        online: Vec<UserInfo>,
    },
    /// A `Send` was accepted.
    Accepted {
        /// The request.
        req: RequestId,
        /// The message's id.
        id: ChatId,
        /// Its timestamp.
        ts: u64,
    },
    /// Every recipient session acknowledged the message.
    Delivered {
        /// The message.
        id: ChatId,
    },
    /// The message was accepted but could not be delivered (yet).
    NotDelivered {
        /// The message.
        id: ChatId,
        /// Why (queued for an offline user, a recipient's session failed).
        reason: String,
    },
    /// A message for this user: a DM or a room message.
    Message(Posted),
    /// Someone's presence changed.
    Presence {
        /// Who.
        name: Name,
        /// How.
        presence: Presence,
    },
    /// The answer to `Rooms`.
    Rooms {
        /// The request.
        req: RequestId,
        /// The rooms.
        rooms: Vec<RoomInfo>,
    },
    /// The answer to `Who`.
    Who {
        /// The request.
        req: RequestId,
        /// The room asked about, if any.
        room: Option<Room>,
        /// Who is there.
        users: Vec<UserInfo>,
    },
    /// A room's topic (an answer, or a change).
    Topic {
        /// The request, when this answers one.
        req: Option<RequestId>,
        /// The room.
        room: Room,
        /// The topic.
        topic: String,
    },
    /// A request succeeded and has nothing else to say.
    Done {
        /// The request.
        req: RequestId,
    },
    /// The answer to `History` (and the replay on joining a room).
    History {
        /// The request, when this answers one.
        req: Option<RequestId>,
        /// The conversation.
        with: Target,
        /// The messages, oldest first.
        messages: Vec<Posted>,
    },
    /// The answer to `Whois`.
    Whois {
        /// The request.
        req: RequestId,
        /// The user.
        name: Name,
        /// Where the server sees each of their sessions (`ip:port`).
        addrs: Vec<String>,
        /// Their away text.
        away: Option<String>,
    },
    /// A request failed.
    Error {
        /// The request, if the error answers one.
        req: Option<RequestId>,
        /// Why, for programs.
        kind: ErrorKind,
        /// Why, for people.
        message: String,
    },
}

impl ClientMsg {
    /// The request id, for requests that have one.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            ClientMsg::Hello { .. } => None,
            ClientMsg::Send { req, .. }
            | ClientMsg::Join { req, .. }
            | ClientMsg::Part { req, .. }
            | ClientMsg::Rooms { req }
            | ClientMsg::Who { req, .. }
            | ClientMsg::Topic { req, .. }
            | ClientMsg::Away { req, .. }
            | ClientMsg::History { req, .. }
            | ClientMsg::Whois { req, .. } => Some(*req),
        }
    }

    /// Encodes for a session message.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        codec::encode_chat(self)
    }

    /// Decodes a session message.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        codec::decode_chat(bytes)
    }
}

impl ServerMsg {
    /// Encodes for a session message.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        codec::encode_chat(self)
    }

    /// For a client that speaks the older chat protocol `version` (its request failed to
    /// decode as [`Error::UnsupportedVersion`]): an error it can still read, telling it to
    /// upgrade, encoded in its own version. `None` when `version` is not one this build can
    /// write such an error in (a newer one, or one too old).
    pub fn upgrade_notice(version: u8) -> Option<Vec<u8>> {
        let notice = ServerMsg::Error {
            req: None,
            kind: ErrorKind::Malformed,
            message: format!(
                "this server speaks chat protocol {}, your client speaks {version}: upgrade the client",
                codec::CHAT_PREFIX[1]
            ),
        };
        codec::encode_chat_legacy(&notice, version)
    }

    /// Decodes a session message.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        codec::decode_chat(bytes)
    }
}

/// The session channel a conversation's messages travel on: ordering holds per conversation,
/// and a loss in one never stalls another. Channel 0 carries requests and their answers.
pub fn channel_for(target: &Target) -> u16 {
    let key = match target {
        Target::User(n) => n.key(),
        Target::Room(r) => r.key(),
    };
    // FNV-1a: stable across runs and builds, unlike std's hasher.
    let mut h: u32 = 0x811C_9DC5;
    for b in key.as_bytes() {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    1 + (h % 1023) as u16
}
