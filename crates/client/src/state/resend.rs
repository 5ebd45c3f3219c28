//! Messages sent again. Each message gets a client-chosen id (`txn`) when the user sends it;
//! when the session message carrying it fails before the server's answer came (the session
//! timed out, the server restarted and forgot the session), the message goes back to the
//! outbox (said as queued) and out again, with the same request and the same `txn`, once a
//! session is back.
//! The server stores a message once per sender and `txn` and answers a resend of a stored
//! one with the original's id, so the user sees one final state for it and the recipient
//! one copy, whether or not the first try was stored.
//!
//! Ids are a counter from a random base, not a random number per message: two messages of one
//! client can then never share an id, and two clients of one name (a laptop and a phone)
//! collide only if their bases fall within a few thousand of each other in 2^64.

use dgram_proto::chat::Txn;
use dgram_proto::RequestId;

use super::requests::Purpose;
use super::{Chat, Phase};
use crate::note::{Note, SendState};

/// How many times one message is handed to a session before it is reported not delivered: a
/// message that fails on this many sessions in a row is not going to get through by itself.
pub(super) const MAX_SENDS: u8 = 5;

/// A random first id, from the same per-process randomness as the session's seed.
pub(super) fn txn_base() -> Txn {
    let seed = crate::wire::seed();
    let mut word = [0u8; 8];
    word.copy_from_slice(&seed[..8]);
    Txn::from_le_bytes(word)
}

impl Chat {
    /// The id for a new message.
    pub(super) fn new_txn(&mut self) -> Txn {
        let txn = self.next_txn;
        self.next_txn = self.next_txn.wrapping_add(1);
        txn
    }

    /// The session message carrying `req` failed. A message not yet answered goes out again
    /// (now, if the session is still up; otherwise once one is back), unless it has been
    /// tried [`MAX_SENDS`] times; anything else has failed.
    pub(super) fn lost(&mut self, req: RequestId, reason: String) {
        let Some(r) = self.requests.get_mut(&req) else {
            return;
        };
        if !r.purpose.is_send() || r.sends >= MAX_SENDS {
            self.fail(req, reason);
            return;
        }
        r.msg_id = None;
        tracing::debug!(req, sends = r.sends, %reason, "a message not answered goes again");
        if self.phase == Phase::Ready {
            self.transmit(req);
        } else {
            self.wait_in_order(req);
        }
    }

    /// Puts `req`, which did not go out after all, back in the outbox in request order: ahead
    /// of anything asked for later, so that messages lost together go again in their order.
    /// The try that did not happen is not counted.
    pub(super) fn requeue(&mut self, req: RequestId) {
        let Some(r) = self.requests.get_mut(&req) else {
            return;
        };
        r.sends = r.sends.saturating_sub(1);
        self.wait_in_order(req);
    }

    /// A message put back in the outbox waits for a session now, and says so: the front end
    /// showed it as sending, and a line that waits is followed by one when it goes out.
    fn wait_in_order(&mut self, req: RequestId) {
        if self.outbox.contains(&req) {
            return;
        }
        let at = self.outbox.partition_point(|&q| q < req);
        self.outbox.insert(at, req);
        if let Some(Purpose::Send(msg)) = self.requests.get(&req).map(|r| &r.purpose) {
            let msg = msg.clone();
            let state = SendState::Queued;
            self.show(Note::State {
                msg,
                id: None,
                state,
            });
        }
    }
}
