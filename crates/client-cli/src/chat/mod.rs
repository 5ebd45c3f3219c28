//! The chat client: `client-cli chat` (interactive), `send` and `listen` (for scripts).
//!
//! All three run the same pieces: a session link to the chat server ([`link`]), the client's
//! chat state machine ([`state`]: Hello and the claim key, requests and their fates, rejoining
//! rooms after a reconnect, queueing while disconnected), the claim key on disk ([`keys`]),
//! following a server's name to a new address ([`follow`]), and [`note`]s that each front end
//! shows its own way ([`render`], [`json`]).

mod follow;
mod json;
mod keys;
mod link;
mod note;
mod render;
mod repl;
mod script;
mod split;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use dgram_proto::chat::{Room, Target};
use dgram_proto::Name;

use self::follow::{Follow, ServerTarget};
use self::keys::KeyFile;
use self::link::{Link, NetEvent};
use self::note::Note;
use self::state::{Action, Chat};
use crate::args;

pub(crate) use repl::run as chat;
pub(crate) use script::{listen, send};

/// Options every chat command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Common {
    /// The chat server's address (a HOST is looked up again while disconnected).
    #[arg(long, env = "CHAT_SERVER", default_value = "127.0.0.1:8081", value_parser = args::server_as_given)]
    pub(crate) server: (String, SocketAddr),
    /// The name to chat as [default: your login name, or "guest"].
    #[arg(long, env = "DGRAM_NAME", value_parser = args::name)]
    pub(crate) name: Option<Name>,
    /// Where claim keys are kept [default: $XDG_CONFIG_HOME/dgram, else ~/.config/dgram].
    #[arg(long, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
}

/// `client-cli chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `client-cli send`.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Who to send to: a NAME, or #ROOM (joined first if need be).
    #[arg(long, value_name = "NAME|#ROOM", value_parser = target)]
    pub(crate) to: Target,
    /// Wait until every recipient has the message, not just the server.
    #[arg(long)]
    pub(crate) wait_delivered: bool,
    /// How long to wait for the server (bare numbers are milliseconds: 500, 2s, 1m).
    #[arg(long, default_value = "10s", value_parser = args::timeout)]
    pub(crate) timeout: Duration,
    /// Send a text over the 4096-byte limit as several messages, in order.
    #[arg(long)]
    pub(crate) split: bool,
    /// The text, joined with spaces; without it, all of standard input is one message.
    /// (Put `--` before text that starts with a dash.)
    pub(crate) text: Vec<String>,
}

/// `client-cli listen`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// A room to join and listen to (repeat for more).
    #[arg(long, value_name = "ROOM", value_parser = room)]
    pub(crate) join: Vec<Room>,
    /// Print one JSON object per event instead of lines for people.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Parses `--to`: `#room` or a name.
pub(crate) fn target(s: &str) -> Result<Target, String> {
    let s = s.trim();
    if s.starts_with('#') {
        return room(s).map(Target::Room);
    }
    args::name(s).map(Target::User)
}

/// Parses a room name (a leading `#` is allowed).
pub(crate) fn room(s: &str) -> Result<Room, String> {
    Room::new(s.trim()).map_err(|e| format!("{s:?} is not a valid room name: {e}"))
}

/// Who we are, where, and where our key lives.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) server: ServerTarget,
    pub(crate) name: Name,
    pub(crate) keys: KeyFile,
}

impl Common {
    /// Fills in the defaults that need the environment.
    pub(crate) fn resolve(&self) -> anyhow::Result<Identity> {
        let name = match &self.name {
            Some(name) => name.clone(),
            None => args::default_name()?,
        };
        let home = match &self.home {
            Some(home) => home.clone(),
            None => keys::default_home()?,
        };
        let keys = KeyFile::new(&home, &self.server.0, &name);
        Ok(Identity {
            server: ServerTarget::new(&self.server.0, self.server.1),
            name,
            keys,
        })
    }
}

/// A chat session: the link, the state machine, and the key file, run together.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) chat: Chat,
    pub(crate) link: Link,
    keys: KeyFile,
}

impl Session {
    /// Reads the claim key and starts the session (which waits for a server on its own).
    pub(crate) async fn open(id: &Identity) -> anyhow::Result<Self> {
        Self::open_with(id, Follow::system()).await
    }

    /// [`Session::open`], with the server's name looked up again by `follow`.
    pub(crate) async fn open_with(id: &Identity, follow: Follow) -> anyhow::Result<Self> {
        let key = id.keys.load()?;
        let link = Link::open(id.server.clone(), follow).await?;
        Ok(Self {
            chat: Chat::new(id.name.clone(), key),
            link,
            keys: id.keys.clone(),
        })
    }

    /// Does what the state machine asks and returns what it wants shown.
    pub(crate) async fn pump(&mut self) -> anyhow::Result<Vec<Note>> {
        let mut notes = Vec::new();
        while let Some(action) = self.chat.poll_action() {
            match action {
                Action::Transmit { msg, req } => self.link.transmit(&msg, req).await?,
                Action::SaveKey(key) => {
                    if let Err(e) = self.keys.save(&key) {
                        let message = format!(
                            "the name is yours, but its key could not be saved ({e:#}); \
                             once this client stops, the name cannot be used again"
                        );
                        notes.push(Note::Error { message });
                    }
                }
                Action::Show(note) => notes.push(note),
            }
        }
        Ok(notes)
    }

    /// Waits for what the link reports next and takes it in; an error once the link has
    /// stopped (its socket failed), since nothing more will come.
    pub(crate) async fn step(&mut self) -> anyhow::Result<()> {
        let event = self
            .link
            .events
            .recv()
            .await
            .with_context(|| format!("the session with {} stopped", self.link.server()))?;
        match event {
            NetEvent::Stopped(why) => Err(anyhow::anyhow!(why))
                .with_context(|| format!("the session with {} stopped", self.link.server())),
            event => {
                self.chat.handle(event);
                Ok(())
            }
        }
    }

    /// Where the claim key is kept.
    pub(crate) fn key_path(&self) -> &std::path::Path {
        self.keys.path()
    }

    /// Says goodbye and stops.
    pub(crate) async fn close(self) -> anyhow::Result<()> {
        self.link.close().await
    }
}

/// Whether to colour output: a terminal, and no `NO_COLOR` (no-color.org).
pub(crate) fn use_colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A single-threaded runtime: the chat client is one session and a terminal.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopped_link_ends_the_session_with_its_error() {
        let home = tempfile::Builder::new()
            .prefix("dgram-session-test-")
            .tempdir()
            .expect("a temporary directory");
        let name = Name::new("alex").expect("valid name");
        // Nothing listens there; it does not matter, the link is told it stopped.
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("literal");
        let id = Identity {
            server: ServerTarget::new("127.0.0.1:9", addr),
            keys: KeyFile::new(home.path(), "127.0.0.1:9", &name),
            name,
        };
        let mut session = Session::open(&id).await.expect("open");
        // The driver's own failure cannot be caused from outside; its report can.
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        session.link.events = events;
        tx.send(NetEvent::Stopped("socket gone".to_owned()))
            .expect("the session reads");
        let within = Duration::from_secs(10);
        let stepped = tokio::time::timeout(within, session.step()).await;
        let err = stepped.expect("not stuck").expect_err("stopped");
        let err = format!("{err:#}");
        assert!(
            err.contains("stopped") && err.contains("socket gone"),
            "{err}"
        );
        session.close().await.expect("close");
    }
}
