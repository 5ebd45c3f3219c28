//! The server endpoint: the stateless cookie handshake, the session table, demultiplexing by
//! (source address, session id), resumption from a new address, and the timer queue that keeps
//! `poll_timeout` cheap with many sessions.
//!
//! Before a session exists the server keeps nothing per peer and never answers with more bytes
//! than it was sent: a Hello (padded to 1200 bytes) gets a 67-byte cookie (with the server's
//! static key), a valid Join (also padded) gets an 89-byte welcome. Only a Join that echoes a
//! cookie minted for its source address proves the client receives there, and only then does
//! the server run Diffie-Hellman (the Noise IK handshake) and make a session.
//!
//! A server may hold a hundred thousand sessions, most of them quiet, so a session's
//! bookkeeping (its timer, whether it waits to send) lives in its own boxed entry rather than
//! in tables beside it, and the table of sessions holds only a pointer each.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use foldhash::{HashMap, HashMapExt};

use super::congestion::ClosedPaths;
use super::conn::Connection;
use super::crypto::{Cookies, Rng};
use super::keys::{Keypair, KEY_LEN};
use super::noise::{PacketKeys, TAG_LEN};
use super::packet::{self, Nonce, Packet, Secret, Writer};
use super::per_ip::PerIp;
use super::recv::Seen;
use super::time::Stamp;
use super::timers::Timers;
use super::{
    Channel, Config, Delivery, Event, MessageId, PathStats, ServerStats, SessionId, Transmit,
};
use crate::{Error, MAX_PATH_DATAGRAM};

mod handshake;

#[derive(Debug)]
pub(super) struct Session {
    conn: Connection,
    nonce: Nonce,
    token: Secret,
    resume_counter: u32,
    /// One allocation, so that the session entry itself stays small (see `tests`).
    crypto: Box<Crypto>,
    /// The deadline this session has on the timer heap; other entries for it there are stale.
    timer: Option<Stamp>,
    /// Whether it is on the queue of sessions that may have something to send.
    dirty: bool,
    /// Whether it counts against its address's network (until it ends, or is replaced).
    counted: bool,
}

/// A session's keys and what its handshake proved.
#[derive(Debug)]
pub(super) struct Crypto {
    keys: PacketKeys,
    /// The client's static key, proven by the handshake.
    peer_key: [u8; KEY_LEN],
    /// Dropped at the first authentic data packet (only its keys seal one): an idle session
    /// keeps no copy, and a later Join of its nonce is a replay, whatever its ephemeral key.
    welcome: Option<Box<handshake::Welcome>>,
}

/// The server side of the session protocol.
#[derive(Debug)]
pub struct Server {
    config: Config,
    rng: Rng,
    identity: Keypair,
    cookies: Cookies,
    sessions: HashMap<SessionId, Box<Session>>,
    by_addr: HashMap<SocketAddr, SessionId>,
    per_ip: PerIp,
    replies: VecDeque<(SocketAddr, Vec<u8>)>,
    dirty: VecDeque<SessionId>,
    timers: Timers,
    events: VecDeque<(SessionId, Event)>,
    /// What the session last called reported; `touch` tags it with the session's id.
    conn_events: Vec<Event>,
    closed_paths: ClosedPaths,
    stats: ServerStats,
}

impl Server {
    /// A server; `seed` is its only source of randomness (session ids, tokens, keys), and
    /// `identity` its long-term static key, which clients pin.
    pub fn new(config: Config, seed: [u8; 32], now: Instant, identity: Keypair) -> Self {
        let mut rng = Rng::from_seed(seed);
        let cookies = Cookies::new(&mut rng, now, config.cookie_window);
        Self {
            config,
            rng,
            identity,
            cookies,
            sessions: HashMap::new(),
            by_addr: HashMap::new(),
            per_ip: PerIp::default(),
            replies: VecDeque::new(),
            dirty: VecDeque::new(),
            timers: Timers::new(now),
            events: VecDeque::new(),
            conn_events: Vec::new(),
            closed_paths: ClosedPaths::default(),
            stats: ServerStats::default(),
        }
    }

    /// What was turned away so far.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// How many sessions are open.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Whether a session holds no buffers beyond its fixed state.
    #[cfg(test)]
    pub(crate) fn is_quiet(&self, session: SessionId) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|s| s.conn.is_quiet())
    }

    /// Whether a session's per-channel state takes no allocation of its own.
    #[cfg(test)]
    pub(crate) fn channels_inline(&self, session: SessionId) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|s| s.conn.channels_inline())
    }

    /// A session's congestion window, RTT and loss counters; for a session that just ended,
    /// what they were when it ended, until the next session's end is handed out.
    pub fn path_stats(&self, session: SessionId) -> Option<PathStats> {
        match self.sessions.get(&session) {
            Some(s) => Some(s.conn.path_stats()),
            None => self.closed_paths.last(session).map(|(path, _)| path),
        }
    }

    /// The server's static public key (what clients pin).
    pub fn public_key(&self) -> [u8; KEY_LEN] {
        self.identity.public
    }

    /// The client's static public key on an established session, as its handshake proved it.
    pub fn peer_key(&self, session: SessionId) -> Option<[u8; KEY_LEN]> {
        self.sessions.get(&session).map(|s| s.crypto.peer_key)
    }

    /// The client address a session runs from; for a session that just ended, where it ran
    /// from, until the next session's end is handed out.
    pub fn peer(&self, session: SessionId) -> Option<SocketAddr> {
        match self.sessions.get(&session) {
            Some(s) => Some(s.conn.peer),
            None => self.closed_paths.last(session).map(|(_, peer)| peer),
        }
    }

    /// Takes in one datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        match packet::parse(datagram) {
            Some(Packet::Hello { nonce }) => {
                // Only handshakes use the cookie keys, so only they need them current.
                self.cookies.rotate(now, &mut self.rng);
                let cookie = self.cookies.mint(from, &nonce, now);
                let key = self.identity.public;
                self.reply(from, |w| packet::write_cookie(w, &nonce, &cookie, &key));
            }
            Some(Packet::Join {
                nonce,
                cookie,
                msg1,
            }) => {
                self.cookies.rotate(now, &mut self.rng);
                self.join(now, from, nonce, cookie, msg1);
            }
            Some(Packet::OtherVersion { nonce }) => {
                // Padded, so the answer is smaller: tell the peer to upgrade, not time out.
                self.stats.other_version += 1;
                self.reply(from, |w| {
                    packet::write_reject(w, &nonce, packet::RejectReason::Version)
                });
            }
            Some(Packet::Data { header }) => {
                let Some(session) = self.sessions.get_mut(&header.session) else {
                    self.stats.unmatched += 1;
                    return;
                };
                if session.conn.peer != from {
                    self.stats.unmatched += 1;
                    return;
                }
                let mut plain = [0u8; MAX_PATH_DATAGRAM];
                let Some((number, frames)) = session.conn.packet_number(&header).and_then(|n| {
                    let frames = session
                        .crypto
                        .keys
                        .open(datagram, header.len(), n, &mut plain)?;
                    Some((n, frames))
                }) else {
                    self.stats.forged += 1;
                    return;
                };
                session.crypto.welcome = None;
                let seen =
                    session
                        .conn
                        .handle(now, &self.config, number, frames, &mut self.conn_events);
                if seen != Seen::New {
                    self.stats.replayed += 1;
                }
                self.touch(header.session);
            }
            _ => self.stats.malformed += 1,
        }
    }

    /// Queues `data` on a session.
    pub fn send(
        &mut self,
        now: Instant,
        session: SessionId,
        channel: Channel,
        data: Vec<u8>,
        delivery: Delivery,
    ) -> Result<Option<MessageId>, Error> {
        let s = self.sessions.get_mut(&session).ok_or(Error::NotConnected)?;
        let id = s.conn.send(now, &self.config, channel, data, delivery)?;
        self.touch(session);
        Ok(id)
    }

    /// Ends a session, saying goodbye to the client.
    pub fn close(&mut self, session: SessionId) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.conn.close(&mut self.conn_events);
            self.touch(session);
        }
    }

    /// Ends every session, saying goodbye (the server is shutting down).
    pub fn close_all(&mut self) {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    fn end(&mut self, id: SessionId, reason: super::CloseReason) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.conn.finish(reason, 0, &mut self.conn_events);
            self.touch(id);
        }
    }

    /// Writes the next datagram to send into `buf` (of [`crate::MAX_PATH_DATAGRAM`] bytes; a
    /// smaller one keeps the session's datagrams to its size).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((to, bytes)) = self.replies.pop_front() {
            let len = bytes.len().min(buf.len());
            buf[..len].copy_from_slice(&bytes[..len]);
            return Some(Transmit {
                destination: to,
                len,
            });
        }
        while let Some(&id) = self.dirty.front() {
            if let Some(s) = self.sessions.get_mut(&id) {
                let limit = buf.len().min(MAX_PATH_DATAGRAM).saturating_sub(TAG_LEN);
                let sent = s.conn.poll_transmit(
                    now,
                    &self.config,
                    &mut buf[..limit],
                    &mut self.conn_events,
                );
                let destination = s.conn.peer;
                if sent.is_none() {
                    s.dirty = false;
                }
                let sealed =
                    sent.and_then(|p| s.crypto.keys.seal(buf, p.len, p.header_len, p.number));
                self.collect(id);
                if let Some(len) = sealed {
                    return Some(Transmit { destination, len });
                }
            }
            self.dirty.pop_front();
            self.settle(id);
        }
        None
    }

    /// The next event, with the session it happened on.
    pub fn poll_event(&mut self) -> Option<(SessionId, Event)> {
        let (id, event) = self.events.pop_front()?;
        self.closed_paths.handed_out(id, &event);
        Some((id, event))
    }

    /// When [`Server::handle_timeout`] is next due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        loop {
            let (due, id) = self.timers.peek()?;
            if self.sessions.get(&id).and_then(|s| s.timer) == Some(due) {
                return Some(self.timers.at(due));
            }
            self.timers.pop(); // stale entry
        }
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now_stamp = self.timers.stamp(now);
        while let Some((due, id)) = self.timers.peek() {
            if due > now_stamp {
                break;
            }
            self.timers.pop();
            let Some(s) = self.sessions.get_mut(&id).filter(|s| s.timer == Some(due)) else {
                continue;
            };
            s.timer = None;
            s.conn
                .handle_timeout(now, &self.config, &mut self.conn_events);
            self.touch(id);
        }
    }

    /// Passes on what a session just reported, tagged with its id.
    fn collect(&mut self, id: SessionId) {
        // Most calls (after each datagram sent) find nothing: no lookup, no scan then.
        if self.conn_events.is_empty() {
            return;
        }
        let sessions = &self.sessions;
        let path = || {
            sessions
                .get(&id)
                .map(|s| (s.conn.path_stats(), s.conn.peer))
        };
        self.closed_paths.collect(&self.conn_events, path);
        self.events
            .extend(self.conn_events.drain(..).map(|e| (id, e)));
    }

    /// Collects a session's events and marks it for sending; the timer is set once it has
    /// nothing more to send.
    fn touch(&mut self, id: SessionId) {
        self.collect(id);
        if let Some(s) = self.sessions.get_mut(&id) {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push_back(id);
            }
        }
    }

    /// After a session sent all it had: drop it if it is over, or schedule its next timer.
    fn settle(&mut self, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.conn.is_closed() {
            let peer = s.conn.peer;
            if s.counted {
                self.per_ip.release(peer.ip());
            }
            self.sessions.remove(&id);
            if self.by_addr.get(&peer) == Some(&id) {
                self.by_addr.remove(&peer);
            }
            return;
        }
        // Only an earlier deadline goes on the heap; a later one waits for the entry already
        // there to fire (harmlessly early) and is scheduled then. This keeps the heap near one
        // entry per session however often deadlines move.
        if let Some(at) = s.conn.poll_timeout(&self.config) {
            let due = self.timers.stamp(at);
            if s.timer.is_none_or(|cur| due < cur) {
                s.timer = Some(due);
                let sessions = &self.sessions;
                self.timers.push(due, id, |due, id| {
                    sessions.get(&id).and_then(|s| s.timer) == Some(due)
                });
            }
        }
    }

    fn reply(&mut self, to: SocketAddr, write: impl FnOnce(&mut Writer<'_>)) {
        let mut buf = [0u8; 3 * packet::MAX_NOISE_MSG];
        let mut w = Writer::new(&mut buf);
        write(&mut w);
        let len = w.len();
        self.replies.push_back((to, buf[..len].to_vec()));
    }
}
