//! What a finished line does in the full-screen client: text goes to the buffer shown (`q`
//! and `quit` are text here, there is no picker to leave), and the line client's commands do
//! what they do there, about the buffer shown, plus `/close` and `/why` (the reasons behind
//! the buffer's `✗` marks). `/query NAME` and `/join ROOM` open (and show) a buffer. A text
//! over the limit is offered as several messages, saying how many, and goes only on a yes.

use dgram_client::split::split;
use dgram_proto::chat::{Room, Target, MAX_TEXT};

use super::Tui;
use crate::chat::repl::commands::{self, Cmd, Line};

impl Tui {
    /// Handles a finished line; true to leave.
    pub(crate) fn line(&mut self, line: &str) -> bool {
        if let Some(offer) = self.offer.take() {
            self.answer(offer, line);
            return false;
        }
        match line.trim() {
            "/close" => return self.close(),
            "/why" => {
                self.buffers.explain();
                return false;
            }
            _ => {}
        }
        match commands::parse(line) {
            Line::Empty => {}
            Line::Q => self.say_here("q".to_owned()),
            Line::Quit => self.say_here("quit".to_owned()),
            Line::Text(text) => self.say_here(text),
            Line::Bad(why) => self.tell(why),
            Line::Command(Cmd::Quit) => return true,
            Line::Command(cmd) => self.command(cmd),
        }
        false
    }

    fn command(&mut self, cmd: Cmd) {
        let here = self.buffers.current().target.clone();
        let room_here = match &here {
            Some(Target::Room(room)) => Some(room.clone()),
            Some(Target::User(_)) | None => None,
        };
        let chat = &mut self.session.chat;
        match cmd {
            Cmd::Msg { to, text } => self.send(to, text),
            Cmd::To(to) => self.open(to),
            Cmd::Join(room) => self.open(Target::Room(room)),
            Cmd::Part(room) => match room.or(room_here) {
                Some(room) => {
                    chat.part(room);
                }
                None => self.tell("/part ROOM, or /part in a room's buffer".to_owned()),
            },
            Cmd::Rooms => {
                chat.list_rooms();
            }
            Cmd::Who(room) => {
                chat.who(room);
            }
            Cmd::Names(room) => match room.or(room_here) {
                Some(room) => {
                    chat.who(Some(room));
                }
                None => self.tell("/names ROOM, or /names in a room's buffer".to_owned()),
            },
            Cmd::Topic(topic) => match room_here {
                Some(room) => {
                    chat.topic(room, topic);
                }
                None => self.tell("/topic is about the room shown: /join ROOM first".to_owned()),
            },
            Cmd::Away(text) => {
                chat.away(text);
            }
            Cmd::History(limit) => match here {
                Some(with) => {
                    chat.history(with, limit);
                }
                None => self.tell("/history is about the conversation shown".to_owned()),
            },
            Cmd::Whois(name) => {
                chat.whois(name);
            }
            Cmd::Say(text) | Cmd::Me(text) => self.say_here(text),
            Cmd::Ignore(name) => {
                let said = self.ignored.ignore(name);
                self.say_in_buffer(said);
            }
            Cmd::Unignore(name) => {
                let said = self.ignored.unignore(&name);
                self.say_in_buffer(said);
            }
            Cmd::Help => self.tell(help()),
            Cmd::Quit => {}
        }
    }

    /// Opens `to`'s buffer and shows it, joining a room we are not in.
    fn open(&mut self, to: Target) {
        if let Target::Room(room) = &to {
            if !self.session.chat.in_room(room) {
                self.session.chat.join(room.clone());
            }
        }
        self.buffers.open(&to);
    }

    /// Closes the buffer shown, leaving its room.
    /// Closes the buffer shown (never true: closing never leaves).
    fn close(&mut self) -> bool {
        if self.buffers.current == 0 {
            self.tell("the server buffer stays; /quit leaves".to_owned());
        } else if let Some(Target::Room(room)) = self.buffers.close() {
            self.part(room);
        }
        false
    }

    fn part(&mut self, room: Room) {
        if self.session.chat.in_room(&room) {
            self.session.chat.part(room);
        }
    }

    /// Text typed in a buffer: to its conversation.
    fn say_here(&mut self, text: String) {
        match self.buffers.current().target.clone() {
            Some(to) => self.send(to, text),
            None => self.tell(
                "this is the server buffer: /query NAME or /join ROOM opens a conversation"
                    .to_owned(),
            ),
        }
    }

    /// Sends a message; one over the limit is offered in parts, and goes only on a yes.
    fn send(&mut self, to: Target, text: String) {
        if text.len() <= MAX_TEXT {
            self.session.chat.send(to, text);
            return;
        }
        let offer = Offer::new(to, text);
        self.say_in_buffer(offer.question());
        self.offer = Some(offer);
    }

    /// The answer to an offer: `y` or `yes` sends the parts, in order; anything else sends
    /// nothing and gives the text back to the input line.
    fn answer(&mut self, offer: Offer, line: &str) {
        let yes = matches!(line.trim().to_lowercase().as_str(), "y" | "yes");
        if !yes {
            self.say_in_buffer("not sent; the text is back in the input line".to_owned());
            self.input.set(offer.text);
            return;
        }
        for part in split(&offer.text, MAX_TEXT) {
            self.session.chat.send(offer.to.clone(), part);
        }
    }

    /// A line of the client's own in the buffer shown (where the user is looking).
    fn say_in_buffer(&mut self, text: String) {
        self.buffers.note_here(text);
    }

    /// A line of the client's own in the server buffer.
    fn tell(&mut self, text: String) {
        self.buffers.tell(text);
    }
}

/// The keys and commands.
fn help() -> String {
    let mut out = String::from(
        "Alt-1..9, Alt-Left/Right or Ctrl-N/P switch buffers; Ctrl-D on an empty line or \
         /quit leaves; /close closes the buffer shown (leaving its room); /why says why its \
         failed messages failed",
    );
    out.push('\n');
    out.push_str(&commands::help());
    out
}

/// A text over [`MAX_TEXT`], offered as several messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    to: Target,
    text: String,
    /// How many messages it would be.
    pub(crate) parts: usize,
}

impl Offer {
    pub(crate) fn new(to: Target, text: String) -> Self {
        let parts = split(&text, MAX_TEXT).len();
        Self { to, text, parts }
    }

    /// What the user is asked, in the buffer.
    pub(crate) fn question(&self) -> String {
        format!(
            "{} bytes is over the limit of {MAX_TEXT}: send it as {} messages? y sends, \
             anything else keeps it here",
            self.text.len(),
            self.parts
        )
    }

    /// The input line's prompt while the offer waits.
    pub(crate) fn prompt(&self) -> String {
        format!("[send as {} messages? y/n] ", self.parts)
    }
}
