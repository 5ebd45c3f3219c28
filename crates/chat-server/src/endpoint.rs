//! The chat endpoint the session driver runs: proto's session `Server` and the chat request
//! path. Session events become client events for the limits ([`Requests`]) or the server's own
//! events for the core; the core's outputs become session messages. Nothing is dropped without
//! a counter and a log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use dgram_net::session::{Endpoint, PathReport};
use dgram_net::sys::Backlog;
use dgram_proto::chat::{ClientMsg, ServerMsg};
use dgram_proto::session::{Delivery, Event, MessageId, Server, SessionId, Transmit};
use tower::{BoxError, Service};

use crate::admit::{ClientRequest, Knock};
use crate::core::{Output, PeerKey};
use crate::requests::{now_ms, AnyChat, Requests};
use crate::shed::Change;
use crate::store::writer::Report;

pub(crate) struct ChatEndpoint<L: Service<ClientRequest>> {
    pub(crate) sessions: Server,
    pub(crate) requests: Requests<L>,
    /// Acknowledgements not yet handed to the chat core: they go as one batch once the
    /// session layer's events run dry, or before any other event (which keeps their order).
    acked: Vec<(SessionId, MessageId)>,
}

impl<L> ChatEndpoint<L>
where
    L: Service<ClientRequest, Response = ClientRequest>,
    L::Error: Into<BoxError>,
    L::Future: Unpin,
{
    pub(crate) fn new(sessions: Server, limits: L, chat: AnyChat) -> Self {
        Self {
            sessions,
            requests: Requests::new(limits, chat),
            acked: Vec::new(),
        }
    }

    /// The store reported on a group of changes: straight to the core, never past a limit.
    pub(crate) fn report(&mut self, now: Instant, report: Report) {
        let out = match report {
            Report::Committed(t) => self.requests.chat.committed(t),
            Report::Failed(t, why) => self.requests.chat.commit_failed(t, &why),
        };
        self.apply(now, out);
    }

    /// In a cluster: another instance's changes, applied here; their news goes to the sessions
    /// here (never past a limit: they were admitted where they were made).
    pub(crate) fn replicated(&mut self, now: Instant, origin: &str, ops: Vec<crate::core::Op>) {
        let out = self.requests.chat.replicate(origin, ops, true);
        self.apply(now, out);
    }

    /// In a cluster: a request held until this replica caught up with the log (or could not
    /// in time), answered now.
    pub(crate) fn fenced(
        &mut self,
        now: Instant,
        fence: crate::core::Fence,
        caught_up: Result<(), String>,
    ) {
        let caught_up = caught_up.as_ref().map(|_| ()).map_err(String::as_str);
        let out = self.requests.chat.fenced(fence, now_ms(), caught_up);
        self.apply(now, out);
    }

    /// In a cluster: the other instances declared this one gone; who is online here is said
    /// again.
    pub(crate) fn reannounce(&mut self, now: Instant) {
        let out = self.requests.chat.reannounce();
        self.apply(now, out);
    }

    /// Handles one session event.
    pub(crate) fn on_event(&mut self, now: Instant, (session, event): (SessionId, Event)) {
        if !matches!(event, Event::Delivered { .. }) {
            self.flush_acked(now);
        }
        let mut out = Vec::new();
        match event {
            Event::Accepted { peer } => {
                session_span(session, peer).in_scope(|| tracing::info!("session opened"));
                // The key the client proved in the handshake: the one its names bind to.
                let key = self.sessions.peer_key(session);
                self.client(now, session, peer, key, Knock::Open, &mut out);
            }
            Event::Migrated { from, to } => {
                session_span(session, from).in_scope(|| tracing::info!(%to, "session moved"));
                self.requests.chat.migrated(session, to);
            }
            Event::Message { data, .. } => self.request(now, session, &data, &mut out),
            Event::Delivered { id } => {
                if self.requests.is_refused(session) {
                    // The refusal arrived: a refused session holds nothing further open.
                    self.sessions.close(session);
                    return;
                }
                self.acked.push((session, id));
            }
            Event::Failed { id, reason } => {
                out = self.requests.chat.failed(session, id, &reason.to_string());
            }
            Event::Closed { reason } => {
                // Where it ran from, for the log (the cap counts sessions by id: it needs no
                // address to let one go), and how its path stood at the end.
                let peer = self.sessions.peer(session).unwrap_or_else(unknown_peer);
                let p = self.sessions.path_stats(session).unwrap_or_default();
                session_span(session, peer).in_scope(|| {
                    tracing::info!(
                        %reason,
                        cwnd = p.window,
                        srtt = ?p.smoothed_rtt,
                        sent = p.sent_packets,
                        lost = p.lost_packets,
                        retransmitted = p.retransmitted,
                        congestion_events = p.congestion_events,
                        max_datagram = p.max_datagram,
                        "session closed"
                    );
                });
                self.client(now, session, peer, None, Knock::Close, &mut out);
            }
            Event::Connected { .. } | Event::HandshakeFailed { .. } => {}
        }
        self.apply(now, out);
    }

    fn client(
        &mut self,
        now: Instant,
        session: SessionId,
        peer: SocketAddr,
        key: Option<PeerKey>,
        knock: Knock,
        out: &mut Vec<Output>,
    ) {
        let req = ClientRequest {
            session,
            peer,
            now,
            name: None,
            key,
            knock,
        };
        self.requests.client(req, out);
    }

    /// Hands the batched acknowledgements to the chat core.
    fn flush_acked(&mut self, now: Instant) {
        if !self.acked.is_empty() {
            let mut acked = std::mem::take(&mut self.acked);
            let out = self.requests.chat.delivered(&acked);
            // The buffer goes back for the next turn's: one allocation for the server's life,
            // not one per turn.
            acked.clear();
            self.acked = acked;
            self.apply(now, out);
        }
    }

    fn request(&mut self, now: Instant, session: SessionId, data: &[u8], out: &mut Vec<Output>) {
        match ClientMsg::decode(data) {
            Ok(msg) => {
                let peer = self.sessions.peer(session).unwrap_or_else(unknown_peer);
                self.requests.request(session, peer, now, msg, out);
            }
            Err(dgram_proto::Error::UnsupportedVersion { got, .. }) => {
                self.requests.counters.malformed += 1;
                self.upgrade_notice(now, session, got, out);
            }
            Err(e) => {
                self.requests.counters.malformed += 1;
                tracing::debug!(session, %e, "undecodable request");
                *out = self.requests.chat.malformed(session, &e.to_string());
            }
        }
    }

    /// A client of an older chat protocol: told to upgrade in words it can read (its own
    /// version's error), when this build can write them; otherwise the usual error.
    fn upgrade_notice(&mut self, now: Instant, session: SessionId, got: u8, out: &mut Vec<Output>) {
        tracing::info!(
            session,
            version = got,
            "a client of another chat protocol version"
        );
        let Some(notice) = ServerMsg::upgrade_notice(got) else {
            let why = format!("chat protocol {got} is not this server's; upgrade the client");
            *out = self.requests.chat.malformed(session, &why);
            return;
        };
        if let Err(e) = self
            .sessions
            .send(now, session, 0, notice, Delivery::Reliable)
        {
            self.requests.counters.send_failed += 1;
            tracing::debug!(session, %e, "cannot queue an upgrade notice");
        }
    }

    /// Sends outputs on their sessions, registering the ones that wait for a receipt.
    fn apply(&mut self, now: Instant, outputs: Vec<Output>) {
        // A room post reaches every member as one shared message: encoded once, copied after.
        let mut shared: Option<(Arc<ServerMsg>, Vec<u8>)> = None;
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
                        self.requests.counters.unencodable += 1;
                        tracing::warn!(session = out.session, %e, "cannot encode an answer");
                        continue;
                    }
                },
            };
            match self
                .sessions
                .send(now, out.session, out.channel, bytes, Delivery::Reliable)
            {
                Ok(Some(id)) => {
                    if let Some(chat) = out.receipt {
                        self.requests.chat.track(out.session, id, chat);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.requests.counters.send_failed += 1;
                    tracing::debug!(session = out.session, %e, "cannot queue an answer");
                    if let Some(chat) = out.receipt {
                        let more = self.requests.chat.unsendable(chat, &e.to_string());
                        self.apply(now, more);
                    }
                }
            }
        }
    }

    /// Drops what expired, and logs a summary.
    pub(crate) fn expire(&mut self, now: Instant) {
        let out = self.requests.chat.expire(now_ms());
        self.apply(now, out);
        let s = self.sessions.stats();
        let c = self.requests.counters;
        tracing::info!(
            sessions = self.sessions.sessions(),
            malformed = c.malformed + s.malformed,
            unmatched = s.unmatched,
            bad_cookies = s.bad_cookie,
            bad_handshakes = s.bad_handshake,
            other_version = s.other_version,
            forged = s.forged,
            replayed = s.replayed,
            rate_limited = c.rate_limited,
            name_limited = c.name_limited,
            network_limited = c.network_limited,
            refused_sessions = c.refused_sessions,
            refused_requests = c.refused_requests,
            overloaded = c.overloaded,
            waiting = self.requests.waiting(),
            send_failed = c.send_failed,
            unencodable = c.unencodable,
            busy = c.busy,
            shed = self.requests.shedder.shed(),
            held = self.requests.chat.held(),
            store_backlog = self.requests.chat.store().backlog(),
            "chat server summary"
        );
        let chat = self.requests.chat.stats();
        tracing::info!(
            accepted = chat.accepted,
            errors = chat.errors,
            queue_full = chat.queue_full,
            over_quota = chat.over_quota,
            expired = chat.expired,
            notices_dropped = chat.notices_dropped,
            history_dropped = chat.history_dropped,
            claims_lapsed = chat.claims_lapsed,
            rooms_reclaimed = chat.rooms_reclaimed,
            "chat rules summary"
        );
    }
}

/// The span a session's lines are logged in. It is made for each line rather than kept for the
/// session's life: a live span holds about 400 bytes in the subscriber's registry, which was
/// the largest share of an idle session's memory (issue 17), and these few lines are all that
/// is logged in it.
fn session_span(session: SessionId, peer: SocketAddr) -> tracing::Span {
    tracing::info_span!("session", id = session, %peer)
}

/// A session the session layer no longer knows is nowhere.
fn unknown_peer() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

impl<L> Endpoint for ChatEndpoint<L>
where
    L: Service<ClientRequest, Response = ClientRequest>,
    L::Error: Into<BoxError>,
    L::Future: Unpin,
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
        if event.is_none() {
            let now = dgram_net::session::now();
            // The batch is complete: its receipts are queued before the driver sends.
            self.flush_acked(now);
            if self.requests.waiting() > 0 {
                // Client events a limit held back get another chance each turn.
                let mut out = Vec::new();
                self.requests.drive(&mut out);
                self.apply(now, out);
            }
        }
        event
    }
    fn close_all(&mut self) {
        self.sessions.close_all();
    }
    fn receive_backlog(&mut self, now: Instant, backlog: Backlog) {
        match self.requests.shedder.observe(now, backlog) {
            Some(Change::Started { backlog }) => tracing::warn!(
                queued = backlog.queued,
                capacity = backlog.capacity,
                percent = backlog.percent(),
                "the receive queue is filling: refusing new messages (try again) until it drains"
            ),
            Some(Change::Stopped { lasted, shed, peak }) => tracing::warn!(
                lasted = ?lasted,
                shed,
                peak_percent = peak,
                "the receive queue drained: taking new messages again"
            ),
            None => {}
        }
    }
    /// The driver's debug trace of a session's path as its messages are acknowledged; the
    /// end is in the "session closed" line.
    fn path(&self, (session, event): &(SessionId, Event), progress: bool) -> Option<PathReport> {
        let acked = matches!(event, Event::Delivered { .. } | Event::Failed { .. });
        if !(progress && acked) {
            return None;
        }
        Some(PathReport {
            session: Some(*session),
            ended: false,
            stats: self.sessions.path_stats(*session)?,
        })
    }
}
