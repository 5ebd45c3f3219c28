//! The server's handshake half: a Join that echoes a valid cookie (checked before any
//! Diffie-Hellman) carries the Noise IK first message; its encrypted payload asks for a new
//! session or proves a resume, and the Welcome's second message answers with the resume
//! token and keys the session. Split from `server.rs` by what it does.

use std::net::SocketAddr;
use std::time::Instant;

use super::super::conn::{Connection, Role};
use super::super::crypto::{self, resume_proof};
use super::super::keys::KEY_LEN;
use super::super::noise::{prologue, PacketKeys, Responder};
use super::super::packet::{self, Nonce, Resume, Secret};
use super::super::{CloseReason, Event, RejectReason};
use super::{Crypto, Server};

impl Server {
    pub(super) fn join(
        &mut self,
        now: Instant,
        from: SocketAddr,
        nonce: Nonce,
        cookie: Secret,
        msg1: &[u8],
    ) {
        if !self.cookies.check(from, &nonce, &cookie, now) {
            self.stats.bad_cookie += 1;
            return;
        }
        let Some(join_e) = msg1
            .get(..KEY_LEN)
            .and_then(|e| <[u8; KEY_LEN]>::try_from(e).ok())
        else {
            self.stats.bad_handshake += 1;
            return;
        };
        if let Some(s) = self.by_addr.get(&from).and_then(|id| self.sessions.get(id)) {
            if s.nonce == nonce {
                match s.crypto.welcome.as_deref() {
                    // Our welcome was lost and the client asks again: same answer, no new
                    // state.
                    Some(welcome) if welcome.join_e == join_e => {
                        let (id, msg) = (s.conn.id, welcome.msg.clone());
                        self.reply(from, |w| packet::write_welcome(w, &nonce, id, &msg));
                        return;
                    }
                    // Once its data showed it has the keys, a Join of its nonce is late or
                    // replayed: dropped.
                    None => {
                        self.stats.replayed += 1;
                        return;
                    }
                    // Another first message under the same nonce: the client started over
                    // with a fresh cookie, a new handshake.
                    Some(_) => {}
                }
            }
        }
        // The cookie proved the address: only now the Diffie-Hellman.
        let seed = self.rng.key();
        let prologue = prologue(&nonce, &cookie);
        let read = Responder::read(&self.identity, &prologue, seed, msg1);
        let Some((responder, request)) =
            read.and_then(|r| packet::parse_join_payload(&r.payload).map(|q| (r, q)))
        else {
            self.stats.bad_handshake += 1;
            return;
        };
        match request {
            Some(resume) => self.resume(now, from, nonce, join_e, responder, resume),
            None => self.create(now, from, nonce, join_e, responder),
        }
    }

    fn create(
        &mut self,
        now: Instant,
        from: SocketAddr,
        nonce: Nonce,
        join_e: [u8; KEY_LEN],
        responder: Responder,
    ) {
        if let Some(&id) = self.by_addr.get(&from) {
            // The same address starts over (a restarted client): the old session is done.
            self.end(id, CloseReason::Replaced);
            // It no longer counts against the network: its place is the new session's.
            if let Some(old) = self.sessions.get_mut(&id).filter(|s| s.counted) {
                old.counted = false;
                self.per_ip.release(from.ip());
            }
        }
        let crowded = self.per_ip.count(from.ip()) >= self.config.max_sessions_per_ip;
        if crowded || self.sessions.len() >= self.config.max_sessions {
            self.stats.rejected += 1;
            self.reply(from, |w| {
                packet::write_reject(w, &nonce, RejectReason::Busy)
            });
            return;
        }
        let id = loop {
            let id = self.rng.u32();
            if id != 0 && !self.sessions.contains_key(&id) {
                break id;
            }
        };
        let token = self.rng.secret();
        let peer_key = responder.client_key;
        let Some((msg2, keys)) = responder.reply(&token) else {
            self.stats.bad_handshake += 1;
            return;
        };
        let conn = Connection::new(id, from, Role::Server, now);
        self.sessions.insert(
            id,
            Box::new(session(conn, nonce, token, keys, peer_key, join_e, &msg2)),
        );
        self.by_addr.insert(from, id);
        self.per_ip.add(from.ip());
        self.events.push_back((id, Event::Accepted { peer: from }));
        self.reply(from, |w| packet::write_welcome(w, &nonce, id, &msg2));
        self.touch(id);
    }

    fn resume(
        &mut self,
        now: Instant,
        from: SocketAddr,
        nonce: Nonce,
        join_e: [u8; KEY_LEN],
        responder: Responder,
        resume: Resume,
    ) {
        let Some(s) = self.sessions.get_mut(&resume.session) else {
            self.stats.rejected += 1;
            self.reply(from, |w| {
                packet::write_reject(w, &nonce, RejectReason::UnknownSession)
            });
            return;
        };
        let expected = resume_proof(&s.token, resume.session, resume.counter);
        // The same client key, the token's proof, and a counter newer than any seen: only
        // then does the session move (a replayed first message fails the counter).
        let proven =
            crypto::same(&expected, &resume.proof) && s.crypto.peer_key == responder.client_key;
        if !proven || resume.counter <= s.resume_counter {
            self.stats.rejected += 1;
            self.reply(from, |w| {
                packet::write_reject(w, &nonce, RejectReason::BadProof)
            });
            return;
        }
        let Some((msg2, keys)) = responder.reply(&s.token) else {
            self.stats.bad_handshake += 1;
            return;
        };
        // A resume is a new handshake, so the session rekeys as it moves.
        *s.crypto = Crypto {
            keys,
            peer_key: s.crypto.peer_key,
            welcome: Some(welcome_of(join_e, &msg2)),
        };
        s.resume_counter = resume.counter;
        s.nonce = nonce;
        let (old, counted) = (s.conn.peer, s.counted);
        s.conn.migrate(from, now, &mut self.conn_events);
        // Its Migrated is its own: collected before a displaced session's end collects
        // whatever is pending as that session's.
        self.collect(resume.session);
        if old != from {
            if counted {
                self.per_ip.moved(old.ip(), from.ip());
            }
            self.by_addr.remove(&old);
            if let Some(displaced) = self.by_addr.insert(from, resume.session) {
                if displaced != resume.session {
                    self.end(displaced, CloseReason::Replaced);
                    self.by_addr.insert(from, resume.session);
                }
            }
        }
        self.reply(from, |w| {
            packet::write_welcome(w, &nonce, resume.session, &msg2)
        });
        self.touch(resume.session);
    }
}

/// The answer to the first message that made (or last resumed) a session: a repeat of that
/// message gets the same answer, without DH.
#[derive(Debug)]
pub(in super::super) struct Welcome {
    /// The first message's ephemeral key, which tells a repeat from a new handshake under
    /// the same nonce (a client that got a fresh cookie).
    join_e: [u8; KEY_LEN],
    msg: Box<[u8]>,
}

fn session(
    conn: Connection,
    nonce: Nonce,
    token: Secret,
    keys: PacketKeys,
    peer_key: [u8; KEY_LEN],
    join_e: [u8; KEY_LEN],
    welcome: &[u8],
) -> super::Session {
    super::Session {
        conn,
        nonce,
        token,
        resume_counter: 0,
        crypto: Box::new(Crypto {
            keys,
            peer_key,
            welcome: Some(welcome_of(join_e, welcome)),
        }),
        timer: None,
        dirty: false,
        counted: true,
    }
}

/// What a repeat of the first message with ephemeral key `join_e` is answered with.
fn welcome_of(join_e: [u8; KEY_LEN], msg: &[u8]) -> Box<Welcome> {
    Box::new(Welcome {
        join_e,
        msg: msg.into(),
    })
}
