//! The full-screen client's keys: the input line (editing, its history, a paste kept as one
//! message with its line breaks), the keys that switch buffers (Alt-1..9, Ctrl-N/P,
//! Alt-Left/Right), scroll (PageUp/PageDown, the mouse wheel) or leave (Ctrl-D on an empty
//! line). What a finished line means is the
//! loop's business.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

/// Rows one PageUp or PageDown moves.
pub(crate) const PAGE: usize = 10;

/// Rows one turn of the mouse wheel moves.
pub(crate) const WHEEL: usize = 3;

/// What a key (or a paste) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Act {
    /// Nothing beyond redrawing the input line.
    Edit,
    /// A finished line.
    Submit(String),
    /// Show buffer N (from 0).
    Select(usize),
    /// The next (true) or previous buffer.
    Cycle(bool),
    /// Scroll back (`up`) or forward by `rows` (a page, or the wheel's few).
    Scroll { up: bool, rows: usize },
    /// Tab: complete the word before the cursor ([`Input::complete`]).
    Complete,
    /// Leave.
    Quit,
    /// Not a key for us (a resize, a release): redraw.
    Other,
}

/// The input line and its history.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub(crate) text: String,
    /// The cursor, in characters.
    pub(crate) cursor: usize,
    history: Vec<String>,
    /// Where Up/Down is in the history (`None`: at the line being typed).
    at: Option<usize>,
}

impl Input {
    /// With an earlier run's history, oldest first.
    pub(crate) fn with_history(history: Vec<String>) -> Self {
        Self {
            history,
            ..Self::default()
        }
    }

    /// What an event asks for.
    pub(crate) fn event(&mut self, event: &Event) -> Act {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.key(key),
            Event::Paste(text) => {
                self.insert(&text.replace("\r\n", "\n").replace('\r', "\n"));
                Act::Edit
            }
            Event::Mouse(mouse) => match mouse.kind {
                MouseEventKind::ScrollUp => Act::Scroll {
                    up: true,
                    rows: WHEEL,
                },
                MouseEventKind::ScrollDown => Act::Scroll {
                    up: false,
                    rows: WHEEL,
                },
                _ => Act::Other,
            },
            _ => Act::Other,
        }
    }

    fn key(&mut self, key: &KeyEvent) -> Act {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char(c @ '1'..='9') if alt => Act::Select(usize::from(c as u8 - b'1')),
            KeyCode::Char('n') if ctrl => Act::Cycle(true),
            KeyCode::Char('p') if ctrl => Act::Cycle(false),
            KeyCode::Right if alt => Act::Cycle(true),
            KeyCode::Left if alt => Act::Cycle(false),
            KeyCode::Char('d') if ctrl && self.text.is_empty() => Act::Quit,
            KeyCode::Char('c') | KeyCode::Char('u') if ctrl => {
                self.text.clear();
                self.cursor = 0;
                Act::Edit
            }
            KeyCode::Char(c) if !ctrl && !alt => {
                self.insert(&c.to_string());
                Act::Edit
            }
            KeyCode::Enter => {
                let line = std::mem::take(&mut self.text);
                self.cursor = 0;
                self.at = None;
                if !line.trim().is_empty() && self.history.last() != Some(&line) {
                    self.history.push(line.clone());
                }
                Act::Submit(line)
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.text.remove(self.byte(self.cursor));
                Act::Edit
            }
            KeyCode::Delete if self.cursor < self.text.chars().count() => {
                self.text.remove(self.byte(self.cursor));
                Act::Edit
            }
            KeyCode::Left => self.move_to(self.cursor.saturating_sub(1)),
            KeyCode::Right => self.move_to(self.cursor + 1),
            KeyCode::Home => self.move_to(0),
            KeyCode::End => self.move_to(usize::MAX),
            KeyCode::Tab => Act::Complete,
            KeyCode::PageUp => Act::Scroll {
                up: true,
                rows: PAGE,
            },
            KeyCode::PageDown => Act::Scroll {
                up: false,
                rows: PAGE,
            },
            KeyCode::Up => self.recall(true),
            KeyCode::Down => self.recall(false),
            _ => Act::Other,
        }
    }

    /// Puts `text` in the input line, the cursor at its end (a text given back).
    pub(crate) fn set(&mut self, text: String) {
        self.cursor = text.chars().count();
        self.text = text;
        self.at = None;
    }

    fn insert(&mut self, s: &str) {
        let at = self.byte(self.cursor);
        self.text.insert_str(at, s);
        self.cursor += s.chars().count();
    }

    fn move_to(&mut self, cursor: usize) -> Act {
        self.cursor = cursor.min(self.text.chars().count());
        Act::Edit
    }

    /// Up (older) or Down (newer) through the history.
    fn recall(&mut self, older: bool) -> Act {
        let n = self.history.len();
        let at = match (self.at, older) {
            (None, true) if n > 0 => Some(n - 1),
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < n => Some(i + 1),
            (Some(_), false) => None,
            (None, _) => return Act::Edit,
        };
        self.at = at;
        self.text = at.map(|i| self.history[i].clone()).unwrap_or_default();
        self.cursor = self.text.chars().count();
        Act::Edit
    }

    /// Completes the word before the cursor from `words` (ignoring case): the one that fits,
    /// with a space after it, or as much as all that fit share.
    pub(crate) fn complete(&mut self, words: &[String]) {
        let end = self.byte(self.cursor);
        let start = self.text[..end]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = self.text[start..end].to_lowercase();
        if word.is_empty() {
            return;
        }
        let fits: Vec<&String> = words
            .iter()
            .filter(|w| w.to_lowercase().starts_with(&word))
            .collect();
        let Some(first) = fits.first() else { return };
        let with = match fits.len() {
            1 => format!("{first} "),
            _ => {
                let shared = first
                    .chars()
                    .enumerate()
                    .take_while(|(i, c)| fits.iter().all(|w| w.chars().nth(*i) == Some(*c)));
                shared.map(|(_, c)| c).collect()
            }
        };
        if with.chars().count() < word.chars().count() {
            return;
        }
        self.text.replace_range(start..end, &with);
        self.cursor = self.text[..start].chars().count() + with.chars().count();
    }

    /// The byte offset of character `i`.
    fn byte(&self, i: usize) -> usize {
        self.text
            .char_indices()
            .nth(i)
            .map_or(self.text.len(), |(b, _)| b)
    }

    /// The history, oldest first (to keep it between runs).
    pub(crate) fn history(&self) -> &[String] {
        &self.history
    }
}
