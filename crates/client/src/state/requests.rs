//! What the user can ask of the server, one method each, and how a request lives: it goes out
//! at once when the session is ready or waits in the outbox, it is matched to its session
//! message so that a failed one can be reported, and it ends with an answer or a failure.
//!
//! A request is kept as the chat message that carries it (sent again as it is after a
//! reconnect) and its [`Purpose`]: what its answer changes, beyond being shown.

use dgram_proto::chat::{ChatId, ClientMsg, Room, Target};
use dgram_proto::session::MessageId;
use dgram_proto::{Name, RequestId};

use super::{Chat, Phase};
use crate::event::SubmitError;
use crate::note::{Note, Outgoing, SendState};

/// Characters of a message quoted in its state lines.
const PREVIEW_CHARS: usize = 24;

/// What a request's answer changes, beyond showing it.
#[derive(Debug, Clone)]
pub(super) enum Purpose {
    /// A message: its state is shown as it changes, and its receipts are matched to it.
    Send(Outgoing),
    /// Joining a room (`auto`: joined again on our own after a reconnect, not asked for).
    Join { room: Room, auto: bool },
    /// Leaving a room.
    Part(Room),
    /// Setting or clearing our away message.
    Away(Option<String>),
    /// After a reconnect, what a rejoined room said since the last message seen there.
    CatchUp(Room),
    /// Anything answered by a message of its own (rooms, who, a topic, history, whois);
    /// `what` names it in a line saying it failed.
    Query { what: String },
}

impl Purpose {
    pub(super) fn is_send(&self) -> bool {
        matches!(self, Purpose::Send(_))
    }

    /// The request in a few words, for a line saying it failed.
    pub(super) fn what(&self) -> String {
        match self {
            Purpose::Send(msg) => format!("message to {}", msg.to),
            Purpose::Join { room, .. } => format!("join #{room}"),
            Purpose::Part(room) => format!("part #{room}"),
            Purpose::Away(_) => "away".to_owned(),
            Purpose::CatchUp(room) => format!("history of #{room} since the last message seen"),
            Purpose::Query { what } => what.clone(),
        }
    }
}

/// One request on its way.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub(super) msg: ClientMsg,
    pub(super) purpose: Purpose,
    /// The session message carrying it, once handed to the session.
    pub(super) msg_id: Option<MessageId>,
    /// How many times it was handed to a session (a message goes again after a failure).
    pub(super) sends: u8,
}

impl Chat {
    /// Sends `text` to a user or a room; its state comes back as [`Note::Sent`], then
    /// [`Note::State`]s (accepted, delivered, …).
    pub fn send(&mut self, to: Target, text: String) -> RequestId {
        let req = self.new_req();
        let msg = outgoing(req, &to, &text);
        let state = match self.phase == Phase::Ready {
            true => SendState::Sending,
            false => SendState::Queued,
        };
        self.show(Note::Sent {
            msg: msg.clone(),
            text: text.clone(),
            state,
        });
        let txn = self.new_txn();
        let send = ClientMsg::Send { req, txn, to, text };
        self.submit(req, send, Purpose::Send(msg))
    }

    /// Joins `room` (and rejoins it after every reconnect): [`Note::Joined`].
    pub fn join(&mut self, room: Room) -> RequestId {
        self.submit_join(room, false)
    }

    pub(super) fn submit_join(&mut self, room: Room, auto: bool) -> RequestId {
        let req = self.new_req();
        let msg = ClientMsg::Join {
            req,
            room: room.clone(),
        };
        self.submit(req, msg, Purpose::Join { room, auto })
    }

    /// Leaves `room`: [`Note::Parted`].
    pub fn part(&mut self, room: Room) -> RequestId {
        let req = self.new_req();
        let msg = ClientMsg::Part {
            req,
            room: room.clone(),
        };
        self.submit(req, msg, Purpose::Part(room))
    }

    /// Asks for the server's rooms: [`Note::Rooms`].
    pub fn list_rooms(&mut self) -> RequestId {
        let req = self.new_req();
        let what = "rooms".to_owned();
        self.submit(req, ClientMsg::Rooms { req }, Purpose::Query { what })
    }

    /// Asks who is online, server-wide or in `room`: [`Note::Who`].
    pub fn who(&mut self, room: Option<Room>) -> RequestId {
        let req = self.new_req();
        let what = match &room {
            None => "who".to_owned(),
            Some(room) => format!("who #{room}"),
        };
        self.submit(req, ClientMsg::Who { req, room }, Purpose::Query { what })
    }

    /// Asks for `room`'s topic, or sets it: [`Note::Topic`] (a topic set comes back to every
    /// member that way).
    pub fn topic(&mut self, room: Room, topic: Option<String>) -> RequestId {
        let req = self.new_req();
        let what = format!("topic of #{room}");
        self.submit(
            req,
            ClientMsg::Topic { req, room, topic },
            Purpose::Query { what },
        )
    }

    /// Sets an away message, or clears it with `None`: [`Note::Away`].
    pub fn away(&mut self, text: Option<String>) -> RequestId {
        let req = self.new_req();
        let purpose = Purpose::Away(text.clone());
        self.submit(req, ClientMsg::Away { req, text }, purpose)
    }

    /// Asks for the last `limit` messages with `with`: [`Note::History`].
    pub fn history(&mut self, with: Target, limit: u32) -> RequestId {
        self.history_before(with, None, limit)
    }

    /// Asks for the last `limit` messages with `with` older than message `before` (all of
    /// them for `None`), to scroll back past what is held: [`Note::History`].
    pub fn history_before(
        &mut self,
        with: Target,
        before: Option<ChatId>,
        limit: u32,
    ) -> RequestId {
        let req = self.new_req();
        let what = format!("history with {with}");
        let msg = ClientMsg::History {
            req,
            with,
            since: None,
            before,
            limit,
        };
        self.submit(req, msg, Purpose::Query { what })
    }

    /// Asks where the server sees `name`'s sessions: [`Note::Whois`].
    pub fn whois(&mut self, name: Name) -> RequestId {
        let req = self.new_req();
        let what = format!("whois {name}");
        self.submit(req, ClientMsg::Whois { req, name }, Purpose::Query { what })
    }

    pub(super) fn new_req(&mut self) -> RequestId {
        let req = self.next_req;
        self.next_req += 1;
        req
    }

    /// Keeps request `req`, carried by `msg`; it goes out now, or once the session is back.
    pub(super) fn submit(&mut self, req: RequestId, msg: ClientMsg, purpose: Purpose) -> RequestId {
        let request = Request {
            msg,
            purpose,
            msg_id: None,
            sends: 0,
        };
        self.requests.insert(req, request);
        if self.phase == Phase::Ready {
            self.transmit(req);
        } else {
            self.outbox.push_back(req);
        }
        req
    }

    pub(super) fn transmit(&mut self, req: RequestId) {
        if let Some(r) = self.requests.get_mut(&req) {
            r.sends = r.sends.saturating_add(1);
            self.actions.push_back(super::Action::Transmit {
                msg: r.msg.clone(),
                req: Some(req),
            });
        }
    }

    /// What the link did with a request's message.
    pub(super) fn submitted(
        &mut self,
        req: Option<RequestId>,
        outcome: Result<MessageId, SubmitError>,
    ) {
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
            Err(SubmitError::NotConnected) => self.requeue(req),
            Err(why @ (SubmitError::Refused(_) | SubmitError::NoId)) => {
                self.fail(req, why.to_string());
            }
        }
    }

    /// The request's message was not delivered to the server: say so, and forget it.
    pub(super) fn fail(&mut self, req: RequestId, reason: String) {
        let Some(r) = self.take(req) else { return };
        match r.purpose {
            Purpose::Send(msg) => self.show(Note::State {
                msg,
                id: None,
                state: SendState::NotDelivered(reason),
            }),
            // A room we tried to join again stays on the list: the next reconnect tries again.
            Purpose::Join { auto: true, .. } => {}
            // What was held back is shown after all; the next reconnect asks again.
            Purpose::CatchUp(room) => self.caught_up(&room, Vec::new()),
            purpose @ (Purpose::Join { auto: false, .. }
            | Purpose::Part(_)
            | Purpose::Away(_)
            | Purpose::Query { .. }) => self.show(Note::Failed {
                what: purpose.what(),
                reason,
            }),
        }
    }

    /// Removes a request that has its answer.
    pub(super) fn take(&mut self, req: RequestId) -> Option<Request> {
        let r = self.requests.remove(&req)?;
        if let Some(id) = r.msg_id {
            self.by_msg.remove(&id);
        }
        Some(r)
    }
}

/// What a state line says about one of our messages: its request, where it went, and its
/// first characters.
fn outgoing(req: RequestId, to: &Target, text: &str) -> Outgoing {
    Outgoing {
        req,
        to: to.clone(),
        preview: preview(text),
    }
}

/// A message's first characters, with `…` if there is more.
pub(super) fn preview(text: &str) -> String {
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if preview.len() < text.len() {
        preview.push('…');
    }
    preview
}
