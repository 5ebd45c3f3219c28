//! The chat prompt's logic: who the user talks to, what each line and command does, what the
//! prompt says, the offer to split a message that is too long, and showing notes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dgram_proto::chat::{Room, Target, MAX_TEXT};

use super::commands::{self, Cmd, Line};
use super::editor::{Reply, Terminal, Words};
use super::partners::{Found, Partners};
use super::quiet::Quiet;
use crate::chat::ignore::Ignored;
use crate::chat::render::Render;
use dgram_client::split::split;
use dgram_client::Note;
use dgram_client::Session;

/// How long leaving waits for the server to answer what was just sent.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// How long the prompt waits for the check of a name chosen while not online.
const CHECK_WAIT: Duration = Duration::from_secs(2);

/// The origin's question, and in English.
const CHOOSE_PROMPT: &str = "请选择聊天对象 / chat with: ";

/// Who the user is talking to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Choosing,
    Talking(Target),
}

/// The prompt loop's state.
pub(super) struct App {
    pub(super) session: Session,
    render: Render,
    pub(super) terminal: Terminal,
    words: Arc<Mutex<Words>>,
    quiet: Quiet,
    ignored: Ignored,
    partners: Partners,
    /// Whether lines show where their sender is (`来自[…]`).
    addresses: bool,
    /// A prompt held back until this instant at the latest (see [`App::reply`]).
    held: Option<tokio::time::Instant>,
    mode: Mode,
    /// A message over the limit, waiting for a yes to go out in parts.
    split: Option<(Target, Vec<String>)>,
    refusal: Option<String>,
    /// Whether the prompt is up.
    started: bool,
}

impl App {
    pub(super) fn new(
        session: Session,
        render: Render,
        terminal: Terminal,
        words: Arc<Mutex<Words>>,
        addresses: bool,
    ) -> Self {
        Self {
            session,
            render,
            terminal,
            words,
            quiet: Quiet::default(),
            ignored: Ignored::default(),
            partners: Partners::default(),
            addresses,
            held: None,
            mode: Mode::Choosing,
            split: None,
            refusal: None,
            started: false,
        }
    }

    pub(super) fn say(&self, text: String) {
        self.terminal.print(text);
    }

    pub(super) fn refused(&self) -> bool {
        self.refusal.is_some()
    }

    pub(super) fn refusal(&self) -> String {
        self.refusal.clone().unwrap_or_default()
    }

    /// Shows the first prompt.
    pub(super) fn start(&mut self) {
        self.started = true;
        self.say("type a name (or #room) to chat with; /help lists the commands".to_owned());
        let prompt = self.prompt();
        self.terminal.reply(Reply::Prompt(prompt));
    }

    /// Sends what the state machine asks, shows its notes, and refreshes completion.
    pub(super) async fn pump(&mut self) -> anyhow::Result<()> {
        let notes = self.session.pump().await?;
        for note in &notes {
            if let Note::Refused { message, .. } = note {
                self.refusal = Some(message.clone());
                // Before the prompt, leaving says it; at the prompt, the editor waits for a line.
                if self.started {
                    self.say(format!("{message}\n(press Enter to leave)"));
                }
                continue;
            }
            self.partners.heard(&mut self.session.chat, note);
            if let (Note::Whois { name, addrs, .. }, true) = (note, self.addresses) {
                self.render.learn_address(name, addrs);
            }
            match self.partners.answer(&self.session.chat, note) {
                Found::NotOurs => {}
                Found::Quiet => continue,
                Found::Unknown(why) => {
                    self.say(format!("{why}; choose again"));
                    self.mode = Mode::Choosing;
                    continue;
                }
            }
            if self.ignored.hides(note) || !self.quiet.shows(note) {
                continue;
            }
            let text = self.render.note(note, self.session.chat.me());
            self.say(text);
        }
        if !notes.is_empty() {
            let mut words = self.words.lock().unwrap_or_else(|e| e.into_inner());
            words.names = self
                .session
                .chat
                .online()
                .map(|n| n.as_str().to_owned())
                .collect();
            words.rooms = self
                .session
                .chat
                .joined()
                .map(|r| r.as_str().to_owned())
                .collect();
        }
        Ok(())
    }

    /// What the prompt says now.
    fn prompt(&self) -> String {
        if let Some((_, parts)) = &self.split {
            return format!("send it as {} messages? [y/N] ", parts.len());
        }
        // Nothing about the connection here: a prompt stays on screen while the connection
        // comes and goes, and would go stale; the lines above say when it does.
        match &self.mode {
            Mode::Choosing => CHOOSE_PROMPT.to_owned(),
            Mode::Talking(to) => format!("to {to}> "),
        }
    }

    /// Ctrl-C: the line is gone, and so is a pending split offer.
    pub(super) fn interrupted(&mut self) -> Reply {
        if self.split.take().is_some() {
            self.say("not sent".to_owned());
        }
        let back = match self.mode {
            Mode::Talking(_) => ", quit goes back to choosing",
            Mode::Choosing => "",
        };
        self.say(format!(
            "(Ctrl-C clears the line; q or Ctrl-D leaves{back})"
        ));
        Reply::Prompt(self.prompt())
    }

    /// Handles one line.
    pub(super) fn line(&mut self, line: &str) -> Reply {
        if self.refused() {
            return Reply::Exit;
        }
        if let Some((to, parts)) = self.split.take() {
            match line.trim().to_lowercase().as_str() {
                "y" | "yes" => {
                    self.say(format!("sending it as {} messages", parts.len()));
                    for text in parts {
                        self.session.chat.send(to.clone(), text);
                    }
                }
                _ => self.say("not sent".to_owned()),
            }
            return Reply::Prompt(self.prompt());
        }
        match commands::parse(line) {
            Line::Empty => {}
            Line::Q | Line::Command(Cmd::Quit) => return Reply::Exit,
            Line::Quit => match self.mode {
                Mode::Talking(_) => {
                    self.mode = Mode::Choosing;
                    self.session.chat.who(None);
                }
                Mode::Choosing => self.say("choose who to chat with; q or Ctrl-D leaves".into()),
            },
            Line::Text(text) => match self.mode.clone() {
                Mode::Choosing => self.choose(&text),
                Mode::Talking(to) => self.send(to, text),
            },
            Line::Command(cmd) => self.command(cmd),
            Line::Bad(why) => self.say(why),
        }
        Reply::Prompt(self.prompt())
    }

    /// A plain line while choosing: who to talk to.
    fn choose(&mut self, text: &str) {
        match crate::chat::target(text) {
            Ok(to) => self.talk_to(to),
            Err(why) => self.say(why),
        }
    }

    fn talk_to(&mut self, to: Target) {
        if let Target::Room(room) = &to {
            if !self.session.chat.in_room(room) {
                self.session.chat.join(room.clone());
            }
        }
        self.say(format!(
            "chatting with {to}; quit goes back to choosing, q leaves"
        ));
        if let Some(said) = self.partners.chose(&mut self.session.chat, &to) {
            self.say(said);
            // The prompt waits for the check, so that an unknown name sends nothing.
            self.held = Some(tokio::time::Instant::now() + CHECK_WAIT);
        }
        self.mode = Mode::Talking(to);
    }

    /// Shows the next prompt, or holds it while a chosen name is being checked.
    pub(super) fn reply(&mut self, reply: Reply) {
        match (&reply, self.held) {
            (Reply::Prompt(_), Some(_)) => {}
            _ => self.terminal.reply(reply),
        }
    }

    /// When a held prompt is due: once the check answers, or after [`CHECK_WAIT`].
    pub(super) fn held_until(&self) -> Option<tokio::time::Instant> {
        self.held
    }

    /// Shows the held prompt if its check is done (or `due`).
    pub(super) fn release(&mut self, due: bool) {
        if self.held.is_some() && (due || !self.partners.checking()) {
            self.held = None;
            let prompt = self.prompt();
            self.terminal.reply(Reply::Prompt(prompt));
        }
    }

    /// Sends a message, or offers to split it when it is over the limit.
    fn send(&mut self, to: Target, text: String) {
        if text.len() <= MAX_TEXT {
            self.session.chat.send(to, text);
            return;
        }
        let parts = split(&text, MAX_TEXT);
        self.say(format!(
            "that message is {} bytes, over the limit of {MAX_TEXT}: it can go as {} messages, \
             in order (y sends them, anything else drops it)",
            text.len(),
            parts.len()
        ));
        self.split = Some((to, parts));
    }

    /// The room the user talks in, if it is a room.
    fn room(&self) -> Option<Room> {
        match &self.mode {
            Mode::Talking(Target::Room(room)) => Some(room.clone()),
            Mode::Talking(Target::User(_)) | Mode::Choosing => None,
        }
    }

    fn command(&mut self, cmd: Cmd) {
        let room_now = self.room();
        let chat = &mut self.session.chat;
        match cmd {
            Cmd::Msg { to, text } => self.send(to, text),
            Cmd::To(to) => self.talk_to(to),
            Cmd::Join(room) => self.talk_to(Target::Room(room)),
            Cmd::Part(room) => {
                let Some(room) = room.or(room_now) else {
                    return self.say("not talking in a room; /part ROOM leaves one".into());
                };
                chat.part(room.clone());
                if self.mode == Mode::Talking(Target::Room(room)) {
                    self.mode = Mode::Choosing;
                }
            }
            Cmd::Rooms => {
                chat.list_rooms();
            }
            Cmd::Who(room) => {
                chat.who(room);
            }
            Cmd::Names(room) => match room.or(room_now) {
                Some(room) => {
                    chat.who(Some(room));
                }
                None => self.say(
                    "/names lists a room's members: /join ROOM first, or /names ROOM \
                     (/who is everyone online)"
                        .into(),
                ),
            },
            Cmd::Ignore(name) => {
                let said = self.ignored.ignore(name);
                self.say(said);
            }
            Cmd::Unignore(name) => {
                let said = self.ignored.unignore(&name);
                self.say(said);
            }
            Cmd::Say(text) | Cmd::Me(text) => match self.mode.clone() {
                Mode::Talking(to) => self.send(to, text),
                Mode::Choosing => {
                    self.say("/say sends to whoever you talk to: choose someone first".into())
                }
            },
            Cmd::Topic(topic) => match &self.mode {
                Mode::Talking(Target::Room(room)) => {
                    let room = room.clone();
                    chat.topic(room, topic);
                }
                _ => self.say("/topic is about the room you talk in: /join ROOM first".into()),
            },
            Cmd::Away(text) => {
                chat.away(text);
            }
            Cmd::History(limit) => match &self.mode {
                Mode::Talking(with) => {
                    let with = with.clone();
                    chat.history(with, limit);
                }
                _ => self.say("/history is about whoever you talk to: choose someone first".into()),
            },
            Cmd::Whois(name) => {
                chat.whois(name);
            }
            Cmd::Help => self.say(commands::help()),
            Cmd::Quit => {}
        }
    }

    /// Before leaving: waits a little for the server to take what was just sent (piped input
    /// reaches `q` long before the answers come), and says what it did not take.
    pub(super) async fn settle(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            self.pump().await?;
            let chat = &self.session.chat;
            if chat.unanswered_sends() == 0 || !chat.is_ready() {
                break;
            }
            tokio::select! {
                stepped = self.session.step() => stepped?,
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let left = self.session.chat.unanswered_sends();
        if left > 0 {
            self.say(format!(
                "{left} message(s) not taken by the server before leaving; they may be lost"
            ));
        }
        Ok(())
    }

    /// Stops the editor and says goodbye to the server.
    pub(super) async fn close(self) -> anyhow::Result<()> {
        self.terminal.finish();
        Ok(self.session.close().await?)
    }
}
