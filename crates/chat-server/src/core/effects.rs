//! What handling one event does, as a value: the messages to send ([`Output`]s) and the changes
//! to store ([`Op`]s), with what a failed commit must take back. Every handler returns one; the
//! [`Chat`](super::Chat) wrapper sends it at once when it changed nothing durable, and holds
//! its messages back until the store has committed its changes otherwise.

use std::sync::Arc;

use dgram_proto::chat::{ChatId, ServerMsg};
use dgram_proto::session::SessionId;

use super::op::Op;
use super::store::Fence;
use super::undo::Undo;

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

/// One event's effects.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// What to send.
    pub(crate) out: Vec<Output>,
    /// What to store, when the store keeps anything.
    pub(crate) ops: Vec<Op>,
    /// The messages accepted, taken back if the commit fails.
    pub(crate) posts: Vec<ChatId>,
    /// How to take back the other in-memory changes, in the order they were made.
    pub(crate) undo: Vec<Undo>,
    /// In a cluster: the request is answered once this replica has caught up with the log
    /// (nothing else is in these effects then).
    pub(crate) fence: Option<Fence>,
    /// Whether changes are recorded: a store that keeps nothing gets no ops, so that the hot
    /// path copies no message for it.
    keep: bool,
}

impl Effects {
    /// No effects yet; `keep` says whether changes are recorded.
    pub(crate) fn new(keep: bool) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }

    /// Whether changes are recorded (the store keeps them).
    pub(crate) fn keeps(&self) -> bool {
        self.keep
    }

    /// Sends `msg` to one session, on the request channel.
    pub(crate) fn send(&mut self, session: SessionId, msg: ServerMsg) {
        self.send_each([session], msg);
    }

    /// Sends one message to many sessions as one shared copy, which the driver encodes once (a
    /// presence notice to a room of a hundred is one encoding, not a hundred).
    pub(crate) fn send_each(
        &mut self,
        sessions: impl IntoIterator<Item = SessionId>,
        msg: ServerMsg,
    ) {
        let msg = Arc::new(msg);
        self.out.extend(sessions.into_iter().map(|session| Output {
            session,
            channel: 0,
            msg: Arc::clone(&msg),
            receipt: None,
        }));
    }

    /// Sends `msg` to one session on `channel` (a conversation's history travels on its own).
    pub(crate) fn send_on(&mut self, session: SessionId, channel: u16, msg: ServerMsg) {
        self.out.push(Output {
            session,
            channel,
            msg: Arc::new(msg),
            receipt: None,
        });
    }

    /// Records a change for the store.
    pub(crate) fn log(&mut self, op: Op) {
        if self.keep {
            if let Op::Post(p) = &op {
                self.posts.push(p.id);
            }
            self.ops.push(op);
        }
    }

    /// Records how to take back a change if its commit fails (only when changes are recorded:
    /// in memory nothing is made for it).
    pub(crate) fn undo_on_failure(&mut self, undo: impl FnOnce() -> Undo) {
        if self.keep {
            self.undo.push(undo());
        }
    }

    /// Whether anything needs committing before the outputs may go.
    pub(crate) fn durable(&self) -> bool {
        !self.ops.is_empty()
    }
}
