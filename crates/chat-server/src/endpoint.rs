//! The chat endpoint the session driver runs: proto's session `Server` plus the chat service
//! stack. Session events become [`ChatRequest`]s; the service's outputs become session messages;
//! limit errors become error messages to the client (never a silent drop, never a kick).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dgram_net::session::Endpoint;
use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg};
use dgram_proto::session::{Delivery, Event, MessageId, Server, SessionId, Transmit};
use dgram_proto::RequestId;
use tower::Service;

use crate::core::Output;
use crate::service::{Action, ChatRequest};
use crate::store::writer::{Report, Writer};
use crate::Error;

/// Wall-clock time in UTC milliseconds; a clock before 1970 counts as 1970.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs a future that is ready at once (every service in the chat stack answers synchronously)
/// without an executor; a pending one counts as an internal error, never a hang.
fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Counters for the periodic summary.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) malformed: u64,
    pub(crate) rate_limited: u64,
    pub(crate) refused_sessions: u64,
    pub(crate) send_failed: u64,
    pub(crate) busy: u64,
}

pub(crate) struct ChatEndpoint<S> {
    pub(crate) sessions: Server,
    service: S,
    /// Each session's span, kept only while spans are recorded (`RUST_LOG` at info or finer):
    /// with logging at warn, an idle session costs nothing here.
    spans: HashMap<SessionId, tracing::Span>,
    /// Acknowledgements not yet handed to the chat service: they go as one batch once the
    /// session layer's events run dry, or before any other event (which keeps their order).
    acked: Vec<(SessionId, MessageId)>,
    /// Sessions refused at opening (over the per-address cap), with why: rare, so kept apart.
    refused: HashMap<SessionId, String>,
    pub(crate) counters: Counters,
    /// The store's queue, to refuse new messages while the disk lags too far behind.
    writer: Option<Writer>,
}

/// Changes waiting for the disk beyond which new messages are refused (with an error).
const MAX_BACKLOG: usize = 50_000;

impl<S> ChatEndpoint<S>
where
    S: Service<ChatRequest, Response = Vec<Output>, Error = Error>,
{
    pub(crate) fn new(sessions: Server, service: S, writer: Option<Writer>) -> Self {
        Self {
            sessions,
            service,
            spans: HashMap::new(),
            acked: Vec::new(),
            refused: HashMap::new(),
            counters: Counters::default(),
            writer,
        }
    }

    /// The store reported on a group of changes.
    pub(crate) fn report(&mut self, now: Instant, report: Report) {
        let action = match report {
            Report::Committed(t) => Action::Committed(t),
            Report::Failed(t, why) => Action::CommitFailed(t, why),
        };
        self.dispatch(now, 0, action);
    }

    fn call(
        &mut self,
        now: Instant,
        session: SessionId,
        action: Action,
    ) -> Result<Vec<Output>, Error> {
        // The session layer knows where each session is; a closed one is nowhere.
        let peer = self
            .sessions
            .peer(session)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let req = ChatRequest {
            session,
            peer,
            now,
            now_ms: now_ms(),
            action,
        };
        let service = &mut self.service;
        let ready = now_or_never(std::future::poll_fn(|cx| service.poll_ready(cx)));
        match ready {
            Some(Ok(())) => now_or_never(service.call(req)).unwrap_or(Ok(Vec::new())),
            Some(Err(e)) => Err(e),
            None => Ok(Vec::new()),
        }
    }

    /// Handles one session event.
    pub(crate) fn on_event(&mut self, now: Instant, (session, event): (SessionId, Event)) {
        if !matches!(event, Event::Delivered { .. }) {
            self.flush_acked(now);
        }
        match event {
            Event::Accepted { peer } => {
                let span = tracing::info_span!("session", id = session, %peer);
                span.in_scope(|| tracing::info!("session opened"));
                if !span.is_disabled() {
                    self.spans.insert(session, span);
                }
                match self.call(now, session, Action::Open) {
                    Ok(out) => self.apply(now, out),
                    Err(e) => {
                        self.counters.refused_sessions += 1;
                        tracing::warn!(session, %peer, %e, "session refused");
                        let why = format!("{e}; close one and try again");
                        self.refused.insert(session, why);
                    }
                }
            }
            Event::Migrated { to, .. } => {
                if let Some(span) = self.spans.get(&session) {
                    span.in_scope(|| tracing::info!(%to, "session moved"));
                }
                self.dispatch(now, session, Action::Migrated);
            }
            Event::Message { data, .. } => self.request(now, session, &data),
            Event::Delivered { id } => {
                if self.refused.contains_key(&session) {
                    // The refusal arrived: a refused session holds nothing further open.
                    self.sessions.close(session);
                    return;
                }
                self.acked.push((session, id));
            }
            Event::Failed { id, reason } => {
                self.dispatch(now, session, Action::Failed(id, reason.to_string()));
            }
            Event::Closed { reason } => {
                if let Some(span) = self.spans.remove(&session) {
                    span.in_scope(|| tracing::info!(%reason, "session closed"));
                }
                self.dispatch(now, session, Action::Close);
                self.refused.remove(&session);
            }
            Event::Connected { .. } => {}
        }
    }

    /// Hands the batched acknowledgements to the chat service.
    fn flush_acked(&mut self, now: Instant) {
        if !self.acked.is_empty() {
            let acked = std::mem::take(&mut self.acked);
            self.dispatch(now, 0, Action::Delivered(acked));
        }
    }

    fn request(&mut self, now: Instant, session: SessionId, data: &[u8]) {
        let msg = match ClientMsg::decode(data) {
            Ok(msg) => msg,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!(session, %e, "undecodable request");
                return self.dispatch(now, session, Action::Malformed(e.to_string()));
            }
        };
        let req = msg.request_id();
        if let Some(why) = self.refused.get(&session).cloned() {
            return self.send_error(now, session, req, ErrorKind::Limit, why);
        }
        let lagging = self
            .writer
            .as_ref()
            .is_some_and(|w| w.backlog() > MAX_BACKLOG);
        if lagging && matches!(msg, ClientMsg::Send { .. }) {
            self.counters.busy += 1;
            let why = "the server is busy storing messages; try again in a moment";
            return self.send_error(now, session, req, ErrorKind::Unavailable, why.into());
        }
        match self.call(now, session, Action::Request(msg)) {
            Ok(out) => self.apply(now, out),
            Err(Error::RateLimited) => {
                self.counters.rate_limited += 1;
                let why = "rate limit: you are sending too fast; slow down and try again";
                self.send_error(now, session, req, ErrorKind::RateLimited, why.into());
            }
            Err(e) => self.send_error(now, session, req, ErrorKind::Limit, e.to_string()),
        }
    }

    fn dispatch(&mut self, now: Instant, session: SessionId, action: Action) {
        match self.call(now, session, action) {
            Ok(out) => self.apply(now, out),
            Err(e) => tracing::debug!(session, %e, "chat service refused an internal event"),
        }
    }

    fn send_error(
        &mut self,
        now: Instant,
        session: SessionId,
        req: Option<RequestId>,
        kind: ErrorKind,
        message: String,
    ) {
        let out = Output {
            session,
            channel: 0,
            msg: Arc::new(ServerMsg::Error { req, kind, message }),
            receipt: None,
        };
        self.apply(now, vec![out]);
    }

    /// Sends outputs on their sessions, registering the ones that wait for a receipt.
    fn apply(&mut self, now: Instant, outputs: Vec<Output>) {
        // A room post reaches every member as one shared message: encoded once, copied after.
        let mut shared: Option<(Arc<ServerMsg>, Vec<u8>)> = None;
        let mut tracked = Vec::new();
        for out in outputs {
            let bytes = match &shared {
                Some((msg, bytes)) if Arc::ptr_eq(msg, &out.msg) => bytes.clone(),
                _ => match out.msg.encode() {
                    Ok(b) => {
                        if Arc::strong_count(&out.msg) > 1 {
                            shared = Some((Arc::clone(&out.msg), b.clone()));
                        }
                        b
                    }
                    Err(e) => {
                        tracing::warn!(session = out.session, %e, "cannot encode an answer");
                        continue;
                    }
                },
            };
            match self
                .sessions
                .send(now, out.session, out.channel, bytes, Delivery::Reliable)
            {
                Ok(Some(id)) => tracked.extend(out.receipt.map(|chat| (out.session, id, chat))),
                Ok(None) => {}
                Err(e) => {
                    self.counters.send_failed += 1;
                    tracing::debug!(session = out.session, %e, "cannot queue an answer");
                    if let Some(chat) = out.receipt {
                        self.dispatch(now, out.session, Action::Unsendable(chat, e.to_string()));
                    }
                }
            }
        }
        if !tracked.is_empty() {
            self.dispatch(now, 0, Action::Track(tracked));
        }
    }

    /// Drops what expired, and logs a summary.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.dispatch(now, 0, Action::Expire);
        let s = self.sessions.stats();
        tracing::info!(
            sessions = self.sessions.sessions(),
            malformed = self.counters.malformed + s.malformed,
            unmatched = s.unmatched,
            bad_cookies = s.bad_cookie,
            rate_limited = self.counters.rate_limited,
            refused_sessions = self.counters.refused_sessions,
            send_failed = self.counters.send_failed,
            busy = self.counters.busy,
            store_backlog = self.writer.as_ref().map_or(0, Writer::backlog),
            "chat server summary"
        );
    }
}

impl<S> Endpoint for ChatEndpoint<S>
where
    S: Service<ChatRequest, Response = Vec<Output>, Error = Error>,
{
    type Event = (SessionId, Event);

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.sessions.handle_datagram(now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.sessions.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.sessions.poll_transmit(now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.sessions.poll_timeout()
    }
    fn poll_event(&mut self) -> Option<(SessionId, Event)> {
        let event = self.sessions.poll_event();
        if event.is_none() && !self.acked.is_empty() {
            // The batch is complete: its receipts are queued before the driver sends.
            self.flush_acked(dgram_net::session::now());
        }
        event
    }
    fn close_all(&mut self) {
        self.sessions.close_all();
    }
}
