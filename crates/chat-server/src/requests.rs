//! The chat request path between the session layer and the core: client events pass the limit
//! pipeline ([`Gate`]) and then reach the core; the server's own events reach the core
//! directly. Whatever a limit or a full queue turns away is answered, counted and logged,
//! never dropped without a word.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg};
use dgram_proto::session::SessionId;
use dgram_proto::RequestId;
use foldhash::{HashMap, HashMapExt};
use tower::{BoxError, Service};

use crate::admit::{ClientRequest, Gate, Knock, Passed, Turned};
use crate::core::{ChangeStore, Chat, Output};
use crate::send_limits::SendLimited;
use crate::shed::Shedder;
use crate::Error;

/// What a client is told when the server is too far behind to take its request: the limits'
/// queue is full, or the socket's receive queue is filling.
const OVERLOADED: &str = "the server is overloaded; try again in a moment";

/// The chat core over whichever store the server was started with.
pub(crate) type AnyChat = Chat<Box<dyn ChangeStore + Send>>;

/// Changes waiting for the disk beyond which new messages are refused (with an error).
const MAX_BACKLOG: usize = 50_000;

/// Wall-clock time in UTC milliseconds; a clock before 1970 counts as 1970.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;

/// Counters for the periodic summary: everything turned away or lost on the way out.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) malformed: u64,
    pub(crate) rate_limited: u64,
    /// Messages over their name's sending limit.
    pub(crate) name_limited: u64,
    /// Messages over their network's sending limit.
    pub(crate) network_limited: u64,
    pub(crate) refused_sessions: u64,
    pub(crate) refused_requests: u64,
    pub(crate) overloaded: u64,
    pub(crate) send_failed: u64,
    pub(crate) unencodable: u64,
    pub(crate) busy: u64,
}

/// The limits, the core, and what was refused.
pub(crate) struct Requests<L: Service<ClientRequest>> {
    gate: Gate<L>,
    pub(crate) chat: AnyChat,
    /// Sessions refused at opening (over the per-address cap), with why: rare, so kept apart.
    refused: HashMap<SessionId, String>,
    pub(crate) counters: Counters,
    pub(crate) shedder: Shedder,
}

impl<L> Requests<L>
where
    L: Service<ClientRequest, Response = ClientRequest>,
    L::Error: Into<BoxError>,
    L::Future: Unpin,
{
    pub(crate) fn new(limits: L, chat: AnyChat) -> Self {
        Self {
            gate: Gate::new(limits),
            chat,
            refused: HashMap::new(),
            counters: Counters::default(),
            shedder: Shedder::default(),
        }
    }

    /// Whether the session was refused at opening.
    pub(crate) fn is_refused(&self, session: SessionId) -> bool {
        self.refused.contains_key(&session)
    }

    /// How many client events are still on their way through the limits.
    pub(crate) fn waiting(&self) -> usize {
        self.gate.waiting()
    }

    /// A client event: it joins those on their way through the limits, and whatever is
    /// through is handled.
    pub(crate) fn client(&mut self, req: ClientRequest, out: &mut Vec<Output>) {
        if let Err(who) = self.gate.push(req) {
            self.counters.overloaded += 1;
            tracing::debug!(
                session = who.session,
                "too many client events waiting; turned away"
            );
            let why = OVERLOADED;
            if who.opens {
                let error = BoxError::from(why);
                self.turned(Turned { who, error }, out);
            } else {
                out.push(error(
                    who.session,
                    who.req,
                    ErrorKind::Unavailable,
                    why.into(),
                ));
            }
        }
        self.drive(out);
    }

    /// A decoded request, unless the store lags too far behind.
    pub(crate) fn request(
        &mut self,
        session: SessionId,
        peer: SocketAddr,
        now: Instant,
        msg: ClientMsg,
        out: &mut Vec<Output>,
    ) {
        if matches!(msg, ClientMsg::Send { .. }) {
            if let Some(why) = self.send_refused(session) {
                let req = msg.request_id();
                return out.push(error(session, req, ErrorKind::Unavailable, why.into()));
            }
        }
        let knock = Knock::Request(msg);
        let name = self.chat.speaks_as(session);
        self.client(
            ClientRequest {
                session,
                peer,
                now,
                name,
                key: None,
                knock,
            },
            out,
        );
    }

    /// Why a new message is to be refused now, if it is: the socket's receive queue is filling
    /// ([`Shedder`]), or the store lags too far behind. Counts the refusal.
    fn send_refused(&mut self, session: SessionId) -> Option<&'static str> {
        if self.shedder.sheds() {
            tracing::debug!(session, "receive queue filling; message refused");
            return Some(OVERLOADED);
        }
        if self.chat.store().backlog() > MAX_BACKLOG {
            self.counters.busy += 1;
            tracing::debug!(session, "store backlog over its cap; message refused");
            return Some("the server is busy storing messages; try again in a moment");
        }
        None
    }

    /// Handles whatever is through the limits, in order.
    pub(crate) fn drive(&mut self, out: &mut Vec<Output>) {
        while let Some(passed) = self.gate.next() {
            match passed {
                Passed::Admitted(req) => self.admitted(req, out),
                Passed::Refused(turned) => self.turned(turned, out),
            }
        }
    }

    fn admitted(&mut self, req: ClientRequest, out: &mut Vec<Output>) {
        let session = req.session;
        match req.knock {
            Knock::Open => self.chat.open(session, req.peer, req.key),
            Knock::Request(msg) => match self.refused.get(&session) {
                // A refused session is told why, whatever it asks.
                Some(why) => {
                    let why = why.clone();
                    out.push(error(session, msg.request_id(), ErrorKind::Limit, why));
                }
                None => extend(out, self.chat.handle(session, now_ms(), msg)),
            },
            Knock::Close => self.closed(session, out),
        }
    }

    fn closed(&mut self, session: SessionId, out: &mut Vec<Output>) {
        self.refused.remove(&session);
        extend(out, self.chat.close(session, now_ms()));
    }

    /// Answers what a limit turned away; a close still closes.
    fn turned(&mut self, Turned { who, error: e }: Turned, out: &mut Vec<Output>) {
        let session = who.session;
        if who.closes {
            tracing::warn!(session, error = %e, "the limits refused a close; closed anyway");
            self.counters.refused_requests += 1;
            return self.closed(session, out);
        }
        if who.opens {
            self.counters.refused_sessions += 1;
            tracing::warn!(session, peer = %who.peer, error = %e, "session refused");
            self.refused
                .insert(session, format!("{e}; close one and try again"));
            return;
        }
        if matches!(e.downcast_ref::<Error>(), Some(Error::RateLimited)) {
            self.counters.rate_limited += 1;
            tracing::debug!(session, "request over the rate limit");
            let why = "rate limit: you are sending too fast; slow down and try again";
            return out.push(error(session, who.req, ErrorKind::RateLimited, why.into()));
        }
        if let Some(Error::SendLimited(by)) = e.downcast_ref::<Error>() {
            match by {
                SendLimited::Name(_) => self.counters.name_limited += 1,
                SendLimited::Network(_) => self.counters.network_limited += 1,
            }
            tracing::debug!(session, %by, "message over a sending limit");
            let why = format!("rate limit: {by}; slow down and try again");
            return out.push(error(session, who.req, ErrorKind::RateLimited, why));
        }
        self.counters.refused_requests += 1;
        tracing::debug!(session, error = %e, "request refused by a limit");
        out.push(error(session, who.req, ErrorKind::Limit, e.to_string()));
    }
}

/// Appends `more` to `out`, reusing its allocation when `out` is empty.
pub(crate) fn extend(out: &mut Vec<Output>, more: Vec<Output>) {
    if out.is_empty() {
        *out = more;
    } else {
        out.extend(more);
    }
}

/// An error answer.
pub(crate) fn error(
    session: SessionId,
    req: Option<RequestId>,
    kind: ErrorKind,
    message: String,
) -> Output {
    Output {
        session,
        channel: 0,
        msg: Arc::new(ServerMsg::Error { req, kind, message }),
        receipt: None,
    }
}
