//! Scroll-back past what a buffer holds: a PageUp (or the wheel) that goes beyond its oldest
//! line asks the server for the 200 messages before the oldest one held, and again each time
//! the answer has come and the view is past the oldest once more, until the server has nothing
//! older (the start of the conversation is marked) or the buffer holds [`KEEP`] lines. A
//! history answer, asked for that way or with `/history`, puts the messages older than any
//! held in front of the buffer, in order; `/history`'s says how many came.
//!
//! Memory stays bounded: a buffer holds at most [`KEEP`] lines and the ids of as many
//! messages, whatever is loaded; the newest lines push the oldest out.

use dgram_proto::chat::{ChatId, Posted, Target};

use super::buffers::{Buffers, Line, Mark};
use crate::chat::render::clock;

/// Lines kept per buffer; older ones are dropped (the server keeps the history).
pub(crate) const KEEP: usize = 2000;

/// Messages asked for when scrolling back past what is held (the server's cap).
pub(crate) const HISTORY_ASK: u32 = 200;

/// Where a buffer's scroll-back stands with the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Back {
    /// A history request is on its way (one at a time).
    pub(crate) asked: bool,
    /// The server had nothing older: the buffer starts where the conversation does.
    pub(crate) started: bool,
}

impl Buffers {
    /// After a PageUp: the conversation to ask for history before the oldest message held
    /// (`None`: before the newest), when the buffer shown is scrolled back past the lines it
    /// holds, nothing is asked yet, and more may come.
    pub(crate) fn wants_history(&mut self) -> Option<(Target, Option<ChatId>)> {
        let b = &mut self.list[self.current];
        let target = b.target.clone()?;
        let full = b.lines.len() >= KEEP;
        if b.back.asked || b.back.started || full || b.scroll < b.lines.len() {
            return None;
        }
        b.back.asked = true;
        Some((target, b.ids.first().copied()))
    }

    /// A history answer: its messages older than any held go in front of their buffer, as
    /// many as fit in [`KEEP`] lines.
    pub(crate) fn history(&mut self, with: &Target, messages: &[Posted]) {
        let i = self.index(with);
        let b = &mut self.list[i];
        let scrolled = std::mem::take(&mut b.back.asked);
        let oldest = b.ids.first().copied();
        let older: Vec<&Posted> = messages
            .iter()
            .filter(|p| oldest.is_none_or(|o| p.id < o) && !b.ids.contains(&p.id))
            .collect();
        let room = KEEP.saturating_sub(b.lines.len());
        let kept = &older[older.len().saturating_sub(room)..];
        for posted in kept.iter().rev() {
            b.put_front(Line {
                time: clock(Some(posted.ts)),
                from: Some(posted.from.clone()),
                text: posted.text.clone(),
                mark: Mark::None,
            });
            b.ids.insert(posted.id);
        }
        let front = match (older.is_empty(), kept.len() < older.len()) {
            (true, _) if scrolled => Some(format!("— the start of the conversation with {with} —")),
            (false, true) => Some(format!(
                "— older lines are not kept here (at most {KEEP}) —"
            )),
            _ => None,
        };
        b.back.started |= front.is_some();
        if let Some(text) = front {
            b.put_front(Line {
                time: String::new(),
                from: None,
                text,
                mark: Mark::None,
            });
        }
        if scrolled {
            return;
        }
        let said = match kept.len() {
            0 => format!("no history with {with} older than what is here"),
            n => format!("{n} earlier message(s) with {with} loaded above"),
        };
        b.push(Line {
            time: clock(None),
            from: None,
            text: said,
            mark: Mark::None,
        });
    }
}
