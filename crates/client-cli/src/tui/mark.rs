//! What a line of the full-screen client says about us: the delivery mark after one of our
//! messages (how each send state reads as one; it changes in place as the state does), and
//! whether someone else's line names us (a mention: marked in the buffer list, and copied to
//! the mentions buffer), and `/why`: what each `✗` in a buffer stands for.

use dgram_client::SendState;
use dgram_proto::Name;

use super::buffers::{Buffers, Line};
use crate::chat::render::clock;

/// Failed messages `/why` explains at most, the latest.
const EXPLAINED: usize = 5;

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

impl Buffers {
    /// Why the messages shown as failed in the buffer shown failed (the latest few), said in
    /// that buffer: the reason a `✗` stands for, on demand.
    pub(crate) fn explain(&mut self) {
        let b = &self.list[self.current];
        let failed: Vec<String> = b
            .lines
            .iter()
            .filter_map(|l| match &l.mark {
                Mark::Failed(why) => Some(format!("✗ \"{}\": {why}", preview(&l.text))),
                _ => None,
            })
            .collect();
        let from = failed.len().saturating_sub(EXPLAINED);
        let text = match failed.is_empty() {
            true => "no message here failed".to_owned(),
            false => failed[from..].join("\n"),
        };
        let line = Line {
            time: clock(None),
            from: None,
            text,
            mark: Mark::None,
        };
        self.list[self.current].push(line);
    }
}

/// A message's first words, to say which one a line is about.
fn preview(text: &str) -> String {
    let mut short: String = text.chars().take(24).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
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
