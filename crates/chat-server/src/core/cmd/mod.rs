//! One file per request, as mini-redis's `cmd/`: each handler checks the request, changes the
//! state, and returns its [`Effects`]; a request it refuses returns a [`Refused`], which
//! becomes the error answer here. Handlers never see the store: what they record goes with
//! their effects, and the [`Chat`](super::Chat) wrapper decides when their answers may go.

mod away;
mod hello;
mod history;
mod join;
mod part;
mod post;
mod rooms;
mod topic;
mod who;
mod whois;

use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg, UserInfo};
use dgram_proto::session::SessionId;

use super::effects::Effects;
use super::pending::Pending;
use super::state::User;
use super::ChatCore;

/// A request turned down, and why.
#[derive(Debug)]
pub(super) struct Refused {
    kind: ErrorKind,
    message: String,
}

impl Refused {
    pub(super) fn new(kind: ErrorKind, message: String) -> Self {
        Self { kind, message }
    }
}

/// What a handler returns.
type Handled = Result<Effects, Refused>;

/// Who asks, and when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asker<'a> {
    /// The session asking.
    pub(super) session: SessionId,
    /// The key of the name it speaks as.
    pub(super) me: &'a str,
    /// Wall-clock time in UTC milliseconds.
    pub(super) now_ms: u64,
    /// In a cluster: whether this replica has caught up with the log since the request came
    /// (a [`Fence`](super::Fence) passed), so that what it does not know does not exist.
    pub(super) fenced: bool,
}

impl ChatCore {
    /// Handles one request from a session; `fenced`: see [`Asker::fenced`].
    pub(super) fn handle(
        &mut self,
        session: SessionId,
        (now_ms, fenced): (u64, bool),
        msg: ClientMsg,
        pending: &Pending,
    ) -> Effects {
        if !self.state.sessions.contains_key(&session) {
            return self.effects();
        }
        let req = msg.request_id();
        match self.route(session, (now_ms, fenced), msg, pending) {
            Ok(fx) => fx,
            Err(refused) => self.refuse(session, req, refused),
        }
    }

    fn route(
        &mut self,
        session: SessionId,
        (now_ms, fenced): (u64, bool),
        msg: ClientMsg,
        pending: &Pending,
    ) -> Handled {
        if let ClientMsg::Hello {
            name,
            key,
            send_only,
        } = msg
        {
            return hello::run(self, session, now_ms, name, key, send_only);
        }
        // A reference count, not a copy of the key per request.
        let Some(me) = self.state.user_of(session).map(|u| u.name.clone()) else {
            let text = "say who you are first (Hello with a name)".to_owned();
            return Err(Refused::new(ErrorKind::NotJoined, text));
        };
        let at = Asker {
            session,
            me: me.key(),
            now_ms,
            fenced,
        };
        match msg {
            ClientMsg::Send { req, txn, to, text } => {
                post::run(self, at, (req, txn), to, text, pending)
            }
            ClientMsg::Join { req, room } => join::run(self, at, req, room, pending),
            ClientMsg::Part { req, room } => part::run(self, at, req, room),
            ClientMsg::Rooms { req } => rooms::run(self, at, req),
            ClientMsg::Who { req, room } => who::run(self, at, req, room),
            ClientMsg::Topic { req, room, topic } => topic::run(self, at, req, room, topic),
            ClientMsg::Away { req, text } => away::run(self, at, req, text),
            ClientMsg::History {
                req,
                with,
                since,
                before,
                limit,
            } => history::run(self, at, req, with, (since, before), limit, pending),
            ClientMsg::Whois { req, name } => whois::run(self, at, req, name),
            // Answered above; a second hello arm here keeps the match exhaustive.
            ClientMsg::Hello { .. } => Ok(self.effects()),
        }
    }

    /// In a cluster: a request this replica could not catch up with the log for in time is
    /// refused as not sent, rather than answered from a state that may lack what it names.
    pub(super) fn fence_failed(&mut self, fence: super::Fence, why: &str) -> Effects {
        let message =
            format!("the server could not check the cluster ({why}); not sent, try again");
        let refused = Refused::new(ErrorKind::Unavailable, message);
        self.refuse(fence.session, fence.msg.request_id(), refused)
    }

    /// Tells a session it sent something undecodable.
    pub(super) fn malformed(&mut self, session: SessionId, why: &str) -> Effects {
        let message = format!("could not read your request: {why}");
        self.refuse(session, None, Refused::new(ErrorKind::Malformed, message))
    }

    /// The error answer to a refused request, counted.
    fn refuse(
        &mut self,
        session: SessionId,
        req: Option<dgram_proto::RequestId>,
        refused: Refused,
    ) -> Effects {
        self.stats.errors += 1;
        let mut fx = self.effects();
        let Refused { kind, message } = refused;
        fx.send(session, ServerMsg::Error { req, kind, message });
        fx
    }
}

/// A user as `Who` and a welcome list them.
fn info(u: &User) -> UserInfo {
    UserInfo {
        name: u.name.clone(),
        away: u.activity().away.clone(),
    }
}
