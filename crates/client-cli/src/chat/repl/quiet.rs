//! Which notes the line client shows: quiet and honest status. A message typed at the prompt
//! is its own line (the input stays on the screen); its states add a short line only when
//! something went wrong or it waits: queued until connected, held for an offline recipient,
//! not delivered, refused. A message that waited gets a line when it goes out after all, and
//! one that was held gets one when it is delivered, so that every line saying it waits is
//! followed by one saying it no longer does. Receipts for what our name sent from another
//! session are shown only when they are not good news.
//!
//! Everything that is not about our own sends is shown as it comes.

use std::collections::HashSet;

use dgram_client::{Note, SendState};
use dgram_proto::RequestId;

/// What the line client has said about its messages, to say the rest only when it matters.
#[derive(Debug, Default)]
pub(super) struct Quiet {
    /// Messages a line said wait (queued, or held for their recipient).
    waiting: HashSet<RequestId>,
}

impl Quiet {
    /// Whether `note` gets a line.
    pub(super) fn shows(&mut self, note: &Note) -> bool {
        match note {
            Note::Sent { msg, state, .. } => self.state(msg.req, state),
            Note::State { msg, state, .. } => self.state(msg.req, state),
            Note::Receipt { state, .. } => !matches!(state, SendState::Delivered),
            Note::Connected { .. }
            | Note::Disconnected { .. }
            | Note::Moved(_)
            | Note::LookupFailed(_)
            | Note::Welcome { .. }
            | Note::Refused { .. }
            | Note::Message { .. }
            | Note::Presence { .. }
            | Note::Joined { .. }
            | Note::Parted { .. }
            | Note::Rooms(_)
            | Note::Who { .. }
            | Note::Topic { .. }
            | Note::Away(_)
            | Note::History { .. }
            | Note::Whois { .. }
            | Note::Failed { .. }
            | Note::Error { .. } => true,
        }
    }

    fn state(&mut self, req: RequestId, state: &SendState) -> bool {
        match state {
            // The input line is the message's line.
            SendState::Sending => false,
            SendState::Queued | SendState::Held(_) => {
                self.waiting.insert(req);
                true
            }
            // Gone out after waiting: said once; what comes after is news only if bad.
            SendState::Accepted => self.waiting.remove(&req),
            SendState::Delivered => self.waiting.remove(&req),
            SendState::NotDelivered(_) | SendState::Refused { .. } => {
                self.waiting.remove(&req);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dgram_client::Outgoing;
    use dgram_proto::chat::Target;
    use dgram_proto::Name;

    use super::*;

    fn msg(req: RequestId) -> Outgoing {
        Outgoing {
            req,
            to: Target::User(Name::new("alex").expect("name")),
            preview: "hi".into(),
        }
    }

    fn sent(req: RequestId, state: SendState) -> Note {
        Note::Sent {
            msg: msg(req),
            text: "hi".into(),
            state,
        }
    }

    fn state(req: RequestId, state: SendState) -> Note {
        Note::State {
            msg: msg(req),
            id: Some(9),
            state,
        }
    }

    /// Which of the notes show, in order.
    fn shown(notes: &[Note]) -> Vec<bool> {
        let mut quiet = Quiet::default();
        notes.iter().map(|n| quiet.shows(n)).collect()
    }

    #[test]
    fn a_message_that_goes_well_is_one_line_the_input() {
        let notes = [
            sent(1, SendState::Sending),
            state(1, SendState::Accepted),
            state(1, SendState::Delivered),
        ];
        assert_eq!(shown(&notes), [false, false, false]);
    }

    #[test]
    fn waiting_is_said_and_so_is_its_end() {
        let queued = [
            sent(1, SendState::Queued),
            state(1, SendState::Sending),
            state(1, SendState::Accepted),
            state(1, SendState::Delivered),
        ];
        assert_eq!(shown(&queued), [true, false, true, false]);
        let held = [
            sent(2, SendState::Sending),
            state(2, SendState::Accepted),
            state(2, SendState::Held("alex is offline; queued".into())),
            state(2, SendState::Delivered),
        ];
        assert_eq!(shown(&held), [false, false, true, true]);
    }

    #[test]
    fn failures_are_always_said() {
        let failed = [
            sent(1, SendState::Sending),
            state(1, SendState::NotDelivered("timed out".into())),
        ];
        assert_eq!(shown(&failed), [false, true]);
        let elsewhere = |state| Note::Receipt {
            id: 57,
            about: None,
            state,
        };
        let receipts = [
            elsewhere(SendState::Delivered),
            elsewhere(SendState::NotDelivered("a session failed".into())),
        ];
        assert_eq!(shown(&receipts), [false, true]);
    }
}
