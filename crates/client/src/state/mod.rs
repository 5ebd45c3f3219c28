//! The chat client's state machine, free of I/O like proto's: it takes what the session link
//! reports ([`NetEvent`]) and what the user asks for ([`Ask`]), and hands back [`Action`]s:
//! chat messages to transmit, a claim key to save, and [`Note`]s to show.
//!
//! It keeps what a reconnect needs: the name and its key (to say Hello again), the rooms we are
//! in (to join them again), and what the user typed while the session was down (sent once the
//! server has welcomed us again). Every request's fate is tracked to the end: an answer, an
//! error, or the session reporting that the message carrying it failed.

mod answers;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use dgram_proto::chat::{ChatId, ClaimKey, ClientMsg, Room, Target};
use dgram_proto::session::MessageId;
use dgram_proto::{Name, RequestId};

use crate::link::{NetEvent, SubmitError};
use crate::note::{Note, Outgoing, SendState};

/// Receipts we keep waiting for at most; beyond it the oldest is forgotten (its receipt, if
/// it ever comes, is then shown without the message's preview).
const MAX_TRACKED: usize = 4096;

/// Characters of a message quoted in its state lines.
const PREVIEW_CHARS: usize = 24;

/// Something the user asks of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Send { to: Target, text: String },
    Join(Room),
    Part(Room),
    Rooms,
    Who(Option<Room>),
    Topic { room: Room, topic: Option<String> },
    Away(Option<String>),
    History { with: Target, limit: u32 },
    Whois(Name),
}

/// What the state machine wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this as one reliable session message; report its session message id under `req`.
    Transmit {
        msg: ClientMsg,
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

#[derive(Debug, Clone)]
struct Request {
    ask: Ask,
    /// Joined again on our own after a reconnect, not asked for by the user.
    auto: bool,
    /// The session message carrying it, once handed to the session.
    msg_id: Option<MessageId>,
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
    requests: HashMap<RequestId, Request>,
    by_msg: HashMap<MessageId, RequestId>,
    /// Accepted messages whose receipt may still come.
    tracked: BTreeMap<ChatId, Outgoing>,
    /// Ids of the latest messages shown: a server that redelivers what was not acknowledged
    /// before a reconnect sends it again with the same id, and it is shown once.
    seen: BTreeSet<ChatId>,
    /// Requests waiting for the session and the Welcome, oldest first.
    outbox: VecDeque<RequestId>,
    actions: VecDeque<Action>,
}

impl Chat {
    /// Makes this a client that only sends: it receives answers and receipts, never the name's
    /// messages (which stay queued for the sessions that read them).
    pub fn set_send_only(&mut self) {
        self.send_only = true;
    }

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
            requests: HashMap::new(),
            by_msg: HashMap::new(),
            tracked: BTreeMap::new(),
            seen: BTreeSet::new(),
            outbox: VecDeque::new(),
            actions: VecDeque::new(),
        }
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
    pub fn rooms(&self) -> impl Iterator<Item = &Room> {
        self.rooms.values()
    }

    /// Whether we are in `room`.
    pub fn in_room(&self, room: &Room) -> bool {
        self.rooms.contains_key(room.key())
    }

    /// Messages sent or queued that the server has not answered yet.
    pub fn unanswered_sends(&self) -> usize {
        self.requests
            .values()
            .filter(|r| matches!(r.ask, Ask::Send { .. }))
            .count()
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

    /// Asks the server for something; it goes out now, or once the session is back.
    pub fn ask(&mut self, ask: Ask) -> RequestId {
        self.submit(ask, false)
    }

    fn submit(&mut self, ask: Ask, auto: bool) -> RequestId {
        let req = self.next_req;
        self.next_req += 1;
        let ready = self.phase == Phase::Ready;
        if let Ask::Send { to, text } = &ask {
            let state = if ready {
                SendState::Sending
            } else {
                SendState::Queued
            };
            let msg = outgoing(req, to, text);
            let text = text.clone();
            self.show(Note::Sent { msg, text, state });
        }
        self.requests.insert(
            req,
            Request {
                ask,
                auto,
                msg_id: None,
            },
        );
        if ready {
            self.transmit(req);
        } else {
            self.outbox.push_back(req);
        }
        req
    }

    fn transmit(&mut self, req: RequestId) {
        if let Some(r) = self.requests.get(&req) {
            let msg = client_msg(req, &r.ask);
            self.actions.push_back(Action::Transmit {
                msg,
                req: Some(req),
            });
        }
    }

    /// Takes in what the session link reports.
    pub fn handle(&mut self, event: NetEvent) {
        match event {
            NetEvent::Connected { resumed: true } => self.show(Note::Connected {
                first: false,
                resumed: true,
            }),
            NetEvent::Connected { resumed: false } => {
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
            NetEvent::Closed { reason } => {
                if self.phase != Phase::Refused {
                    self.phase = Phase::Down;
                }
                self.show(Note::Disconnected { reason });
            }
            NetEvent::Server(msg) => self.answer(msg),
            NetEvent::Undecodable(why) => self.show(Note::Error {
                message: format!("the server sent something this client cannot read: {why}"),
            }),
            NetEvent::Submitted { req, outcome } => self.submitted(req, outcome),
            NetEvent::Failed { id, reason } => {
                if let Some(req) = self.by_msg.remove(&id) {
                    self.fail(req, reason);
                }
            }
            NetEvent::Notice(note) => self.show(note),
            // Session::step ends the session with an error instead; nothing is left to track.
            NetEvent::Stopped(_) => {}
        }
    }

    fn submitted(&mut self, req: Option<RequestId>, outcome: Result<MessageId, SubmitError>) {
        // Hello carries no request: if it could not go out, the next Connected sends it again.
        let Some(req) = req else { return };
        match outcome {
            Ok(id) => {
                if let Some(r) = self.requests.get_mut(&req) {
                    r.msg_id = Some(id);
                    self.by_msg.insert(id, req);
                }
            }
            // The session went down between our decision and the send: wait for it again.
            Err(SubmitError::NotConnected) => {
                if self.requests.contains_key(&req) {
                    self.outbox.push_front(req);
                }
            }
            Err(SubmitError::Other(why)) => self.fail(req, why),
        }
    }

    /// The request's message was not delivered to the server: say so, and forget it.
    fn fail(&mut self, req: RequestId, reason: String) {
        let Some(r) = self.take(req) else { return };
        match r.ask {
            Ask::Send { to, text } => self.show(Note::State {
                msg: outgoing(req, &to, &text),
                id: None,
                state: SendState::NotDelivered(reason),
            }),
            // A room we tried to join again stays on the list: the next reconnect tries again.
            Ask::Join(_) if r.auto => {}
            ask => self.show(Note::Failed {
                what: describe(&ask),
                reason,
            }),
        }
    }

    /// Removes a request that has its answer.
    fn take(&mut self, req: RequestId) -> Option<Request> {
        let r = self.requests.remove(&req)?;
        if let Some(id) = r.msg_id {
            self.by_msg.remove(&id);
        }
        Some(r)
    }

    /// Now welcomed: join our rooms again after a reconnect, then send what waited.
    fn ready(&mut self) -> Vec<Room> {
        self.phase = Phase::Ready;
        let again = std::mem::replace(&mut self.welcomed, true);
        let mut rejoining = Vec::new();
        if again {
            rejoining = self.rooms.values().cloned().collect();
            for room in &rejoining {
                self.submit(Ask::Join(room.clone()), true);
            }
        }
        while let Some(req) = self.outbox.pop_front() {
            if let Some(Ask::Send { to, text }) = self.requests.get(&req).map(|r| r.ask.clone()) {
                self.show(Note::State {
                    msg: outgoing(req, &to, &text),
                    id: None,
                    state: SendState::Sending,
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

/// The wire form of a request.
fn client_msg(req: RequestId, ask: &Ask) -> ClientMsg {
    match ask.clone() {
        Ask::Send { to, text } => ClientMsg::Send { req, to, text },
        Ask::Join(room) => ClientMsg::Join { req, room },
        Ask::Part(room) => ClientMsg::Part { req, room },
        Ask::Rooms => ClientMsg::Rooms { req },
        Ask::Who(room) => ClientMsg::Who { req, room },
        Ask::Topic { room, topic } => ClientMsg::Topic { req, room, topic },
        Ask::Away(text) => ClientMsg::Away { req, text },
        Ask::History { with, limit } => ClientMsg::History {
            req,
            with,
            since: None,
            limit,
        },
        Ask::Whois(name) => ClientMsg::Whois { req, name },
    }
}

/// A request in a few words, for a line saying it failed.
fn describe(ask: &Ask) -> String {
    match ask {
        Ask::Send { to, .. } => format!("message to {to}"),
        Ask::Join(room) => format!("join #{room}"),
        Ask::Part(room) => format!("part #{room}"),
        Ask::Rooms => "rooms".to_owned(),
        Ask::Who(None) => "who".to_owned(),
        Ask::Who(Some(room)) => format!("who #{room}"),
        Ask::Topic { room, .. } => format!("topic of #{room}"),
        Ask::Away(_) => "away".to_owned(),
        Ask::History { with, .. } => format!("history with {with}"),
        Ask::Whois(name) => format!("whois {name}"),
    }
}

fn outgoing(req: RequestId, to: &Target, text: &str) -> Outgoing {
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if preview.len() < text.len() {
        preview.push('…');
    }
    Outgoing {
        req,
        to: to.clone(),
        preview,
    }
}
