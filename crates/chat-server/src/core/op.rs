//! The changes the chat core makes, one [`Op`] each, for a store to commit in [`Ticket`] order.
//! A crash can then lose only what nobody was told: what a change tells clients waits for its
//! commit (see the [`Chat`](super::Chat) wrapper).

use dgram_proto::chat::{ChatId, Posted, Room, Txn};
use dgram_proto::Name;

use super::state::PeerKey;

/// Orders commits: every batch of ops (all that one event caused) gets the next ticket.
pub type Ticket = u64;

/// One change to the chat state, to be made durable (and, in a cluster, the replicated log's
/// entry, hence serde).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// A free name was claimed: it belongs to `owner` from now on.
    Claim {
        /// The name.
        name: Name,
        /// The public key of the client that claimed it.
        owner: PeerKey,
        /// When.
        at_ms: u64,
    },
    /// A name claimed by an older release was proved with its old claim key: it belongs to
    /// `owner` from now on, and the old key proves nothing any more.
    Bind {
        /// The name.
        user: Name,
        /// The public key of the client that proved it.
        owner: PeerKey,
    },
    /// A name was used.
    Touch {
        /// The name.
        user: Name,
        /// When.
        at_ms: u64,
    },
    /// A session after the claiming one used the name: the claim now lives its full lifetime.
    Established {
        /// The name.
        user: Name,
    },
    /// A claim lapsed.
    Lapse {
        /// The name.
        user: Name,
    },
    /// A message was accepted.
    Post(Posted),
    /// A message was accepted under its sender's client-chosen id (after its `Post`).
    Sent {
        /// The sender.
        user: Name,
        /// The client's id for it.
        txn: Txn,
        /// The server's.
        id: ChatId,
        /// When it was accepted.
        ts: u64,
    },
    /// A direct message awaits its recipient's acknowledgement.
    Queue {
        /// The recipient.
        user: Name,
        /// The message.
        id: ChatId,
    },
    /// A recipient's session acknowledged a direct message.
    Dequeue {
        /// The recipient.
        user: Name,
        /// The message.
        id: ChatId,
    },
    /// A user joined a room (creating it if new).
    Join {
        /// The user.
        user: Name,
        /// The room.
        room: Room,
    },
    /// A user left a room.
    Part {
        /// The user.
        user: Name,
        /// The room.
        room: Room,
    },
    /// An empty room was forgotten.
    DropRoom {
        /// The room.
        room: Room,
    },
    /// A room's topic changed.
    Topic {
        /// The room.
        room: Room,
        /// The topic.
        topic: String,
    },
    /// In a cluster only: a name's first session on this instance opened (`online`), or its
    /// last one here closed, so that the other instances show it online while it is here.
    Presence {
        /// The name.
        user: Name,
        /// Whether it is online here now.
        online: bool,
    },
    /// Messages older than `before_ms` go, and rooms keep at most `room_history` messages.
    Expire {
        /// Message cutoff.
        before_ms: u64,
        /// Messages kept per room.
        room_history: usize,
    },
    /// In a cluster only: the instance `instance` stopped without closing its sessions (its
    /// heartbeats stopped), so every name it showed online is offline there. Logged once by
    /// whichever instance noticed, so that every replica agrees; last in the enum, so that
    /// entries logged before it existed still decode.
    Gone {
        /// The instance, as its log entries name it.
        instance: String,
    },
    /// In a cluster only: every session on the logging instance that a room post made
    /// elsewhere went to acknowledged it (`failed`: one could not be reached, and why), for
    /// the sender's instance to count towards the post's `Delivered`.
    Received {
        /// The post.
        id: ChatId,
        /// Why it did not reach a session there, if it did not.
        failed: Option<String>,
    },
}
