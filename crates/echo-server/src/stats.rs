//! Counters of what the server received and did, and the periodic summary of rejected input
//! (rejections are never logged one by one above debug: a flood would flood the log too).

use dgram_proto::echo::{Answer, Drop, ReplyKind};

use crate::Error;

/// What the server has done since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Datagrams received.
    pub received: u64,
    /// Plain datagrams answered upper-cased.
    pub plain: u64,
    /// Echo requests answered.
    pub echoed: u64,
    /// Malformed envelopes answered with an error.
    pub errors_sent: u64,
    /// Not answered: over the sender's rate limit.
    pub rate_limited: u64,
    /// Not answered: from our own port.
    pub own_port: u64,
    /// Not answered: from port 0 or below 1024.
    pub reserved_port: u64,
    /// Not answered: a reply or an error, not a request.
    pub not_request: u64,
    /// Not answered: over the datagram limit.
    pub oversized: u64,
    /// Not answered: malformed, with no room for an error reply.
    pub malformed: u64,
    /// Not answered: our own recent reply coming back (an echo loop).
    pub looped: u64,
    /// Not answered: a plain datagram over its source's plain-reply rate.
    pub plain_limited: u64,
    /// Replies the system refused to send.
    pub send_failed: u64,
    /// Receive calls that failed.
    pub recv_failed: u64,
}

impl Totals {
    pub(crate) fn record(&mut self, result: &Result<Answer, Error>) {
        match result {
            Ok(Answer::Reply { kind, .. }) => match kind {
                ReplyKind::Plain => self.plain += 1,
                ReplyKind::Echo => self.echoed += 1,
                ReplyKind::Error => self.errors_sent += 1,
            },
            Ok(Answer::Drop(why)) => match why {
                Drop::OwnPort => self.own_port += 1,
                Drop::ReservedPort => self.reserved_port += 1,
                Drop::NotARequest(_) => self.not_request += 1,
                Drop::Oversized(_) => self.oversized += 1,
                Drop::Malformed(_) => self.malformed += 1,
                Drop::Looped => self.looped += 1,
                Drop::PlainRateLimited => self.plain_limited += 1,
            },
            Err(_) => self.rate_limited += 1,
        }
    }

    /// Datagrams that got no answer because of what they were or who sent them.
    pub fn rejected(&self) -> u64 {
        self.rate_limited
            + self.own_port
            + self.reserved_port
            + self.not_request
            + self.oversized
            + self.malformed
            + self.looped
            + self.plain_limited
            + self.errors_sent
    }

    /// Logs what was rejected since `last`, if anything, at warn.
    pub(crate) fn summarize_since(&self, last: &Totals) {
        if self.rejected() == last.rejected() && self.send_failed == last.send_failed {
            return;
        }
        tracing::warn!(
            rate_limited = self.rate_limited - last.rate_limited,
            own_port = self.own_port - last.own_port,
            reserved_port = self.reserved_port - last.reserved_port,
            not_request = self.not_request - last.not_request,
            oversized = self.oversized - last.oversized,
            malformed = self.malformed - last.malformed + self.errors_sent - last.errors_sent,
            looped = self.looped - last.looped,
            plain_limited = self.plain_limited - last.plain_limited,
            send_failed = self.send_failed - last.send_failed,
            "rejected datagrams since the last summary"
        );
    }
}
