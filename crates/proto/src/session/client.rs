//! The client endpoint: the handshake (Hello, cookie, Join, welcome), keeping the session
//! alive, resuming it from a new address when the server stops answering, and starting over on
//! its own when the server has forgotten it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::conn::{Connection, Role};
use super::crypto::resume_proof;
use super::crypto::Rng;
use super::packet::{self, Nonce, Packet, Resume, Secret, Writer};
use super::{
    Channel, CloseReason, Config, Delivery, Event, MessageId, PathStats, RejectReason, SessionId,
    Transmit,
};
use crate::Error;

/// Joins with the same cookie before asking for a fresh one.
const JOINS_PER_COOKIE: u32 = 3;

#[derive(Debug)]
struct Handshake {
    nonce: Nonce,
    cookie: Option<Secret>,
    joins: u32,
    resume: bool,
    next_send: Instant,
    interval: Duration,
}

/// The client side of the session protocol: one session with one server.
#[derive(Debug)]
pub struct Client {
    config: Config,
    rng: Rng,
    server: SocketAddr,
    handshake: Option<Handshake>,
    conn: Option<Connection>,
    token: Option<(SessionId, Secret)>,
    resume_counter: u32,
    closed_for_good: bool,
    events: VecDeque<Event>,
    /// What the session reported and `collect` has not yet passed on.
    conn_events: Vec<Event>,
    /// When the server was last heard from at all (any packet, handshake ones included).
    heard_at: Option<Instant>,
    /// The path of the last session that ended, as it was then.
    last_closed: Option<PathStats>,
}

impl Client {
    /// A client that starts its handshake with `server` at once; `seed` is its only source
    /// of randomness.
    pub fn new(config: Config, seed: [u8; 32], server: SocketAddr, now: Instant) -> Self {
        let mut client = Self {
            config,
            rng: Rng::from_seed(seed),
            server,
            handshake: None,
            conn: None,
            token: None,
            resume_counter: 0,
            closed_for_good: false,
            events: VecDeque::new(),
            heard_at: None,
            conn_events: Vec::new(),
            last_closed: None,
        };
        client.start_handshake(now, false);
        client
    }

    /// The session, once the server has welcomed us.
    pub fn session(&self) -> Option<SessionId> {
        self.conn.as_ref().filter(|c| c.is_open()).map(|c| c.id)
    }

    /// Whether data can flow now (connected, and not in the middle of a resume).
    pub fn is_connected(&self) -> bool {
        self.handshake.is_none() && self.conn.as_ref().is_some_and(Connection::is_open)
    }

    /// Whether the session holds no buffers beyond its fixed state.
    #[cfg(test)]
    pub(crate) fn is_quiet(&self) -> bool {
        self.conn.as_ref().is_some_and(Connection::is_quiet)
    }

    /// The smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.conn.as_ref().and_then(Connection::smoothed_rtt)
    }

    /// Since when the client has waited for an answer from the server that has not come
    /// (`None` while nothing is outstanding, or with no session): how stale the link is.
    pub fn unanswered_since(&self) -> Option<Instant> {
        let conn = self.conn.as_ref().filter(|c| c.is_open())?;
        conn.unanswered_since()
    }

    /// The session's congestion window, RTT and loss counters; once it ended (and until a
    /// new one starts), what they were when it ended.
    pub fn path_stats(&self) -> Option<PathStats> {
        match self.conn.as_ref().filter(|c| c.is_open()) {
            Some(conn) => Some(conn.path_stats()),
            None => self.last_closed,
        }
    }

    /// The server this client handshakes with and sends to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Points the client at `server` instead (its name now resolves elsewhere), and starts a
    /// fresh handshake there at once; datagrams from the old address are ignored from now on.
    ///
    /// Only while there is no session: before the first welcome, or after one ended and the
    /// client is handshaking again. While a session exists (connected, or resuming after the
    /// server went quiet) this changes nothing and returns `false`: the session belongs to the
    /// server that welcomed us, and a resume proves itself to that server only; once it ends,
    /// the caller may try again. Also `false` after [`Client::close`]. Returns `true` when the
    /// client now handshakes with `server`, including when it already did (the handshake then
    /// goes on undisturbed).
    pub fn set_server(&mut self, now: Instant, server: SocketAddr) -> bool {
        if self.conn.is_some() || self.closed_for_good {
            return false;
        }
        if server != self.server {
            self.server = server;
            // A new nonce too: a cookie or welcome the old address sends late must not count.
            self.start_handshake(now, false);
        }
        true
    }

    fn start_handshake(&mut self, now: Instant, resume: bool) {
        let mut nonce = [0u8; packet::NONCE_LEN];
        self.rng.fill(&mut nonce);
        self.handshake = Some(Handshake {
            nonce,
            cookie: None,
            joins: 0,
            resume,
            next_send: now,
            interval: self.config.handshake_retry,
        });
    }

    /// Queues a message. Reliable ones get an id for their delivery report. While a resume is
    /// under way they wait, and go out once it completes.
    pub fn send(
        &mut self,
        now: Instant,
        channel: Channel,
        data: Vec<u8>,
        delivery: Delivery,
    ) -> Result<Option<MessageId>, Error> {
        match self.conn.as_mut() {
            Some(conn) => conn.send(now, &self.config, channel, data, delivery),
            None => Err(Error::NotConnected),
        }
    }

    /// Ends the session and stays disconnected.
    pub fn close(&mut self) {
        self.closed_for_good = true;
        self.handshake = None;
        if let Some(conn) = self.conn.as_mut() {
            conn.close(&mut self.conn_events);
        }
        self.collect();
    }

    /// Takes in one datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if from != self.server || self.closed_for_good {
            return;
        }
        let packet = packet::parse(datagram);
        if packet.is_some() {
            self.heard_at = Some(now);
        }
        match packet {
            Some(Packet::Cookie { nonce, cookie }) => {
                if let Some(h) = self.handshake.as_mut().filter(|h| h.nonce == nonce) {
                    h.cookie = Some(cookie);
                    h.joins = 0;
                    h.next_send = now;
                    h.interval = self.config.handshake_retry;
                }
            }
            Some(Packet::Welcome {
                nonce,
                session,
                token,
            }) => self.welcome(now, nonce, session, token),
            Some(Packet::Reject { nonce, reason }) => {
                if self.handshake.as_ref().is_none_or(|h| h.nonce != nonce) {
                    return;
                }
                match reason {
                    RejectReason::Busy => {}
                    RejectReason::UnknownSession | RejectReason::BadProof => {
                        // The server forgot us: what was unacknowledged failed; start over.
                        if let Some(conn) = self.conn.as_mut() {
                            conn.finish(CloseReason::Lost, 0, &mut self.conn_events);
                        }
                        self.collect();
                        self.conn = None;
                        self.token = None;
                        self.start_handshake(now, false);
                    }
                }
            }
            Some(Packet::Data { header, frames }) => {
                if let Some(conn) = self.conn.as_mut().filter(|c| c.id == header.session) {
                    conn.handle(now, &self.config, &header, frames, &mut self.conn_events);
                }
            }
            _ => {}
        }
        self.maintain(now);
    }

    fn welcome(&mut self, now: Instant, nonce: Nonce, session: SessionId, token: Secret) {
        let Some(h) = self.handshake.as_ref().filter(|h| h.nonce == nonce) else {
            return;
        };
        let resumed = h.resume && self.conn.as_ref().is_some_and(|c| c.id == session);
        self.handshake = None;
        if resumed {
            if let Some(conn) = self.conn.as_mut() {
                conn.migrate(self.server, now, &mut self.conn_events);
            }
        } else {
            self.conn = Some(Connection::new(session, self.server, Role::Client, now));
            self.token = Some((session, token));
        }
        self.events.push_back(Event::Connected { session, resumed });
    }

    /// Writes the next datagram to send into `buf` (of [`crate::MAX_DATAGRAM`] bytes).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(h) = self.handshake.as_mut() {
            if h.next_send > now {
                return None;
            }
            h.next_send = now + h.interval;
            // Back off, but not far: a client waiting for its server should notice it soon.
            h.interval = (h.interval * 2).min(self.config.handshake_retry * 4);
            let mut w = Writer::new(buf);
            match h.cookie {
                Some(cookie) if h.joins < JOINS_PER_COOKIE => {
                    h.joins += 1;
                    let resume = match (h.resume, self.token) {
                        (true, Some((session, token))) => {
                            self.resume_counter += 1;
                            Some(Resume {
                                session,
                                counter: self.resume_counter,
                                proof: resume_proof(&token, session, self.resume_counter),
                            })
                        }
                        _ => None,
                    };
                    packet::write_join(&mut w, &h.nonce, &cookie, resume);
                }
                _ => {
                    h.cookie = None;
                    packet::write_hello(&mut w, &h.nonce);
                }
            }
            return Some(Transmit {
                destination: self.server,
                len: w.len(),
            });
        }
        let conn = self.conn.as_mut()?;
        let len = conn.poll_transmit(now, &self.config, buf, &mut self.conn_events);
        // Sending can end the session (its packet numbers ran out): pass that on and start
        // over now, as no timer is left to do it later.
        self.maintain(now);
        Some(Transmit {
            destination: self.server,
            len: len?,
        })
    }

    /// The session's connection, for tests that reach into it.
    #[cfg(test)]
    pub(crate) fn conn_mut(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    /// When [`Client::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let handshake = self.handshake.as_ref().map(|h| h.next_send);
        let conn = self.conn.as_ref();
        // While a resume handshake runs the session sends nothing, so only its deadlines count
        // (an owed ack or a retransmission would be due again at once, forever).
        let conn_timer = conn.and_then(|c| match handshake {
            Some(_) => c.poll_deadlines(&self.config),
            None => c.poll_timeout(&self.config),
        });
        let resume = conn
            .filter(|c| c.is_open() && self.handshake.is_none())
            .and_then(Connection::unanswered_since)
            .map(|since| since + self.config.resume_after);
        [handshake, conn_timer, resume, self.dead_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the session is given up for a dead server, if it is waiting for an answer: the
    /// later of the first unanswered packet and the last word from the server, plus
    /// [`Config::dead_after`].
    fn dead_at(&self) -> Option<Instant> {
        let conn = self.conn.as_ref().filter(|c| c.is_open())?;
        let since = conn.unanswered_since()?;
        let quiet = self.heard_at.map_or(since, |heard| heard.max(since));
        Some(quiet + self.config.dead_after)
    }

    /// Ends a session whose server has said nothing for [`Config::dead_after`] while we wait:
    /// what it carried fails now, and `maintain` starts over with a fresh handshake.
    fn give_up_if_dead(&mut self, now: Instant) {
        if self.dead_at().is_none_or(|at| now < at) {
            return;
        }
        self.handshake = None;
        if let Some(conn) = self.conn.as_mut() {
            conn.finish(CloseReason::TimedOut, 0, &mut self.conn_events);
        }
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(conn) = self.conn.as_mut() {
            conn.handle_timeout(now, &self.config, &mut self.conn_events);
            let silent = conn
                .unanswered_since()
                .is_some_and(|since| now >= since + self.config.resume_after);
            if conn.is_open() && silent && self.handshake.is_none() {
                // The server has gone quiet: our address may have changed (NAT rebinding), so
                // prove ourselves again from wherever we are now.
                self.start_handshake(now, true);
            }
        }
        self.give_up_if_dead(now);
        self.maintain(now);
    }

    /// Passes the session's events on, and starts over when the session ended without our
    /// asking (timed out, or closed by the server): the client always tries to be connected.
    fn maintain(&mut self, now: Instant) {
        self.collect();
        let ended = self
            .conn
            .as_ref()
            .is_some_and(|c| !c.is_open() && c.is_closed());
        if ended && !self.closed_for_good {
            self.conn = None;
            self.token = None;
            self.start_handshake(now, false);
        }
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn collect(&mut self) {
        if self
            .conn_events
            .iter()
            .any(|e| matches!(e, Event::Closed { .. }))
        {
            self.last_closed = self.conn.as_ref().map(Connection::path_stats);
        }
        self.events.extend(self.conn_events.drain(..));
    }
}
