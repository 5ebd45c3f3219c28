//! Sends made again: a client sends a message once more, with the same client-chosen id
//! (`txn`), when its session failed before the answer came. The server remembers each user's
//! latest messages by that id (in memory and on disk, so that this holds across a crash) and
//! answers a resend with the original's id and timestamp instead of storing and delivering it
//! a second time. What a resend carries besides its id is not compared: the id names the
//! message, as a Matrix transaction id does.

use dgram_proto::chat::{ServerMsg, Txn};
use dgram_proto::Name;
use dgram_proto::RequestId;

use super::effects::Effects;
use super::op::Op;
use super::pending::Pending;
use super::state::Sent;
use super::ChatCore;

impl ChatCore {
    /// The answer to a resend of a message `key`'s user already sent as `txn`, or `None` when
    /// this is the first time.
    pub(super) fn resent(
        &mut self,
        key: &str,
        session: dgram_proto::session::SessionId,
        req: RequestId,
        txn: Txn,
        pending: &Pending,
    ) -> Option<Effects> {
        let user = self.state.users.get(key)?;
        let sent = *user.activity().sent.iter().rev().find(|s| s.txn == txn)?;
        let name = user.name.clone();
        self.stats.resends += 1;
        tracing::debug!(user = %name, txn, id = sent.id, "a resend, answered with the original");
        let mut fx = self.effects();
        if pending.holds_post(sent.id) {
            // The original still waits for its commit: so does this answer (tickets commit in
            // order), or a crash now could leave a message acknowledged that was never stored.
            fx.log(sent_op(name, sent));
        }
        let Sent { id, ts, .. } = sent;
        fx.send(session, ServerMsg::Accepted { req, id, ts });
        Some(fx)
    }

    /// Remembers that `key`'s user sent `sent`; the oldest beyond the cap is forgotten.
    pub(super) fn remember_sent(&mut self, fx: &mut Effects, key: &str, sent: Sent) {
        let cap = self.config.sent_per_user.max(1);
        let Some(user) = self.state.users.get_mut(key) else {
            return;
        };
        user.remember(sent, cap);
        fx.log(sent_op(user.name.clone(), sent));
    }
}

fn sent_op(user: Name, sent: Sent) -> Op {
    let Sent { txn, id, ts } = sent;
    Op::Sent { user, txn, id, ts }
}
