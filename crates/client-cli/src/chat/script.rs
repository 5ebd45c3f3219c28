//! The scripting side of the chat client.
//!
//! `client-cli send` sends one message (or, with `--split`, the parts of a long one). It exits
//! 0 once the server accepted every part, or with `--wait-delivered` once every part was
//! delivered; otherwise 1, with the reason on stderr: the name is claimed or reserved, no such
//! user, too long, or nothing decisive before `--timeout`. A "not delivered" receipt after
//! acceptance (a DM queued for an offline user) is not the end: the message is delivered when
//! they come back, so `--wait-delivered` keeps waiting. Sending to a room joins it first.
//!
//! `client-cli listen` prints what happens (DMs, room messages, presence, receipts, the session
//! coming and going) as lines for people or, with `--json`, one JSON object per line, until
//! SIGTERM or Ctrl-C. Rooms given with `--join` are joined once welcomed, and joined again
//! after every reconnect.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use dgram_net::main_support::signal::cancel_on_signal;
use dgram_proto::chat::{ChatId, Target, MAX_TEXT};
use dgram_proto::RequestId;
use tokio_util::sync::CancellationToken;

use dgram_client::{split, Identity, Note, SendState, Session};

use super::render::Render;
use super::{json, runtime, use_colour, ListenArgs, SendArgs};

/// Runs `client-cli send`.
pub(crate) fn send(a: SendArgs) -> anyhow::Result<ExitCode> {
    let id = a.common.resolve()?;
    if let Some(unresolved) = a.common.unresolved() {
        eprintln!("{unresolved}");
    }
    let text = if a.text.is_empty() {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("reading the message from standard input")?;
        // `echo hi | client-cli send` means "hi", not "hi\n".
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        text
    } else {
        a.text.join(" ")
    };
    if text.trim().is_empty() {
        bail!("nothing to send: give TEXT, or pipe it in");
    }
    let parts = split::split(&text, MAX_TEXT);
    if parts.len() > 1 && !a.split {
        bail!(
            "the message is {} bytes, over the limit of {MAX_TEXT} bytes; shorten it, or pass \
             --split to send it as {} messages",
            text.len(),
            parts.len()
        );
    }
    let plan = Plan {
        to: a.to,
        parts,
        wait_delivered: a.wait_delivered,
        timeout: a.timeout,
    };
    runtime()?.block_on(send_plan(&id, plan))
}

#[derive(Debug)]
struct Plan {
    to: Target,
    parts: Vec<String>,
    wait_delivered: bool,
    timeout: Duration,
}

/// Where each part stands.
#[derive(Debug, Default)]
struct Progress {
    welcomed: bool,
    states: BTreeMap<RequestId, (Option<ChatId>, SendState)>,
    /// Why the last part that is not delivered yet is not, as the server said.
    waiting_for: Option<String>,
}

async fn send_plan(id: &Identity, plan: Plan) -> anyhow::Result<ExitCode> {
    let mut session = Session::open(id).await?;
    session.chat.set_send_only();
    let mut progress = Progress::default();
    if let Target::Room(room) = &plan.to {
        // Only members may post to a room; joining one we are in already changes nothing.
        session.chat.join(room.clone());
    }
    for text in &plan.parts {
        let req = session.chat.send(plan.to.clone(), text.clone());
        progress.states.insert(req, (None, SendState::Queued));
    }
    let deadline = tokio::time::Instant::now() + plan.timeout;
    let outcome = loop {
        let notes = session.pump().await?;
        if let Some(end) = progress.take(notes, &plan, &session)? {
            break end;
        }
        if progress.finished(plan.wait_delivered) {
            break Ok(());
        }
        // Where the session client is pointed now: the server's name may have moved.
        let server = session.link.server();
        tokio::select! {
            stepped = session.step() => stepped?,
            () = tokio::time::sleep_until(deadline) => {
                break Err(progress.timed_out(server, &id.server.given, &plan));
            }
        }
    };
    session.close().await?;
    match outcome {
        Ok(()) => {
            let mut out = io::stdout().lock();
            for (chat_id, state) in progress.states.values() {
                let chat_id = chat_id.map(|i| format!(" #{i}")).unwrap_or_default();
                writeln!(out, "{}{chat_id} to {}", state.label(), plan.to)
                    .context("writing to stdout")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            writeln!(io::stderr().lock(), "client-cli: {message}").context("writing to stderr")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

impl Progress {
    /// Takes in notes; `Some` ends the command (`Err` with why it failed).
    fn take(
        &mut self,
        notes: Vec<Note>,
        plan: &Plan,
        session: &Session,
    ) -> anyhow::Result<Option<Result<(), String>>> {
        for note in notes {
            if let Some(end) = self.note(note, plan, session)? {
                return Ok(Some(end));
            }
        }
        Ok(None)
    }

    /// Takes in one note; `Some` ends the command.
    fn note(
        &mut self,
        note: Note,
        plan: &Plan,
        session: &Session,
    ) -> anyhow::Result<Option<Result<(), String>>> {
        match note {
            Note::Welcome { claimed, name, .. } => {
                self.welcomed = true;
                if claimed {
                    writeln!(
                        io::stderr().lock(),
                        "claimed the name {name}; its key is in {}",
                        session.key_path().display()
                    )
                    .context("writing to stderr")?;
                }
            }
            Note::Refused { message, .. } => return Ok(Some(Err(message))),
            Note::State { msg, id, state } if self.states.contains_key(&msg.req) => {
                return Ok(self.state(msg.req, id, state, plan).err().map(Err));
            }
            Note::Error { message } => {
                writeln!(io::stderr().lock(), "client-cli: server: {message}")
                    .context("writing to stderr")?;
            }
            // Nothing that decides a send: the session coming and going (it is waited out
            // until the timeout), the join before a room message (the send says if it did
            // not take), and what others do.
            Note::Connected { .. }
            | Note::Disconnected { .. }
            | Note::Moved(_)
            | Note::LookupFailed(_)
            | Note::Message { .. }
            | Note::Presence { .. }
            | Note::Sent { .. }
            | Note::State { .. }
            | Note::Receipt { .. }
            | Note::Joined { .. }
            | Note::Parted { .. }
            | Note::Rooms(_)
            | Note::Who { .. }
            | Note::Topic { .. }
            | Note::Away(_)
            | Note::History { .. }
            | Note::Whois { .. }
            | Note::Failed { .. } => {}
        }
        Ok(None)
    }

    /// One of our parts changed state; `Err` ends the command with why it failed.
    fn state(
        &mut self,
        req: RequestId,
        id: Option<ChatId>,
        state: SendState,
        plan: &Plan,
    ) -> Result<(), String> {
        match &state {
            SendState::Refused { message, .. } => {
                return Err(format!("not sent to {}: {message}", plan.to));
            }
            // Failed on the way to the server: it may never have got there.
            SendState::NotDelivered(reason) if id.is_none() => {
                return Err(format!("not sent to {}: {reason}", plan.to));
            }
            SendState::NotDelivered(reason) | SendState::Held(reason) => {
                self.waiting_for = Some(reason.clone());
            }
            SendState::Queued | SendState::Sending | SendState::Accepted | SendState::Delivered => {
            }
        }
        let known = self.states.get(&req).and_then(|(known, _)| *known);
        self.states.insert(req, (id.or(known), state));
        Ok(())
    }

    fn finished(&self, wait_delivered: bool) -> bool {
        self.states.values().all(|(_, state)| match state {
            SendState::Delivered => true,
            SendState::Accepted | SendState::NotDelivered(_) | SendState::Held(_) => {
                !wait_delivered
            }
            SendState::Queued | SendState::Sending | SendState::Refused { .. } => false,
        })
    }

    fn timed_out(&self, server: SocketAddr, given: &str, plan: &Plan) -> String {
        let after = format!("{:?}", plan.timeout);
        if !self.welcomed && server.ip() == crate::args::UNRESOLVED {
            return format!(
                "no chat server within {after}: {} could not be looked up",
                crate::output::printable(given)
            );
        }
        if !self.welcomed {
            return format!(
                "no answer from the chat server at {server} within {after} (is it running?)"
            );
        }
        let accepted = self.states.values().any(|(_, s)| {
            matches!(
                s,
                SendState::Accepted | SendState::NotDelivered(_) | SendState::Held(_)
            )
        });
        match (&self.waiting_for, accepted) {
            (Some(reason), _) => format!(
                "the message to {} was accepted but not delivered within {after}: {reason}",
                plan.to
            ),
            (None, true) => format!(
                "the message to {} was accepted but not delivered within {after}",
                plan.to
            ),
            (None, false) => format!("the server did not accept the message within {after}"),
        }
    }
}

/// Runs `client-cli listen`.
pub(crate) fn listen(a: ListenArgs) -> anyhow::Result<ExitCode> {
    let id = a.common.resolve()?;
    if let Some(unresolved) = a.common.unresolved() {
        eprintln!("{unresolved}");
    }
    runtime()?.block_on(async move {
        let mut session = Session::open(&id).await?;
        for room in a.join {
            session.chat.join(room);
        }
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let render = Render::new(id.server.addr, use_colour(io::stdout().is_terminal()));
        let code = loop {
            let notes = session.pump().await?;
            if let Some(code) = show(&notes, &render, &session, a.json)? {
                break code;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break ExitCode::SUCCESS,
                stepped = session.step() => stepped?,
            }
        };
        session.close().await?;
        Ok(code)
    })
}

/// Prints notes; `Some` ends the command (the server refused our name).
fn show(
    notes: &[Note],
    render: &Render,
    session: &Session,
    json: bool,
) -> anyhow::Result<Option<ExitCode>> {
    let mut out = io::stdout().lock();
    for note in notes {
        if let Note::Refused { message, .. } = note {
            writeln!(io::stderr().lock(), "client-cli: {message}").context("writing to stderr")?;
            return Ok(Some(ExitCode::FAILURE));
        }
        if json {
            if let Some(value) = json::note(note, session.link.server()) {
                serde_json::to_writer(&mut out, &value).context("writing JSON to stdout")?;
                writeln!(out).context("writing to stdout")?;
            }
        } else {
            writeln!(out, "{}", render.note(note, session.chat.me()))
                .context("writing to stdout")?;
        }
    }
    // Each event as it happens: a script reading the pipe should not wait for a buffer.
    out.flush().context("writing to stdout")?;
    Ok(None)
}
