//! The tower pipeline that client events pass before the chat core sees them: the per-IP
//! session cap, the per-session rate limit and the sending limits per name and per network,
//! each a layer over [`Admit`], which answers with the event itself once every limit let it
//! through. Only what a client does passes here (a session opening, a request, the session
//! closing, which the cap counts); the server's own events (receipts, commits, expiry) go to the
//! core directly and never meet a client limit. A request carries the name its session speaks
//! as when it enters; every layer is synchronous, so nothing waits ahead of it that could change
//! that name.
//!
//! The gate (`Gate`) drives the pipeline as tower means it: an event is called only once
//! `poll_ready` says the stack is ready, and a call that does not finish at once is kept and
//! finished later. Events wait in arrival order, so a session's requests are never reordered;
//! when too many wait, new ones are turned away (the caller counts, logs and answers them).

use std::collections::VecDeque;
use std::future::{ready, Future, Ready};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use dgram_net::rate_limit_layer::Keyed;
use dgram_proto::chat::ClientMsg;
use dgram_proto::session::SessionId;
use dgram_proto::{Name, RequestId};
use tower::{BoxError, Service};

use crate::core::PeerKey;
use crate::send_limits::Spends;
use crate::session_cap::SessionKeyed;
use crate::Error;

/// What a client did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Knock {
    /// Opened a session.
    Open,
    /// Sent a request.
    Request(ClientMsg),
    /// Ended its session.
    Close,
}

/// One client event on its way to the chat core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// The session.
    pub session: SessionId,
    /// Where its client is.
    pub peer: SocketAddr,
    /// Monotonic time, for the rate limits.
    pub now: Instant,
    /// The name the session speaks as, once it has said (the per-name sending limit's key).
    pub name: Option<Name>,
    /// On opening, the client's long-term public key as the session's handshake proved it.
    pub key: Option<PeerKey>,
    /// What it did.
    pub knock: Knock,
}

impl Keyed for ClientRequest {
    type Key = SessionId;

    /// Only requests spend rate: opening and closing a session are free.
    fn key(&self) -> Option<SessionId> {
        matches!(self.knock, Knock::Request(_)).then_some(self.session)
    }

    fn now(&self) -> Instant {
        self.now
    }
}

impl Spends for ClientRequest {
    fn sends(&self) -> bool {
        matches!(self.knock, Knock::Request(ClientMsg::Send { .. }))
    }

    fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }

    fn ip(&self) -> IpAddr {
        self.peer.ip()
    }

    fn now(&self) -> Instant {
        self.now
    }
}

impl SessionKeyed for ClientRequest {
    fn session(&self) -> SessionId {
        self.session
    }

    fn ip(&self) -> IpAddr {
        self.peer.ip()
    }

    fn opens(&self) -> bool {
        matches!(self.knock, Knock::Open)
    }

    fn closes(&self) -> bool {
        matches!(self.knock, Knock::Close)
    }
}

/// The end of the pipeline: whatever reaches it is admitted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Admit;

impl Service<ClientRequest> for Admit {
    type Response = ClientRequest;
    type Error = Error;
    type Future = Ready<Result<ClientRequest, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ClientRequest) -> Self::Future {
        ready(Ok(req))
    }
}

/// Client events waiting at most; past it new ones are turned away (closes always wait: the
/// session cap must hear of every one).
pub(crate) const MAX_WAITING: usize = 1024;

/// What came out of the pipeline.
#[derive(Debug)]
pub(crate) enum Passed {
    /// Every limit let it through.
    Admitted(ClientRequest),
    /// A limit (or the pipeline itself) turned it away.
    Refused(Turned),
}

/// What an answer to a turned-away event needs to know of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Particulars {
    pub(crate) session: SessionId,
    pub(crate) peer: SocketAddr,
    pub(crate) req: Option<RequestId>,
    pub(crate) opens: bool,
    pub(crate) closes: bool,
}

impl Particulars {
    pub(crate) fn of(req: &ClientRequest) -> Self {
        Self {
            session: req.session,
            peer: req.peer,
            req: match &req.knock {
                Knock::Request(msg) => msg.request_id(),
                Knock::Open | Knock::Close => None,
            },
            opens: req.opens(),
            closes: req.closes(),
        }
    }
}

/// An event a limit turned away, and why.
#[derive(Debug)]
pub(crate) struct Turned {
    pub(crate) who: Particulars,
    pub(crate) error: BoxError,
}

/// Where an event is in the pipeline.
#[derive(Debug)]
enum Stage<F> {
    /// Not called yet: waits for the pipeline to be ready.
    Waiting(ClientRequest),
    /// Called; its answer is not in yet.
    Called(F, Particulars),
}

/// Drives client events through the limit pipeline `L`, in order.
pub(crate) struct Gate<L: Service<ClientRequest>> {
    limits: L,
    queue: VecDeque<Stage<L::Future>>,
}

impl<L> Gate<L>
where
    L: Service<ClientRequest, Response = ClientRequest>,
    L::Error: Into<BoxError>,
    L::Future: Unpin,
{
    pub(crate) fn new(limits: L) -> Self {
        Self {
            limits,
            queue: VecDeque::new(),
        }
    }

    /// Queues an event behind those still on their way; when too many wait, turns it away
    /// and says what its answer needs.
    pub(crate) fn push(&mut self, req: ClientRequest) -> Result<(), Particulars> {
        if self.queue.len() >= MAX_WAITING && !req.closes() {
            return Err(Particulars::of(&req));
        }
        self.queue.push_back(Stage::Waiting(req));
        Ok(())
    }

    /// How many events are on their way.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// The oldest event, once the pipeline is done with it. The pipeline's layers are all
    /// synchronous, so nothing here waits on a waker: the endpoint asks again on every event
    /// and every turn of the driver.
    pub(crate) fn next(&mut self) -> Option<Passed> {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match self.queue.pop_front()? {
                Stage::Waiting(req) => match self.limits.poll_ready(&mut cx) {
                    Poll::Pending => {
                        self.queue.push_front(Stage::Waiting(req));
                        return None;
                    }
                    Poll::Ready(Err(e)) => {
                        let who = Particulars::of(&req);
                        let error = e.into();
                        return Some(Passed::Refused(Turned { who, error }));
                    }
                    Poll::Ready(Ok(())) => {
                        let who = Particulars::of(&req);
                        let future = self.limits.call(req);
                        self.queue.push_front(Stage::Called(future, who));
                    }
                },
                Stage::Called(mut future, who) => match Pin::new(&mut future).poll(&mut cx) {
                    Poll::Pending => {
                        self.queue.push_front(Stage::Called(future, who));
                        return None;
                    }
                    Poll::Ready(Ok(req)) => return Some(Passed::Admitted(req)),
                    Poll::Ready(Err(e)) => {
                        let error = e.into();
                        return Some(Passed::Refused(Turned { who, error }));
                    }
                },
            }
        }
    }
}
