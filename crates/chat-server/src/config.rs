//! The command line: flags with environment fallbacks, so that containers configure the server
//! through their environment.

use std::net::SocketAddr;

use clap::Parser;
use dgram_net::main_support::cli::ServerArgs;
use dgram_proto::token_bucket::Rate;

use crate::healthcheck::SessionProbe;
use crate::Settings;

const DAY: u64 = 24 * 60 * 60 * 1000;

/// dgram's chat service: names, direct messages, rooms and presence over reliable UDP sessions.
///
/// Clients (`client-cli chat`, `send`, `listen`) join with a name; the first join of a free
/// name claims it and hands the client a key that later joins must show.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version, about, long_about)]
pub struct Cli {
    /// Address and UDP port to listen on.
    #[arg(long, env = "CHAT_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// Requests a session may send at once before the rate applies.
    #[arg(long, env = "CHAT_BURST", default_value_t = 10)]
    pub burst: u32,

    /// Requests per second a session may send; 0 turns the limit off.
    #[arg(long, env = "CHAT_RATE", default_value_t = 5.0)]
    pub rate: f64,

    /// Open sessions per client IP address.
    #[arg(long, env = "CHAT_MAX_SESSIONS_PER_IP", default_value_t = 16)]
    pub max_sessions_per_ip: usize,

    /// Messages kept per room.
    #[arg(long, env = "CHAT_ROOM_HISTORY", default_value_t = 2048)]
    pub room_history: usize,

    /// Messages replayed on joining a room.
    #[arg(long, env = "CHAT_REPLAY", default_value_t = 50)]
    pub replay: usize,

    /// Direct messages queued per offline user.
    #[arg(long, env = "CHAT_QUEUE", default_value_t = 256)]
    pub queue: usize,

    /// Days after which history and queued messages are dropped.
    #[arg(long, env = "CHAT_EXPIRY_DAYS", default_value_t = 7)]
    pub expiry_days: u64,

    /// Days after which an unused name claim lapses.
    #[arg(long, env = "CHAT_CLAIM_DAYS", default_value_t = 90)]
    pub claim_days: u64,

    /// Where chat state (history, queues, rooms, name claims) is kept, in SQLite; `:memory:`
    /// keeps it in memory only, gone when the server stops.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: String,

    /// The most MiB the database may take; past it new messages are refused with an error,
    /// as on a full disk, while everything else goes on. 0: as much as the disk holds.
    #[arg(long, env = "CHAT_MAX_DB_MIB", default_value_t = 0)]
    pub max_db_mib: u64,

    /// `--log-format` and the `healthcheck` subcommand, as every dgram server has them (the
    /// probe's own names are in [`crate::healthcheck`]).
    #[command(flatten)]
    pub common: ServerArgs<SessionProbe>,
}

impl Cli {
    /// The server settings these flags ask for.
    pub fn settings(&self) -> Settings {
        let defaults = Settings::default();
        Settings {
            rate: (self.rate > 0.0).then(|| Rate {
                per_second: self.rate,
                burst: self.burst.max(1),
            }),
            max_sessions_per_ip: self.max_sessions_per_ip.max(1),
            data_dir: (self.data_dir != ":memory:").then(|| self.data_dir.clone().into()),
            max_db_bytes: (self.max_db_mib > 0).then(|| self.max_db_mib.saturating_mul(1 << 20)),
            chat: crate::core::ChatConfig {
                room_history: self.room_history.max(1),
                replay: self.replay,
                queue: self.queue.max(1),
                expiry_ms: self.expiry_days.max(1).saturating_mul(DAY),
                claim_ttl_ms: self.claim_days.max(1).saturating_mul(DAY),
                ..defaults.chat
            },
            ..defaults
        }
    }
}
