//! The chat client: `client-cli chat` (interactive), `send` and `listen` (for scripts).
//!
//! All three run the same [`dgram_client::Session`]: the session link to the chat server, the
//! client's chat state machine (Hello and the claim key, requests and their fates, rejoining
//! rooms after a reconnect, queueing while disconnected), the claim key on disk, and following
//! a server's name to a new address. What is here is the front ends: the prompt ([`repl`]),
//! the scripting commands ([`script`]), and the notes shown as lines ([`render`]) or JSON
//! objects ([`json`]).

pub(crate) mod ignore;
mod json;
pub(crate) mod render;
pub(crate) mod repl;
mod script;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use dgram_client::{keys, Identity, IdentityFile, KeyFile, KnownHosts, ServerTarget};
use dgram_proto::chat::{Room, Target};
use dgram_proto::session::ServerPin;
use dgram_proto::Name;

use crate::args;

pub(crate) use repl::run as chat;
pub(crate) use script::{listen, send};

/// Options every chat command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Common {
    /// The chat server's address (a HOST is looked up again while disconnected), or the
    /// addresses of one service's instances separated by commas (`a:8081,b:8081`): when one
    /// stops answering, the client goes on to the next.
    #[arg(long, env = "CHAT_SERVER", default_value = "127.0.0.1:8081", value_parser = args::server_as_given)]
    pub(crate) server: (String, SocketAddr),
    /// The name to chat as [default: your login name, or "guest"].
    #[arg(long, env = "DGRAM_NAME", value_parser = args::name)]
    pub(crate) name: Option<Name>,
    /// Where this client's identity (and `chat`'s input history) is kept [default:
    /// $XDG_CONFIG_HOME/dgram, else ~/.config/dgram].
    #[arg(long, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// The server key to accept, as `chat-server key` prints it (a BLAKE3: fingerprint, or the
    /// 64-hex-digit public key with --public). Without it the first connection to a server
    /// records its key in DIR/known_hosts and later ones must show the same.
    #[arg(long, env = "DGRAM_SERVER_KEY", value_name = "FINGERPRINT", value_parser = server_key)]
    pub(crate) server_key: Option<ServerPin>,
}

fn server_key(s: &str) -> Result<ServerPin, String> {
    ServerPin::parse(s).map_err(|e| e.to_string())
}

/// `client-cli chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Do not show where each DM partner is seen (`来自[127.0.0.1:5000]`, the origin's way,
    /// found with one whois per partner).
    #[arg(long)]
    pub(crate) no_addresses: bool,
    /// The full-screen client: a buffer per conversation, switched with Alt-1..9 or Ctrl-N/P
    /// (DGRAM_TUI=1 makes it the default).
    #[arg(long, env = "DGRAM_TUI", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) tui: bool,
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

impl Common {
    /// What to say when the server's name could not be looked up at start.
    pub(crate) fn unresolved(&self) -> Option<String> {
        (self.server.1.ip() == args::UNRESOLVED).then(|| {
            format!(
                "could not look {} up yet; looking again every 3 s, and what you send waits \
                 until then",
                crate::output::printable(&self.server.0)
            )
        })
    }

    /// Where the client keeps its files (claim keys, the input history).
    pub(crate) fn home(&self) -> anyhow::Result<PathBuf> {
        match &self.home {
            Some(home) => Ok(home.clone()),
            None => keys::default_home().context(
                "neither XDG_CONFIG_HOME nor HOME is set; give a directory with --home DIR",
            ),
        }
    }

    /// Fills in the defaults that need the environment.
    pub(crate) fn resolve(&self) -> anyhow::Result<Identity> {
        let name = match &self.name {
            Some(name) => name.clone(),
            None => args::default_name()?,
        };
        let home = self.home()?;
        let keys = KeyFile::new(&home, &self.server.0, &name);
        // One identity per home, whatever the server is called: names belong to it.
        let key = IdentityFile::new(&home).load_or_create()?;
        let target = ServerTarget::new(&self.server.0, self.server.1)
            .with_pin(self.server_key.unwrap_or(ServerPin::Any))
            .trusting(KnownHosts::in_home(&home))?;
        Ok(Identity {
            server: target,
            name,
            key,
            keys,
        })
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
