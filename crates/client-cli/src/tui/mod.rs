//! `client-cli chat --tui`: the full-screen client (ratatui on crossterm). A server buffer and
//! a buffer per conversation ([`buffers`]), switched with Alt-1..9, Alt-Left/Right and
//! Ctrl-N/P or `/query NAME`, `/join ROOM`, `/close`; a list of buffers with unread counts
//! and mentions, a status line with the lag, and per message its time, coloured sender, text
//! wrapped at word boundaries and a delivery mark that changes in place ([`view`]); the input
//! line with its history kept between runs, PageUp/PageDown and the mouse wheel ([`input`]);
//! scroll-back loaded from the server's history ([`history`]). The same session as the line
//! client ([`dgram_client::Session`]); the same commands ([`crate::chat::repl`]'s).
//!
//! The terminal is given back on every way out: leaving, an error, a panic (ratatui's hook,
//! after ours gives back the mouse) and SIGTERM (which ends the loop like `/quit`).

#[cfg(test)]
mod app_tests;
mod buffers;
mod commands;
mod history;
mod input;
mod mark;
mod presence;
#[cfg(test)]
mod scroll_tests;
#[cfg(test)]
mod tests;
mod view;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste};
use crossterm::event::{EnableMouseCapture, Event};
use dgram_client::{Note, Session};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use self::buffers::Buffers;
use self::input::{Act, Input};
use self::view::{Status, View};
use crate::chat::ignore::Ignored;
use crate::chat::render::Render;
use crate::chat::repl::commands::COMMANDS;
use crate::chat::{runtime, use_colour, ChatArgs};

/// How often the status line's lag is asked for.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// History lines kept between runs.
const HISTORY_KEEP: usize = 1000;

/// Runs the full-screen client until the user leaves (or SIGTERM).
pub(crate) fn run(a: ChatArgs) -> anyhow::Result<ExitCode> {
    let id = a.common.resolve()?;
    let history = a.common.home().ok().map(|h| h.join("tui_history"));
    let runtime = runtime()?;
    runtime.block_on(async {
        let session = Session::open(&id).await?;
        let colour = use_colour(true);
        let render = Render::new(id.server.addr, false);
        let buffers = Buffers::new(id.name.clone(), render);
        let status = Status {
            name: id.name.as_str().to_owned(),
            server: id.server.given.clone(),
            connected: false,
            lag: None,
        };
        let input = Input::with_history(history.as_deref().map(load).unwrap_or_default());
        let mut tui = Tui {
            session,
            buffers,
            status,
            input,
            colour,
            offer: None,
            ignored: Ignored::default(),
        };
        let mut terminal = ratatui::try_init().context("taking over the terminal")?;
        let _ = crossterm::execute!(std::io::stdout(), EnableBracketedPaste, EnableMouseCapture);
        give_back_the_mouse_on_panic();
        let ran = tui.run(&mut terminal).await;
        let _ = crossterm::execute!(
            std::io::stdout(),
            DisableBracketedPaste,
            DisableMouseCapture
        );
        ratatui::restore();
        if let Some(path) = &history {
            save(path, tui.input.history());
        }
        let closed = tui.session.close().await;
        ran?;
        closed?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The client's state while it runs.
pub(crate) struct Tui {
    pub(crate) session: Session,
    pub(crate) buffers: Buffers,
    pub(crate) status: Status,
    pub(crate) input: Input,
    colour: bool,
    /// A text over the limit, waiting for a yes before it goes as several messages.
    pub(crate) offer: Option<commands::Offer>,
    /// Whom `/ignore` hides.
    pub(crate) ignored: Ignored,
}

impl Tui {
    async fn run(&mut self, terminal: &mut DefaultTerminal) -> anyhow::Result<()> {
        let mut events = key_events();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        let mut tick = tokio::time::interval(LAG_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            for note in self.session.pump().await? {
                self.note(&note);
            }
            terminal.draw(|frame| self.view().draw(frame))?;
            tokio::select! {
                stepped = self.session.step() => stepped?,
                event = events.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    let event = event.context("reading the terminal")?;
                    if self.event(&event) {
                        return Ok(());
                    }
                }
                _ = term.recv() => return Ok(()),
                _ = tick.tick() => {
                    self.status.lag = match self.status.connected {
                        true => self.session.link.lag().await,
                        false => None,
                    };
                }
            }
        }
    }

    pub(crate) fn view(&self) -> View<'_> {
        View {
            buffers: &self.buffers,
            status: &self.status,
            input: &self.input.text,
            cursor: self.input.cursor,
            colour: self.colour,
            prompt: self.offer.as_ref().map(commands::Offer::prompt),
        }
    }

    /// Takes in a note: the status line's part, then the buffers'.
    pub(crate) fn note(&mut self, note: &Note) {
        if let Note::Welcome { name, .. } = note {
            self.status.connected = true;
            self.status.name = name.as_str().to_owned();
        }
        if let Note::Disconnected { .. } = note {
            self.status.connected = false;
            self.status.lag = None;
        }
        // A room's member list comes from the server when we join it.
        if let Note::Joined { room, .. } = note {
            self.session.chat.who(Some(room.clone()));
        }
        if !self.ignored.hides(note) {
            self.buffers.note(note);
        }
    }

    /// Handles a terminal event; true to leave.
    fn event(&mut self, event: &Event) -> bool {
        match self.input.event(event) {
            Act::Submit(line) => return self.line(&line),
            Act::Select(i) => self.buffers.select(i),
            Act::Cycle(forward) => self.buffers.cycle(forward),
            Act::Scroll { up, rows } => {
                self.buffers.scroll(up, rows);
                if let Some((with, before)) = self.buffers.wants_history() {
                    let ask = history::HISTORY_ASK;
                    self.session.chat.history_before(with, before, ask);
                }
            }
            Act::Complete => {
                let words = self.words();
                self.input.complete(&words);
            }
            Act::Quit => return true,
            Act::Edit | Act::Other => {}
        }
        false
    }
}

impl Tui {
    /// What Tab completes: the commands, the names online, the rooms joined.
    fn words(&self) -> Vec<String> {
        let chat = &self.session.chat;
        let commands = COMMANDS.iter().map(|(c, _, _)| (*c).to_owned());
        let more = ["/query", "/close"].map(str::to_owned);
        let names = chat.online().map(|n| n.as_str().to_owned());
        let rooms = chat.joined().map(|r| format!("#{r}"));
        commands.chain(more).chain(names).chain(rooms).collect()
    }
}

/// ratatui's panic hook gives the screen and the keyboard back; the mouse and bracketed paste
/// are ours to give back too, before it runs.
fn give_back_the_mouse_on_panic() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(
            std::io::stdout(),
            DisableBracketedPaste,
            DisableMouseCapture
        );
        hook(info);
    }));
}

/// The terminal's events, read on a thread of their own (crossterm's read blocks).
fn key_events() -> mpsc::UnboundedReceiver<std::io::Result<Event>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || loop {
        let event = crossterm::event::read();
        let failed = event.is_err();
        if tx.send(event).is_err() || failed {
            return;
        }
    });
    rx
}

/// An earlier run's input history: one line per entry.
fn load(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

/// Keeps the input history (its last entries, one line each; mode 0600, for what was typed is
/// private).
fn save(path: &Path, history: &[String]) {
    use std::os::unix::fs::OpenOptionsExt;
    let keep = history.iter().filter(|l| !l.contains('\n'));
    let keep: Vec<&String> = keep.collect();
    let from = keep.len().saturating_sub(HISTORY_KEEP);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)?;
            for line in &keep[from..] {
                writeln!(file, "{line}")?;
            }
            Ok(())
        });
    if let Err(e) = written {
        tracing::debug!(path = %PathBuf::from(path).display(), error = %e, "input history not saved");
    }
}
