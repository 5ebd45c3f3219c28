//! Scroll-back past what a buffer holds: the first PageUp that goes beyond its oldest line
//! asks the server for the conversation's history (the most one answer carries), and a
//! history answer, asked for that way or with `/history`, puts the messages older than any
//! held in front of the buffer, in order, with a line saying how many came. The server only
//! answers with a conversation's newest messages, so what is older than its newest 200 is not
//! reached this way.

use dgram_proto::chat::{Posted, Target};

use super::buffers::{Buffers, Line, Mark};
use crate::chat::render::clock;

/// Messages asked for when scrolling back past what is held (the server's cap).
pub(crate) const HISTORY_ASK: u32 = 200;

impl Buffers {
    /// After a PageUp: the conversation whose history to ask for, once, when the buffer shown
    /// is scrolled back past the lines it holds.
    pub(crate) fn wants_history(&mut self) -> Option<Target> {
        let b = &mut self.list[self.current];
        let target = b.target.clone()?;
        if b.asked || b.scroll < b.lines.len() {
            return None;
        }
        b.asked = true;
        Some(target)
    }

    /// A history answer: its messages older than any held go in front of their buffer.
    pub(crate) fn history(&mut self, with: &Target, messages: &[Posted]) {
        let i = self.index(with);
        let b = &mut self.list[i];
        let oldest = b.ids.first().copied();
        let older: Vec<&Posted> = messages
            .iter()
            .filter(|p| oldest.is_none_or(|o| p.id < o) && !b.ids.contains(&p.id))
            .collect();
        for posted in older.iter().rev() {
            b.lines.push_front(Line {
                time: clock(Some(posted.ts)),
                from: Some(posted.from.clone()),
                text: posted.text.clone(),
                mark: Mark::None,
            });
            b.first -= 1;
            b.ids.insert(posted.id);
        }
        let said = match older.len() {
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
