//! The client endpoint: the handshake (Hello, cookie, Join, welcome: `handshake`), keeping
//! the session alive, resuming it from a new address when the server stops answering, and
//! starting over on its own when the server has forgotten it. Data packets are sealed and
//! opened with the session's keys here, around the connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::conn::Connection;
use super::crypto::Rng;
use super::keys::{Keypair, ServerPin, KEY_LEN};
use super::noise::{PacketKeys, TAG_LEN};
use super::packet::{self, Packet, Secret};
use super::recv::Seen;
use super::{
    Channel, ClientStats, CloseReason, Config, Delivery, Event, MessageId, PathStats, SessionId,
    Transmit,
};
use crate::{Error, MAX_PATH_DATAGRAM};

mod handshake;

use handshake::Handshake;

/// The client side of the session protocol: one session with one server.
#[derive(Debug)]
pub struct Client {
    config: Config,
    rng: Rng,
    server: SocketAddr,
    identity: Keypair,
    pin: ServerPin,
    /// The server's static key, once a handshake proved the server holds it; every later
    /// handshake of this client must show the same.
    server_key: Option<[u8; KEY_LEN]>,
    handshake: Option<Handshake>,
    conn: Option<Connection>,
    keys: Option<PacketKeys>,
    stats: ClientStats,
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
    /// of randomness, `identity` its long-term key, and `pin` what server key it accepts.
    pub fn new(
        config: Config,
        seed: [u8; 32],
        server: SocketAddr,
        now: Instant,
        identity: Keypair,
        pin: ServerPin,
    ) -> Self {
        let mut client = Self {
            config,
            rng: Rng::from_seed(seed),
            server,
            identity,
            pin,
            server_key: None,
            handshake: None,
            conn: None,
            keys: None,
            stats: ClientStats::default(),
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

    /// The server's static public key, once a handshake showed that the server holds it (for
    /// [`ServerPin::Any`], what the caller records).
    pub fn server_key(&self) -> Option<[u8; KEY_LEN]> {
        self.server_key
    }

    /// What this client dropped.
    pub fn stats(&self) -> ClientStats {
        self.stats
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
            Some(Packet::Cookie {
                nonce,
                cookie,
                server_key,
            }) => self.cookie(now, nonce, cookie, server_key),
            Some(Packet::Welcome {
                nonce,
                session,
                msg2,
            }) => self.welcome(now, nonce, session, msg2),
            Some(Packet::Reject {
                nonce,
                reason,
                version,
            }) => self.reject(now, nonce, reason, version),
            Some(Packet::Data { header }) => {
                let Some(conn) = self.conn.as_mut().filter(|c| c.id == header.session) else {
                    return;
                };
                let Some(keys) = self.keys.as_ref() else {
                    return;
                };
                let mut plain = [0u8; MAX_PATH_DATAGRAM];
                let Some((number, frames)) = conn
                    .packet_number(&header)
                    .and_then(|n| Some((n, keys.open(datagram, header.len(), n, &mut plain)?)))
                else {
                    self.stats.forged += 1;
                    return;
                };
                let seen = conn.handle(now, &self.config, number, frames, &mut self.conn_events);
                if seen != Seen::New {
                    self.stats.replayed += 1;
                }
            }
            _ => {}
        }
        self.maintain(now);
    }

    /// Writes the next datagram to send into `buf` (of [`crate::MAX_PATH_DATAGRAM`] bytes; a
    /// smaller one keeps the session's datagrams to its size).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.handshake.is_some() {
            return self.poll_handshake(now, buf);
        }
        let conn = self.conn.as_mut()?;
        let limit = buf.len().min(MAX_PATH_DATAGRAM).saturating_sub(TAG_LEN);
        let len = conn.poll_transmit(now, &self.config, &mut buf[..limit], &mut self.conn_events);
        // Sending can end the session (its packet numbers ran out): pass that on and start
        // over now, as no timer is left to do it later.
        self.maintain(now);
        let written = len?;
        let sealed = self
            .keys
            .as_ref()
            .and_then(|k| k.seal(buf, written.len, written.header_len, written.number))?;
        Some(Transmit {
            destination: self.server,
            len: sealed,
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
            self.keys = None;
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
