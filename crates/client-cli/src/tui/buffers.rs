//! The full-screen client's model, free of the terminal: a server buffer and one buffer per
//! conversation (each DM partner, each room), the one shown, unread counts and mentions, and
//! each line with its delivery mark, which a later note changes in place. [`Buffers::note`]
//! takes in every note of the session; the view only reads.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use dgram_client::{Note, SendState};

use super::history::{Back, KEEP};
use super::mark::mentions;
pub(crate) use super::mark::Mark;
use dgram_proto::chat::{ChatId, Posted, Presence, Target};
use dgram_proto::{Name, RequestId};

use crate::chat::render::{clock, Render};

/// One line of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Local time, HH:MM:SS.
    pub(crate) time: String,
    /// Who said it (none for the client's own news).
    pub(crate) from: Option<Name>,
    pub(crate) text: String,
    pub(crate) mark: Mark,
}

/// A conversation, or the server buffer (`target: None`).
#[derive(Debug, Clone)]
pub(crate) struct Buffer {
    pub(crate) target: Option<Target>,
    pub(crate) lines: VecDeque<Line>,
    /// The number of the first line held: lines dropped from the front raise it, history
    /// put in front lowers it, so that a line's number stays its own.
    pub(super) first: i64,
    /// The server ids of the messages held, to put only older history in front.
    pub(super) ids: BTreeSet<ChatId>,
    /// Scrolling back past what is held: asked the server, or reached the start.
    pub(super) back: Back,
    pub(crate) unread: usize,
    /// A line since it was last shown names us.
    pub(crate) mentioned: bool,
    pub(crate) topic: String,
    /// A room's members, by name key, as the server last listed them and presence since.
    pub(crate) members: BTreeMap<String, Name>,
    /// How many rows back from the newest the view is scrolled (PageUp/PageDown).
    pub(crate) scroll: usize,
    /// The mentions buffer: every line that names us, from any conversation (as tiny has).
    pub(crate) mentions: bool,
}

impl Buffer {
    fn new(target: Option<Target>) -> Self {
        Self {
            target,
            lines: VecDeque::new(),
            first: 0,
            ids: BTreeSet::new(),
            back: Back::default(),
            unread: 0,
            mentioned: false,
            topic: String::new(),
            members: BTreeMap::new(),
            scroll: 0,
            mentions: false,
        }
    }

    /// The buffer's name in the list and the title.
    pub(crate) fn title(&self) -> String {
        match (&self.target, self.mentions) {
            (None, false) => "server".to_owned(),
            (None, true) => "mentions".to_owned(),
            (Some(t), _) => t.to_string(),
        }
    }

    /// Adds a line, and returns its number.
    pub(crate) fn push(&mut self, line: Line) -> i64 {
        self.lines.push_back(line);
        while self.lines.len() > KEEP {
            self.lines.pop_front();
            self.first += 1;
            // What was dropped may be where the conversation starts.
            self.back.started = false;
        }
        // The oldest ids go with the oldest lines.
        while self.ids.len() > KEEP {
            self.ids.pop_first();
        }
        self.first + self.lines.len() as i64 - 1
    }

    /// Puts a line in front of the oldest (history), keeping every line's number.
    pub(super) fn put_front(&mut self, line: Line) {
        self.lines.push_front(line);
        self.first -= 1;
    }

    fn line_mut(&mut self, number: i64) -> Option<&mut Line> {
        let at = usize::try_from(number - self.first).ok()?;
        self.lines.get_mut(at)
    }
}

/// Every buffer, the one shown, and where our messages' lines are.
#[derive(Debug)]
pub(crate) struct Buffers {
    pub(crate) list: Vec<Buffer>,
    pub(crate) current: usize,
    pub(super) me: Name,
    /// Our messages' lines: the conversation and the line's number.
    sent: HashMap<RequestId, (Target, i64)>,
    /// The server buffer's lines, in the line client's words.
    render: Render,
}

impl Buffers {
    pub(crate) fn new(me: Name, render: Render) -> Self {
        Self {
            list: vec![Buffer::new(None)],
            current: 0,
            me,
            sent: HashMap::new(),
            render,
        }
    }

    pub(crate) fn current(&self) -> &Buffer {
        &self.list[self.current]
    }

    /// Shows buffer `i` (from 0), if there is one; its unread count is cleared.
    pub(crate) fn select(&mut self, i: usize) {
        if let Some(b) = self.list.get_mut(i) {
            b.unread = 0;
            b.mentioned = false;
            self.current = i;
        }
    }

    /// Scrolls the buffer shown back (`up`) or forward by `rows`.
    pub(crate) fn scroll(&mut self, up: bool, rows: usize) {
        let b = &mut self.list[self.current];
        b.scroll = match up {
            true => b.scroll.saturating_add(rows),
            false => b.scroll.saturating_sub(rows),
        };
    }

    /// Shows the next buffer (`step` 1) or the one before (`step` -1), round the list.
    pub(crate) fn cycle(&mut self, forward: bool) {
        let n = self.list.len();
        let i = if forward {
            self.current + 1
        } else {
            self.current + n - 1
        };
        self.select(i % n);
    }

    /// Opens (or finds) the buffer for `target` and shows it.
    pub(crate) fn open(&mut self, target: &Target) {
        let i = self.index(target);
        self.select(i);
    }

    /// Closes the buffer shown (never the server buffer); returns what it was about.
    pub(crate) fn close(&mut self) -> Option<Target> {
        if self.current == 0 {
            return None;
        }
        let gone = self.list.remove(self.current);
        self.current -= 1;
        gone.target
    }

    pub(super) fn index(&mut self, target: &Target) -> usize {
        let found = self
            .list
            .iter()
            .position(|b| b.target.as_ref() == Some(target));
        found.unwrap_or_else(|| {
            self.list.push(Buffer::new(Some(target.clone())));
            self.list.len() - 1
        })
    }

    /// Adds a line to `target`'s buffer (the server buffer for `None`), counting it unread and
    /// noting a mention when the buffer is not shown. Returns the line's number.
    pub(super) fn add(&mut self, target: Option<&Target>, line: Line) -> i64 {
        let i = target.map_or(0, |t| self.index(t));
        let mention = line.from.as_ref().is_some_and(|f| f.key() != self.me.key())
            && mentions(&line.text, &self.me);
        if let (true, Some(target)) = (mention, target) {
            self.mentioned(target, &line);
        }
        let shown = i == self.current;
        let b = &mut self.list[i];
        if !shown {
            b.unread += 1;
            b.mentioned |= mention;
        }
        b.push(line)
    }

    /// A line that names us, copied to the mentions buffer (opened if need be), with where it
    /// was said.
    fn mentioned(&mut self, target: &Target, line: &Line) {
        let i = match self.list.iter().position(|b| b.mentions) {
            Some(i) => i,
            None => {
                let mut b = Buffer::new(None);
                b.mentions = true;
                self.list.push(b);
                self.list.len() - 1
            }
        };
        let mut copy = line.clone();
        copy.text = format!("[{target}] {}", line.text);
        let b = &mut self.list[i];
        if i != self.current {
            b.unread += 1;
            b.mentioned = true;
        }
        b.push(copy);
    }

    /// A line of the client's own, in the buffer shown.
    pub(crate) fn note_here(&mut self, text: String) {
        let line = Line {
            time: clock(None),
            from: None,
            text,
            mark: Mark::None,
        };
        self.list[self.current].push(line);
    }

    /// A line of the client's own, in the server buffer.
    pub(crate) fn tell(&mut self, text: String) {
        self.server(text);
    }

    pub(super) fn server(&mut self, text: String) {
        let line = Line {
            time: clock(None),
            from: None,
            text,
            mark: Mark::None,
        };
        self.add(None, line);
    }

    /// Takes in one note of the session.
    pub(crate) fn note(&mut self, note: &Note) {
        match note {
            Note::Message { posted, .. } => self.message(posted),
            Note::Sent { msg, text, state } => {
                let line = Line {
                    time: clock(None),
                    from: Some(self.me.clone()),
                    text: text.clone(),
                    mark: Mark::of(state),
                };
                let number = self.add(Some(&msg.to), line);
                self.sent.insert(msg.req, (msg.to.clone(), number));
            }
            Note::State { msg, state, id } => self.state(msg.req, *id, state),
            Note::Topic { room, topic } => {
                let room = Target::Room(room.clone());
                let i = self.index(&room);
                self.list[i].topic = topic.clone();
            }
            Note::Who {
                room: Some(room),
                users,
            } => {
                let room = Target::Room(room.clone());
                let text = self.render.note(note, &self.me.clone());
                self.members(&room, users, text);
            }
            Note::Presence {
                name,
                presence: Presence::Joined(room),
            } => self.came_or_went(name, &Target::Room(room.clone()), true),
            Note::Presence {
                name,
                presence: Presence::Left(room),
            } => self.came_or_went(name, &Target::Room(room.clone()), false),
            Note::Presence { name, presence } => {
                let me = self.me.clone();
                let text = self.render.note(note, &me);
                self.presence(name, presence, text);
            }
            Note::History { with, messages } => self.history(with, messages),
            Note::Welcome { name, .. } => {
                self.me = name.clone();
                self.server(self.render.note(note, name));
            }
            // Good news about another session's message is no news.
            Note::Receipt {
                state: SendState::Delivered,
                ..
            } => {}
            Note::Connected { .. }
            | Note::Disconnected { .. }
            | Note::Moved(_)
            | Note::LookupFailed(_)
            | Note::Refused { .. }
            | Note::Receipt { .. }
            | Note::Joined { .. }
            | Note::Parted { .. }
            | Note::Rooms(_)
            | Note::Who { .. }
            | Note::Away(_)
            | Note::Whois { .. }
            | Note::Failed { .. }
            | Note::Error { .. } => {
                let me = self.me.clone();
                self.server(self.render.note(note, &me));
            }
        }
    }

    /// The conversation a message belongs to: its room, or the other party of a DM.
    pub(super) fn conversation(&self, posted: &Posted) -> Target {
        match &posted.to {
            Target::User(to) if posted.from.key() == self.me.key() => Target::User(to.clone()),
            Target::User(_) => Target::User(posted.from.clone()),
            Target::Room(room) => Target::Room(room.clone()),
        }
    }

    fn message(&mut self, posted: &Posted) {
        let with = self.conversation(posted);
        let line = Line {
            time: clock(Some(posted.ts)),
            from: Some(posted.from.clone()),
            text: posted.text.clone(),
            mark: Mark::None,
        };
        self.add(Some(&with), line);
        let i = self.index(&with);
        self.list[i].ids.insert(posted.id);
    }

    /// One of our messages changed state: its mark changes where it is.
    fn state(&mut self, req: RequestId, id: Option<ChatId>, state: &SendState) {
        let Some((target, number)) = self.sent.get(&req).cloned() else {
            return;
        };
        let Some(b) = self
            .list
            .iter_mut()
            .find(|b| b.target.as_ref() == Some(&target))
        else {
            return;
        };
        if let Some(line) = b.line_mut(number) {
            line.mark = Mark::of(state);
        }
        b.ids.extend(id);
        if matches!(
            state,
            SendState::Delivered | SendState::NotDelivered(_) | SendState::Refused { .. }
        ) {
            self.sent.remove(&req);
        }
    }
}
