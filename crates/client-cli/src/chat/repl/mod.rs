//! `client-cli chat`: the interactive client, in the origin's flow. With nobody chosen, the
//! prompt asks who to chat with (`请选择聊天对象 / chat with: `) and lists who is online; a
//! name (or `#room`) chooses; then each line goes to them (`to alex> `); `quit` goes back to
//! choosing and `q` or Ctrl-D leaves. Slash commands work everywhere (`/help`).
//!
//! Incoming messages appear above the prompt while the user types. When the server goes away
//! the client says so, keeps what is typed meanwhile, and on its return says Hello again,
//! rejoins its rooms and sends what waited.

mod app;
pub(crate) mod commands;
mod editor;
mod partners;
mod quiet;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;

use self::app::App;
use self::editor::{Input, Reply, Terminal, Words};
use super::render::Render;
use super::{runtime, use_colour, ChatArgs};
use dgram_client::Session;

/// How long to wait for the server's Welcome before the prompt appears anyway: long enough
/// for any live server, so that a refused name is said before the terminal is taken over.
const WELCOME_WAIT: Duration = Duration::from_secs(2);

/// Runs the command.
pub(crate) fn run(a: ChatArgs) -> anyhow::Result<ExitCode> {
    let id = a.common.resolve()?;
    let runtime = runtime()?;
    let words = Arc::new(Mutex::new(Words::default()));
    let terminal = Terminal::start(Arc::clone(&words), history(&a.common))?;
    let result = runtime.block_on(async {
        let session = Session::open(&id).await?;
        // Colour only when the prompt is on a terminal, which is also where lines go.
        let colour = use_colour(std::io::IsTerminal::is_terminal(&std::io::stdout()));
        let render = Render::new(id.server.addr, colour);
        let mut app = App::new(session, render, terminal, words, !a.no_addresses);
        if let Some(unresolved) = a.common.unresolved() {
            app.say(unresolved);
        }
        let code = converse(&mut app).await;
        // The terminal is given back (and the goodbye said) whatever ended the conversation.
        let closed = app.close().await;
        let code = code?;
        closed.map(|()| code)
    });
    result
}

/// Where the input history is kept between runs: `chat_history` in the client's home, which
/// is made if need be (as keeping a key would); none when it cannot be.
fn history(common: &super::Common) -> Option<std::path::PathBuf> {
    let home = common.home().ok()?;
    match std::fs::create_dir_all(&home) {
        Ok(()) => Some(home.join("chat_history")),
        Err(e) => {
            tracing::debug!(home = %home.display(), error = %e, "no input history kept");
            None
        }
    }
}

/// Sleeps until `at` (forever without one; the branch is off then).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The conversation: startup, then lines and events until the user leaves.
async fn converse(app: &mut App) -> anyhow::Result<ExitCode> {
    let deadline = tokio::time::Instant::now() + WELCOME_WAIT;
    loop {
        app.pump().await?;
        if app.refused() {
            bail!("{}", app.refusal());
        }
        if app.session.chat.is_ready() {
            break;
        }
        tokio::select! {
            stepped = app.session.step() => stepped?,
            () = tokio::time::sleep_until(deadline) => {
                let server = app.session.link.server();
                // A name not looked up yet was said at start; its stand-in address is no news.
                if server.ip() != crate::args::UNRESOLVED {
                    app.say(format!(
                        "no answer from {server} yet; still trying, and what you send waits \
                         until then"
                    ));
                }
                break;
            }
        }
    }
    app.start();
    loop {
        app.pump().await?;
        app.release(false);
        let held = app.held_until();
        tokio::select! {
            stepped = app.session.step() => stepped?,
            () = sleep_until(held), if held.is_some() => app.release(true),
            input = app.terminal.inputs.recv() => {
                let reply = match input {
                    Some(Input::Line(line)) => app.line(&line),
                    Some(Input::Interrupted) => app.interrupted(),
                    Some(Input::Eof) | None => Reply::Exit,
                    Some(Input::Failed(why)) => bail!("the terminal failed: {why}"),
                };
                if reply == Reply::Exit {
                    app.settle().await?;
                    return Ok(if app.refused() { ExitCode::FAILURE } else { ExitCode::SUCCESS });
                }
                app.reply(reply);
            }
        }
    }
}
