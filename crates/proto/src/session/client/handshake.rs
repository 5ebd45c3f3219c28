//! The client's handshake half: Hello until a cookie comes back with the server's static key,
//! the pin checked against that key before any Diffie-Hellman, then Joins carrying the Noise
//! IK first message (its encrypted payload: a new session, or the resume proof), until a
//! Welcome's second message proves the server holds the key and keys the session.

use std::time::{Duration, Instant};

use super::super::conn::{Connection, Role};
use super::super::crypto::resume_proof;
use super::super::keys::{ServerPin, KEY_LEN};
use super::super::noise::{prologue, Initiator};
use super::super::packet::{self, Nonce, Resume, Secret, Writer, SECRET_LEN};
use super::super::{CloseReason, Event, HandshakeError, RejectReason, SessionId, Transmit};
use super::Client;

/// Joins with the same cookie before asking for a fresh one.
const JOINS_PER_COOKIE: u32 = 3;

#[derive(Debug)]
pub(super) struct Handshake {
    pub(super) nonce: Nonce,
    cookie: Option<Secret>,
    /// The first Noise message, built for this cookie, sent again unchanged until answered.
    initiator: Option<Built>,
    joins: u32,
    pub(super) resume: bool,
    pub(super) next_send: Instant,
    interval: Duration,
}

/// A first message and what it was built for.
#[derive(Debug)]
struct Built {
    cookie: Secret,
    server_key: [u8; KEY_LEN],
    init: Initiator,
}

impl Client {
    pub(super) fn start_handshake(&mut self, now: Instant, resume: bool) {
        let mut nonce = [0u8; packet::NONCE_LEN];
        self.rng.fill(&mut nonce);
        self.handshake = Some(Handshake {
            nonce,
            cookie: None,
            initiator: None,
            joins: 0,
            resume,
            next_send: now,
            interval: self.config.handshake_retry,
        });
    }

    /// What this handshake accepts as the server's key: the one an earlier handshake proved,
    /// or else the caller's pin.
    fn effective_pin(&self) -> ServerPin {
        self.server_key.map_or(self.pin, ServerPin::Key)
    }

    pub(super) fn cookie(
        &mut self,
        now: Instant,
        nonce: Nonce,
        cookie: Secret,
        server_key: [u8; KEY_LEN],
    ) {
        if self.handshake.as_ref().is_none_or(|h| h.nonce != nonce) {
            return;
        }
        let pin = self.effective_pin();
        if !pin.accepts(&server_key) {
            // Before any Diffie-Hellman, and for good: a changed key needs a person to decide.
            return self.fail(HandshakeError::KeyMismatch {
                expected: pin,
                seen: server_key,
            });
        }
        let fresh = self
            .handshake
            .as_ref()
            .and_then(|h| h.initiator.as_ref())
            .is_none_or(|b| b.cookie != cookie || b.server_key != server_key);
        let initiator = if fresh {
            let payload = packet::join_payload(self.resume_request());
            let seed = self.rng.key();
            let prologue = prologue(&nonce, &cookie);
            match Initiator::start(&self.identity, &server_key, &prologue, seed, &payload) {
                Some(init) => Some(Built {
                    cookie,
                    server_key,
                    init,
                }),
                None => {
                    // A key snow refuses (e.g. a low-order point): not a server we can talk to.
                    self.stats.bad_handshake += 1;
                    return;
                }
            }
        } else {
            None
        };
        if let Some(h) = self.handshake.as_mut() {
            if initiator.is_some() {
                h.initiator = initiator;
            }
            h.cookie = Some(cookie);
            h.joins = 0;
            h.next_send = now;
            h.interval = self.config.handshake_retry;
        }
    }

    /// The resume request for a new first message: a fresh counter each time, so every proof
    /// is single-use.
    fn resume_request(&mut self) -> Option<Resume> {
        let resume = self.handshake.as_ref().is_some_and(|h| h.resume);
        let (session, token) = self.token.filter(|_| resume)?;
        self.resume_counter += 1;
        Some(Resume {
            session,
            counter: self.resume_counter,
            proof: resume_proof(&token, session, self.resume_counter),
        })
    }

    pub(super) fn welcome(&mut self, now: Instant, nonce: Nonce, session: SessionId, msg2: &[u8]) {
        let Some(h) = self.handshake.as_mut().filter(|h| h.nonce == nonce) else {
            return;
        };
        let Some(built) = h.initiator.take() else {
            return;
        };
        let Some((payload, keys)) = built.init.finish(msg2) else {
            // Forged or garbled: this handshake's state is spent, so begin it again.
            self.stats.bad_handshake += 1;
            h.cookie = None;
            h.next_send = now;
            return;
        };
        let Ok(token) = <[u8; SECRET_LEN]>::try_from(payload.as_slice()) else {
            self.stats.bad_handshake += 1;
            h.cookie = None;
            h.next_send = now;
            return;
        };
        let resumed = h.resume && self.conn.as_ref().is_some_and(|c| c.id == session);
        self.handshake = None;
        // Only a finished IK handshake proves the key: the cookie's copy was a claim.
        self.server_key = Some(built.server_key);
        self.keys = Some(keys);
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

    pub(super) fn reject(&mut self, now: Instant, nonce: Nonce, reason: RejectReason, version: u8) {
        if self.handshake.as_ref().is_none_or(|h| h.nonce != nonce) {
            return;
        }
        let ours = packet::VERSION;
        match reason {
            RejectReason::Version if version > ours => self.fail(HandshakeError::UpgradeClient {
                server: version,
                client: ours,
            }),
            RejectReason::Version if version < ours => self.fail(HandshakeError::UpgradeServer {
                server: version,
                client: ours,
            }),
            RejectReason::Version | RejectReason::Busy => {}
            RejectReason::UnknownSession | RejectReason::BadProof => {
                // The server forgot us: what was unacknowledged failed; start over.
                if let Some(conn) = self.conn.as_mut() {
                    conn.finish(CloseReason::Lost, 0, &mut self.conn_events);
                }
                self.collect();
                self.conn = None;
                self.keys = None;
                self.token = None;
                self.start_handshake(now, false);
            }
        }
    }

    /// Gives up on this server for good, saying why.
    fn fail(&mut self, error: HandshakeError) {
        self.close();
        self.events.push_back(Event::HandshakeFailed { error });
    }

    pub(super) fn poll_handshake(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let h = self.handshake.as_mut()?;
        if h.next_send > now {
            return None;
        }
        h.next_send = now + h.interval;
        // Back off, but not far: a client waiting for its server should notice it soon.
        h.interval = (h.interval * 2).min(self.config.handshake_retry * 4);
        let mut w = Writer::new(buf);
        match (h.cookie, h.initiator.as_ref()) {
            (Some(cookie), Some(b)) if h.joins < JOINS_PER_COOKIE && b.cookie == cookie => {
                h.joins += 1;
                packet::write_join(&mut w, &h.nonce, &cookie, &b.init.msg1);
            }
            _ => {
                h.cookie = None;
                packet::write_hello(&mut w, &h.nonce);
            }
        }
        Some(Transmit {
            destination: self.server,
            len: w.len(),
        })
    }
}
