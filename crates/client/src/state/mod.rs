//! The chat client's state machine, free of I/O like proto's: it takes what the link reports
//! ([`LinkEvent`], through [`Chat::handle`]) and what the user asks of the server (one method
//! per request: [`Chat::send`], [`Chat::join`], …), and hands back [`Action`]s through
//! [`Chat::poll_action`]: chat messages to transmit, a claim key to save, and [`Note`]s to
//! show. A front end loops: feed it events and the user's requests, then carry out its actions.
//!
//! It keeps what a reconnect needs: the name and its key (to say Hello again), the rooms we are
//! in (to join them again), and what the user asked for while the session was down (sent once
//! the server has welcomed us again). Every request's fate is tracked to the end: an answer, an
//! error, or the session reporting that the message carrying it failed (a message then goes
//! again with its own id, see `resend.rs`, before it is given up).

mod answers;
mod catch_up;
mod requests;
mod resend;
#[cfg(test)]
mod resend_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use dgram_proto::chat::{ChatId, ClaimKey, ClientMsg, Posted, Room, Txn};
use dgram_proto::session::MessageId;
use dgram_proto::{Name, RequestId};

use self::requests::{Purpose, Request};
use crate::event::{LinkEvent, SessionEvent};
use crate::note::{Elsewhere, Note, Outgoing};

/// Receipts we keep waiting for at most; beyond it the oldest is forgotten (its receipt, if
/// it ever comes, is then shown without the message's preview).
const MAX_TRACKED: usize = 4096;

/// What the state machine wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this as one reliable session message; report its session message id under `req`.
    Transmit {
        /// The chat message.
        msg: ClientMsg,
        /// The request it carries (`None` for Hello).
        req: Option<RequestId>,
    },
    /// The server gave us a claim key for our name: keep it.
    SaveKey(ClaimKey),
    /// Tell the user.
    Show(Note),
}

/// How far the session and the name are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No session (yet, or any more); the session client is handshaking on its own.
    Down,
    /// Session up, Hello sent, no Welcome yet.
    Hello,
    /// Welcomed: requests go out as they come.
    Ready,
    /// The server refused our name; nothing more goes out.
    Refused,
}

/// The client's chat state.
#[derive(Debug)]
pub struct Chat {
    me: Name,
    key: Option<ClaimKey>,
    /// Only sends (a script's `send`): the server keeps the name's messages for its readers.
    send_only: bool,
    phase: Phase,
    welcomed: bool,
    connected_before: bool,
    /// The rooms we are in, by key.
    rooms: BTreeMap<String, Room>,
    /// Who we know to be online, by key (for completion and the chooser's list).
    online: BTreeMap<String, Name>,
    next_req: RequestId,
    /// The id the next message gets (see `resend.rs`).
    next_txn: Txn,
    requests: HashMap<RequestId, Request>,
    by_msg: HashMap<MessageId, RequestId>,
    /// Accepted messages whose receipt may still come.
    tracked: BTreeMap<ChatId, Outgoing>,
    /// Messages our name sent from other sessions, seen here: what their receipts are about.
    elsewhere: BTreeMap<ChatId, Elsewhere>,
    /// The latest messages shown (or sent by us), by id and timestamp: a server that
    /// redelivers what was not acknowledged before a reconnect sends it again with the same
    /// id, and a room's replay repeats what was shown; each is shown once.
    seen: BTreeSet<(ChatId, u64)>,
    /// The newest message id seen per room, by key: where a room resumes after a reconnect.
    last_seen: HashMap<String, ChatId>,
    /// Rooms rejoined after a reconnect whose catch-up is on its way, with the Join's replay
    /// held back until it comes.
    catching_up: HashMap<String, Vec<Posted>>,
    /// Requests waiting for the session and the Welcome, oldest first.
    outbox: VecDeque<RequestId>,
    actions: VecDeque<Action>,
}

impl Chat {
    /// A client that will speak as `me`, proving its claim with `key` if it has one.
    pub fn new(me: Name, key: Option<ClaimKey>) -> Self {
        Self {
            me,
            key,
            send_only: false,
            phase: Phase::Down,
            welcomed: false,
            connected_before: false,
            rooms: BTreeMap::new(),
            online: BTreeMap::new(),
            next_req: 1,
            next_txn: resend::txn_base(),
            requests: HashMap::new(),
            by_msg: HashMap::new(),
            tracked: BTreeMap::new(),
            elsewhere: BTreeMap::new(),
            seen: BTreeSet::new(),
            last_seen: HashMap::new(),
            catching_up: HashMap::new(),
            outbox: VecDeque::new(),
            actions: VecDeque::new(),
        }
    }

    /// Makes this a client that only sends: it receives answers and receipts, never the name's
    /// messages (which stay queued for the sessions that read them).
    pub fn set_send_only(&mut self) {
        self.send_only = true;
    }

    /// Our name, as the server spells it once it welcomed us.
    pub fn me(&self) -> &Name {
        &self.me
    }

    /// Whether requests go out now (rather than wait for the session).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The rooms we are in.
    pub fn joined(&self) -> impl Iterator<Item = &Room> {
        self.rooms.values()
    }

    /// Whether we are in `room`.
    pub fn in_room(&self, room: &Room) -> bool {
        self.rooms.contains_key(room.key())
    }

    /// Messages sent or queued that the server has not answered yet.
    pub fn unanswered_sends(&self) -> usize {
        let sends = self.requests.values();
        sends.filter(|r| r.purpose.is_send()).count()
    }

    /// Who we know to be online.
    pub fn online(&self) -> impl Iterator<Item = &Name> {
        self.online.values()
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn show(&mut self, note: Note) {
        self.actions.push_back(Action::Show(note));
    }

    /// Takes in what the link reports.
    pub fn handle(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Session(event) => self.session(event),
            LinkEvent::Submitted { req, outcome } => self.submitted(req, outcome),
            LinkEvent::Moved(moved) => self.show(Note::Moved(moved)),
            LinkEvent::LookupFailed(failed) => self.show(Note::LookupFailed(failed)),
            // Session::step ends the session with an error instead; nothing is left to track.
            LinkEvent::Stopped(_) => {}
        }
    }

    fn session(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Connected { resumed: true } => self.show(Note::Connected {
                first: false,
                resumed: true,
            }),
            SessionEvent::Connected { resumed: false } => self.connected(),
            SessionEvent::Closed { reason } => {
                if self.phase != Phase::Refused {
                    self.phase = Phase::Down;
                }
                self.show(Note::Disconnected { reason });
            }
            SessionEvent::Refused { reason } => {
                self.phase = Phase::Refused;
                self.show(Note::Error { message: reason });
            }
            SessionEvent::Message(msg) => self.answer(msg),
            SessionEvent::Undecodable(why) => self.show(Note::Error {
                message: format!("the server sent something this client cannot read: {why}"),
            }),
            SessionEvent::Failed { id, reason } => {
                if let Some(req) = self.by_msg.remove(&id) {
                    self.lost(req, reason);
                }
            }
        }
    }

    /// A new session: say who we are (unless the name was refused, which stops everything).
    fn connected(&mut self) {
        if self.phase == Phase::Refused {
            return;
        }
        self.phase = Phase::Hello;
        let first = !self.connected_before;
        self.connected_before = true;
        self.show(Note::Connected {
            first,
            resumed: false,
        });
        let hello = ClientMsg::Hello {
            name: self.me.clone(),
            key: self.key,
            send_only: self.send_only,
        };
        self.actions.push_back(Action::Transmit {
            msg: hello,
            req: None,
        });
    }

    /// Now welcomed: join our rooms again after a reconnect, then send what waited.
    fn ready(&mut self) -> Vec<Room> {
        self.phase = Phase::Ready;
        let again = std::mem::replace(&mut self.welcomed, true);
        let mut rejoining = Vec::new();
        if again {
            rejoining = self.rooms.values().cloned().collect();
            for room in &rejoining {
                self.submit_join(room.clone(), true);
                self.catch_up(room);
            }
        }
        while let Some(req) = self.outbox.pop_front() {
            // A message going out again was shown as sending already.
            let first = self.requests.get(&req).filter(|r| r.sends == 0);
            if let Some(Purpose::Send(msg)) = first.map(|r| &r.purpose) {
                let msg = msg.clone();
                self.show(Note::State {
                    msg,
                    id: None,
                    state: crate::note::SendState::Sending,
                });
            }
            self.transmit(req);
        }
        rejoining
    }

    fn track(&mut self, id: ChatId, msg: Outgoing) {
        self.tracked.insert(id, msg);
        while self.tracked.len() > MAX_TRACKED {
            self.tracked.pop_first();
        }
    }
}
