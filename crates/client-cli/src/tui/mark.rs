//! What a line of the full-screen client says about us: the delivery mark after one of our
//! messages (how each send state reads as one; it changes in place as the state does), and
//! whether someone else's line names us (a mention: marked in the buffer list, and copied to
//! the mentions buffer).

use dgram_client::SendState;
use dgram_proto::Name;

/// Where one of our messages stands, as a mark after its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Not one of our messages.
    None,
    /// Waiting for the session (`⧗`), or held by the server for an offline recipient.
    Waiting,
    /// On its way (`…`).
    Sending,
    /// The server has it (`✓`).
    Accepted,
    /// Every recipient has it (`✓✓`).
    Delivered,
    /// It failed (`✗`), and why.
    Failed(String),
}

impl Mark {
    pub(crate) fn of(state: &SendState) -> Self {
        match state {
            SendState::Queued | SendState::Held(_) => Mark::Waiting,
            SendState::Sending => Mark::Sending,
            SendState::Accepted => Mark::Accepted,
            SendState::Delivered => Mark::Delivered,
            SendState::NotDelivered(why) => Mark::Failed(why.clone()),
            SendState::Refused { message, .. } => Mark::Failed(message.clone()),
        }
    }

    /// The mark as shown.
    pub(crate) fn symbol(&self) -> &'static str {
        match self {
            Mark::None => "",
            Mark::Waiting => "⧗",
            Mark::Sending => "…",
            Mark::Accepted => "✓",
            Mark::Delivered => "✓✓",
            Mark::Failed(_) => "✗",
        }
    }
}

/// Whether `text` names `me` as a word of its own (ignoring case).
pub(super) fn mentions(text: &str, me: &Name) -> bool {
    let me = me.as_str().to_lowercase();
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
        // A name may hold dots and dashes, but a sentence may end in one too.
        .any(|w| w == me || w.trim_matches(['.', '-']) == me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_its_mark() {
        let marks: Vec<&str> = [
            SendState::Queued,
            SendState::Sending,
            SendState::Accepted,
            SendState::Delivered,
            SendState::Held("alex is offline; queued until they return".into()),
            SendState::NotDelivered("timed out".into()),
        ]
        .iter()
        .map(|s| Mark::of(s).symbol())
        .collect();
        assert_eq!(marks, ["⧗", "…", "✓", "✓✓", "⧗", "✗"]);
        assert_eq!(Mark::None.symbol(), "");
    }

    #[test]
    fn a_mention_is_the_name_as_a_word() {
        let me = Name::new("Egon").expect("name");
        assert!(mentions("egon, look", &me));
        assert!(mentions("ask EGON.", &me));
        assert!(!mentions("egonomics", &me));
        assert!(!mentions("nothing here", &me));
    }
}
