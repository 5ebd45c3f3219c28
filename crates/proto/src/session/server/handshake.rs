//! The server's handshake half: a Join that echoes a valid cookie creates a session, and a
//! resume proves its token to move one to a new address. Split from `server.rs` by what it does.

use std::net::SocketAddr;
use std::time::Instant;

use super::super::conn::{Connection, Role};
use super::super::crypto::{self, resume_proof};
use super::super::packet::{self, Nonce, Resume, Secret};
use super::super::{Event, RejectReason};
use super::Server;

impl Server {
    pub(super) fn join(
        &mut self,
        now: Instant,
        from: SocketAddr,
        nonce: Nonce,
        cookie: Secret,
        resume: Option<Resume>,
    ) {
        if !self.cookies.check(from, &nonce, &cookie, now) {
            self.stats.bad_cookie += 1;
            return;
        }
        if let Some(resume) = resume {
            return self.resume(now, from, nonce, resume);
        }
        if let Some(&id) = self.by_addr.get(&from) {
            if let Some(s) = self.sessions.get(&id) {
                if s.nonce == nonce {
                    // Our welcome was lost and the client asks again: same answer, no new state.
                    let token = s.token;
                    self.reply(from, |w| packet::write_welcome(w, &nonce, id, &token));
                    return;
                }
            }
            // The same address starts over (a restarted client): the old session is done.
            self.end(id, super::super::CloseReason::Replaced);
            self.per_ip.remove(id);
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
        let conn = Connection::new(id, from, Role::Server, now);
        self.sessions.insert(
            id,
            Box::new(super::Session {
                conn,
                nonce,
                token,
                resume_counter: 0,
                timer: None,
                dirty: false,
            }),
        );
        self.by_addr.insert(from, id);
        self.per_ip.insert(id, from.ip());
        self.events.push_back((id, Event::Accepted { peer: from }));
        self.reply(from, |w| packet::write_welcome(w, &nonce, id, &token));
        self.touch(id);
    }

    pub(super) fn resume(&mut self, now: Instant, from: SocketAddr, nonce: Nonce, resume: Resume) {
        let Some(s) = self.sessions.get_mut(&resume.session) else {
            self.stats.rejected += 1;
            self.reply(from, |w| {
                packet::write_reject(w, &nonce, RejectReason::UnknownSession)
            });
            return;
        };
        let expected = resume_proof(&s.token, resume.session, resume.counter);
        let proven = crypto::same(&expected, &resume.proof);
        if proven && resume.counter <= s.resume_counter && s.nonce == nonce {
            // A duplicate of the resume already accepted: answer it again, harmlessly.
            let token = s.token;
            self.reply(from, |w| {
                packet::write_welcome(w, &nonce, resume.session, &token)
            });
            return;
        }
        if !proven || resume.counter <= s.resume_counter {
            self.stats.rejected += 1;
            self.reply(from, |w| {
                packet::write_reject(w, &nonce, RejectReason::BadProof)
            });
            return;
        }
        s.resume_counter = resume.counter;
        s.nonce = nonce;
        let old = s.conn.peer;
        s.conn.migrate(from, now, &mut self.conn_events);
        let token = s.token;
        // Its Migrated is its own: collected before a displaced session's end collects
        // whatever is pending as that session's.
        self.collect(resume.session);
        if old != from {
            self.per_ip.insert(resume.session, from.ip());
            self.by_addr.remove(&old);
            if let Some(displaced) = self.by_addr.insert(from, resume.session) {
                if displaced != resume.session {
                    self.end(displaced, super::super::CloseReason::Replaced);
                    self.by_addr.insert(from, resume.session);
                }
            }
        }
        self.reply(from, |w| {
            packet::write_welcome(w, &nonce, resume.session, &token)
        });
        self.touch(resume.session);
    }
}
