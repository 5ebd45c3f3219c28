//! A session's clock and its end: when it next needs a turn (idleness, keepalive, the
//! retransmission and ack timers, message deadlines, the pacer), what a timer that fired does,
//! and how it closes or moves to a new address. Kept apart from `conn.rs`, which reads and
//! writes packets.

use std::net::SocketAddr;
use std::time::Instant;

use super::super::send::Fired;
use super::super::{CloseReason, Config, Event, FailReason};
use super::{Connection, Role, CLOSE_REPEATS};

impl Connection {
    pub(crate) fn poll_timeout(&self, config: &Config) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        let idle = self.idle_deadline(config);
        let keepalive =
            (self.role == Role::Client).then(|| self.last_send.at(self.epoch) + config.keepalive);
        [
            Some(idle),
            keepalive,
            self.send.timer(&self.rtt, config),
            self.send.next_deadline(),
            self.recv.ack_due(config, self.epoch),
            self.send.pacing_deadline(config, self.rtt.pacing()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The deadlines that hold even while nothing may be sent: idleness and message expiry.
    pub(crate) fn poll_deadlines(&self, config: &Config) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        let idle = self.idle_deadline(config);
        Some(self.send.next_deadline().map_or(idle, |d| d.min(idle)))
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant, config: &Config, out: &mut Vec<Event>) {
        if self.closed.is_some() {
            return;
        }
        if now >= self.idle_deadline(config) {
            self.finish(CloseReason::TimedOut, 0, out);
            return;
        }
        for id in self.send.expire(now) {
            out.push(Event::Failed {
                id,
                reason: FailReason::Timeout,
            });
        }
        let persistent = self.counters.persistent;
        let fired = self
            .send
            .on_timers(now, &self.rtt, config, &mut self.counters);
        if self.counters.persistent != persistent {
            // As on an ack: the path may have stopped carrying the larger size.
            self.mtu.reset(self.peer);
        }
        if fired == Fired::Retransmit {
            self.rtt.back_off();
        }
        // Something must go out to find out whether the path still works.
        self.ping_pending |= fired != Fired::Nothing;
        if self.role == Role::Client && now >= self.last_send.at(self.epoch) + config.keepalive {
            self.ping_pending = true;
        }
    }

    /// Ends the session here: fails what is unacknowledged and says goodbye.
    pub(crate) fn close(&mut self, out: &mut Vec<Event>) {
        self.finish(CloseReason::Local, CLOSE_REPEATS, out);
    }

    pub(crate) fn finish(&mut self, reason: CloseReason, goodbyes: u8, out: &mut Vec<Event>) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason);
        self.closes_left = goodbyes;
        for id in self.send.abandon() {
            out.push(Event::Failed {
                id,
                reason: FailReason::SessionClosed(reason),
            });
        }
        out.push(Event::Closed { reason });
    }

    /// Moves the session to a new address of the peer's (a resume).
    pub(crate) fn migrate(&mut self, to: SocketAddr, now: Instant, out: &mut Vec<Event>) {
        let from = std::mem::replace(&mut self.peer, to);
        self.heard(now);
        if from != to {
            out.push(Event::Migrated { from, to });
        }
        // What was in flight went to the old address: send it again, blaming no congestion.
        self.send.resend_all(from != to);
        self.rtt.reset_backoff();
        // A resume may come over another path (a new address, or the same after a NAT
        // rebinding): what the old one carried proves nothing.
        self.mtu.reset(to);
        self.ping_pending = true;
    }
}
