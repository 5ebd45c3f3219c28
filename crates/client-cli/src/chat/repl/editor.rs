//! The terminal side of `client-cli chat`: rustyline on a thread of its own (line editing,
//! history, completion of commands, names and rooms), and the printer that puts incoming
//! lines above the prompt without disturbing what is being typed.
//!
//! The editor thread reads one line, hands it to the chat loop, and waits for the loop to say
//! which prompt comes next (or to stop), so the prompt always reflects the line before it.
//! Printing goes through a thread of its own: rustyline's printer can block for a moment
//! while the editor is between two lines, and the chat loop must never wait on the editor,
//! which may be waiting on it.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, ExternalPrinter};
use tokio::sync::mpsc;

use super::commands::COMMANDS;

/// How long leaving waits for the last lines to reach the terminal.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// What the editor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    Line(String),
    /// Ctrl-C: the line was thrown away.
    Interrupted,
    /// Ctrl-D on an empty line, or the end of piped input.
    Eof,
    /// The terminal failed.
    Failed(String),
}

/// What the chat loop tells the editor after each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Prompt(String),
    Exit,
}

/// What completion offers: names seen online and rooms joined, kept fresh by the chat loop.
#[derive(Debug, Default)]
pub(crate) struct Words {
    pub(crate) names: Vec<String>,
    pub(crate) rooms: Vec<String>,
}

struct Helper {
    words: Arc<Mutex<Words>>,
}

impl Completer for Helper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        // A poisoned lock only means a panic elsewhere; the words are still good to offer.
        let words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        let matches = if start == 0 && word.starts_with('/') {
            candidates(word, COMMANDS.iter().map(|(c, _, _)| (*c).to_owned()))
        } else if let Some(room) = word.strip_prefix('#') {
            let rooms = words.rooms.iter().map(|r| format!("#{r}"));
            candidates(&format!("#{room}"), rooms)
        } else {
            candidates(word, words.names.iter().cloned())
        };
        Ok((start, matches))
    }
}

/// The candidates that start with `word`, ignoring case, each with a space after it.
fn candidates(word: &str, all: impl Iterator<Item = String>) -> Vec<String> {
    let prefix = word.to_lowercase();
    let mut found: Vec<String> = all
        .filter(|c| c.to_lowercase().starts_with(&prefix))
        .map(|c| format!("{c} "))
        .collect();
    found.sort();
    found.dedup();
    found
}

impl Hinter for Helper {
    type Hint = String;
}
impl Highlighter for Helper {}
impl Validator for Helper {}
impl rustyline::Helper for Helper {}

/// The running editor and printer threads.
pub(crate) struct Terminal {
    pub(crate) inputs: mpsc::UnboundedReceiver<Input>,
    replies: std_mpsc::Sender<Reply>,
    lines: Option<std_mpsc::Sender<String>>,
    printer_done: std_mpsc::Receiver<()>,
    editor: Option<JoinHandle<()>>,
}

impl Terminal {
    /// Starts the editor, with the input history kept in `history` between runs; it shows no
    /// prompt until the first [`Terminal::reply`].
    pub(crate) fn start(
        words: Arc<Mutex<Words>>,
        history: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let (inputs_tx, inputs) = mpsc::unbounded_channel();
        let (replies, replies_rx) = std_mpsc::channel();
        let (printer_tx, printer_rx) = std_mpsc::channel();
        let editor = std::thread::Builder::new()
            .name("chat-editor".into())
            .spawn(move || edit(words, history, inputs_tx, replies_rx, printer_tx))?;
        // The editor thread sends its printer (or that there is none) before anything else.
        let printer = printer_rx.recv().ok().flatten();
        let (lines, lines_rx) = std_mpsc::channel::<String>();
        let (done_tx, printer_done) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("chat-printer".into())
            .spawn(move || print(printer, lines_rx, done_tx))?;
        Ok(Self {
            inputs,
            replies,
            lines: Some(lines),
            printer_done,
            editor: Some(editor),
        })
    }

    /// Shows `text` (one or more lines) above the prompt.
    pub(crate) fn print(&self, text: String) {
        if let Some(lines) = &self.lines {
            // The printer thread ends only after `finish`; nothing is lost before that.
            let _ = lines.send(text);
        }
    }

    /// Tells the editor what to do after the line it handed over.
    pub(crate) fn reply(&self, reply: Reply) {
        // Gone only if the editor already stopped, and then there is nobody to tell.
        let _ = self.replies.send(reply);
    }

    /// Stops the editor, and lets the last lines reach the terminal.
    pub(crate) fn finish(mut self) {
        self.reply(Reply::Exit);
        if let Some(editor) = self.editor.take() {
            let _ = editor.join();
        }
        self.lines = None;
        let _ = self.printer_done.recv_timeout(FLUSH_WAIT);
    }
}

type Printer = Box<dyn ExternalPrinter + Send>;

fn edit(
    words: Arc<Mutex<Words>>,
    history: Option<PathBuf>,
    inputs: mpsc::UnboundedSender<Input>,
    replies: std_mpsc::Receiver<Reply>,
    printer: std_mpsc::Sender<Option<Printer>>,
) {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .map(|b| b.auto_add_history(false).build());
    let editor = config.and_then(Editor::<Helper, DefaultHistory>::with_config);
    let mut editor = match editor {
        Ok(editor) => editor,
        Err(e) => {
            let _ = printer.send(None);
            let _ = inputs.send(Input::Failed(e.to_string()));
            return;
        }
    };
    editor.set_helper(Some(Helper { words }));
    if let Some(path) = &history {
        // None yet (the first run) is the usual reason; a damaged file only costs the history.
        if let Err(e) = editor.load_history(path) {
            tracing::debug!(path = %path.display(), error = %e, "no input history loaded");
        }
    }
    // None when stdin or stdout is not a terminal: lines are then simply written to stdout.
    let external = editor
        .create_external_printer()
        .ok()
        .map(|p| Box::new(p) as Printer);
    let _ = printer.send(external);
    while let Ok(Reply::Prompt(prompt)) = replies.recv() {
        let input = match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    // Kept at once (mode 0600), so that a run that is killed keeps it too.
                    if let Some(path) = &history {
                        if let Err(e) = editor.append_history(path) {
                            tracing::debug!(path = %path.display(), error = %e, "input history not saved");
                        }
                    }
                }
                Input::Line(line)
            }
            Err(ReadlineError::Interrupted) => Input::Interrupted,
            Err(ReadlineError::Eof) => Input::Eof,
            Err(e) => Input::Failed(e.to_string()),
        };
        let last = matches!(input, Input::Eof | Input::Failed(_));
        if inputs.send(input).is_err() || last {
            return;
        }
    }
}

fn print(
    mut printer: Option<Printer>,
    lines: std_mpsc::Receiver<String>,
    done: std_mpsc::Sender<()>,
) {
    for mut text in lines {
        if printer.is_some() {
            // A terminal: wrapped at word boundaries to its width now (it may have changed).
            text = wrap(&text, textwrap::termwidth());
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let printed = match printer.as_mut() {
            Some(p) => p.print(text.clone()).is_ok(),
            None => false,
        };
        if !printed {
            // No terminal, or the editor is gone: plain stdout is all there is.
            let mut out = io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }
    let _ = done.send(());
}

/// Wraps each line of `text` at word boundaries to `width` columns (colour sequences take
/// none); a line that is too long goes on under its text: under the message past a leading
/// `HH:MM:SS `, under its own indent, or two columns in.
fn wrap(text: &str, width: usize) -> String {
    let lines = text.split('\n').map(|line| {
        let indent = continuation(line);
        let options = textwrap::Options::new(width.max(indent.len() + 8))
            .subsequent_indent(&indent)
            .wrap_algorithm(textwrap::WrapAlgorithm::FirstFit)
            .break_words(true);
        textwrap::fill(line, options)
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// Where a wrapped line goes on.
fn continuation(line: &str) -> String {
    let lead = line.len() - line.trim_start_matches(' ').len();
    let b = line.as_bytes();
    let clock = b.len() > 9
        && b[2] == b':'
        && b[5] == b':'
        && b[8] == b' '
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit());
    match (lead, clock) {
        (0, true) => " ".repeat(9),
        (0, false) => " ".repeat(2),
        (lead, _) => " ".repeat(lead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wrap_at_word_boundaries_under_their_text() {
        let line = "08:30:04 [DM] alex: the quick brown fox jumps over the lazy dog";
        assert_eq!(
            wrap(line, 30),
            "08:30:04 [DM] alex: the quick\n         brown fox jumps over\n         the lazy dog"
        );
        let coloured = "08:30:04 [DM] \x1b[38;5;33malex\x1b[0m: a b c";
        assert_eq!(wrap(coloured, 30), coloured, "colour takes no columns");
        assert_eq!(
            wrap("  #lobby (3 in) a topic", 12),
            "  #lobby (3\n  in) a\n  topic"
        );
        assert_eq!(wrap("one\ntwo", 30), "one\ntwo");
    }

    fn complete(line: &str, words: Words) -> (usize, Vec<String>) {
        let helper = Helper {
            words: Arc::new(Mutex::new(words)),
        };
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        helper
            .complete(line, line.len(), &ctx)
            .expect("completion never fails")
    }

    #[test]
    fn completes_commands_names_and_rooms() {
        let words = || Words {
            names: vec!["alex".into(), "黎诗".into(), "Alice".into()],
            rooms: vec!["lobby".into()],
        };
        assert_eq!(
            complete("/wh", words()),
            (0, vec!["/who ".into(), "/whois ".into()])
        );
        assert_eq!(
            complete("/msg al", words()),
            (5, vec!["Alice ".into(), "alex ".into()])
        );
        assert_eq!(complete("hi 黎", words()), (3, vec!["黎诗 ".into()]));
        assert_eq!(complete("/join #lo", words()), (6, vec!["#lobby ".into()]));
        assert_eq!(complete("nobody", words()).1, Vec::<String>::new());
    }
}
