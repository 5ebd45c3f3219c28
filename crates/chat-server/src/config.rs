//! The command line: flags with environment fallbacks, so that containers configure the server
//! through their environment.

use std::net::SocketAddr;

use clap::Parser;
use dgram_net::main_support::cli::ServerArgs;
use dgram_proto::token_bucket::Rate;

use crate::healthcheck::SessionProbe;
use crate::Settings;

const HOUR: u64 = 60 * 60 * 1000;
const DAY: u64 = 24 * HOUR;

/// dgram's chat service: names, direct messages, rooms and presence over reliable UDP sessions.
///
/// Clients (`client-cli chat`, `send`, `listen`) join with a name; the first join of a free
/// name binds it to the client's identity key, which later joins must prove. Sessions are
/// encrypted; `chat-server key [--public]` prints the server key's fingerprint, which clients
/// pin (`client-cli --server-key`).
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

    /// Messages per second one name may send, from all its sessions together; 0 turns the
    /// limit off.
    #[arg(long, env = "CHAT_NAME_RATE", default_value_t = 10.0)]
    pub name_rate: f64,

    /// Messages one name may send at once, from all its sessions together.
    #[arg(long, env = "CHAT_NAME_BURST", default_value_t = 20)]
    pub name_burst: u32,

    /// Messages per second one client network (an IPv4 address, an IPv6 /64) may send, from
    /// all its sessions together; 0 turns the limit off.
    #[arg(long, env = "CHAT_IP_RATE", default_value_t = 20.0)]
    pub ip_rate: f64,

    /// Messages one client network may send at once, from all its sessions together.
    #[arg(long, env = "CHAT_IP_BURST", default_value_t = 40)]
    pub ip_burst: u32,

    /// Open sessions per client IP address.
    #[arg(long, env = "CHAT_MAX_SESSIONS_PER_IP", default_value_t = 16)]
    pub max_sessions_per_ip: usize,

    /// Rooms one client network may create per hour (all of them at once, then one every
    /// 60/N minutes); 0 turns the limit off.
    #[arg(long, env = "CHAT_ROOMS_PER_HOUR", default_value_t = 10)]
    pub rooms_per_hour: u32,

    /// Names one client network may claim per hour; 0 turns the limit off.
    #[arg(long, env = "CHAT_CLAIMS_PER_HOUR", default_value_t = 20)]
    pub claims_per_hour: u32,

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

    /// Hours after which a new claim lapses when no later session has used it (a name claimed
    /// once and never again); at most the claim days.
    #[arg(long, env = "CHAT_NEW_CLAIM_HOURS", default_value_t = 24)]
    pub new_claim_hours: u64,

    /// Days after which a room is forgotten when nothing said in it is left and all its
    /// members have been offline that long.
    #[arg(long, env = "CHAT_ROOM_IDLE_DAYS", default_value_t = 14)]
    pub room_idle_days: u64,

    /// Where chat state (history, queues, rooms, name claims) is kept, in SQLite; `:memory:`
    /// keeps it in memory only, gone when the server stops.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: String,

    /// The most MiB the database may take; past it new messages are refused with an error,
    /// as on a full disk, while everything else goes on. 0: as much as the disk holds.
    #[arg(long, env = "CHAT_MAX_DB_MIB", default_value_t = 0)]
    pub max_db_mib: u64,

    /// NATS servers (comma-separated URLs) of a JetStream cluster: this server joins the chat
    /// service they hold, as one of its instances (the data directory is then not used).
    #[arg(long, env = "CHAT_NATS", value_delimiter = ',')]
    pub nats: Vec<String>,

    /// `--log-format` and the `healthcheck` subcommand, as every dgram server has them (the
    /// probe's own names are in [`crate::healthcheck`]).
    #[command(flatten)]
    pub common: ServerArgs<SessionProbe>,
}

/// `chat-server key`: prints the fingerprint of the server's key in the data directory (made
/// there first if the server never ran), for clients to pin with `--server-key`.
#[derive(Debug, Parser)]
#[command(name = "chat-server key")]
pub struct KeyCli {
    /// The server's data directory (where `server.key` is).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: String,
    /// Print the public key too (64 hex digits; `--server-key` takes either).
    #[arg(long)]
    pub public: bool,
}

impl Cli {
    /// The server settings these flags ask for.
    pub fn settings(&self) -> Settings {
        let defaults = Settings::default();
        Settings {
            rate: rate(self.rate, self.burst),
            name_rate: rate(self.name_rate, self.name_burst),
            network_rate: rate(self.ip_rate, self.ip_burst),
            max_sessions_per_ip: self.max_sessions_per_ip.max(1),
            data_dir: (self.data_dir != ":memory:").then(|| self.data_dir.clone().into()),
            nats: self.nats.clone(),
            max_db_bytes: (self.max_db_mib > 0).then(|| self.max_db_mib.saturating_mul(1 << 20)),
            chat: crate::core::ChatConfig {
                room_history: self.room_history.max(1),
                replay: self.replay,
                queue: self.queue.max(1),
                expiry_ms: self.expiry_days.max(1).saturating_mul(DAY),
                claim_ttl_ms: self.claim_days.max(1).saturating_mul(DAY),
                new_claim_ttl_ms: self.new_claim_hours.max(1).saturating_mul(HOUR),
                room_idle_ms: self.room_idle_days.max(1).saturating_mul(DAY),
                rooms_per_network: per_hour(self.rooms_per_hour),
                claims_per_network: per_hour(self.claims_per_hour),
                ..defaults.chat
            },
            ..defaults
        }
    }
}

/// `per_second` with a burst of `burst` (at least one); `None` for a rate of 0 (off).
fn rate(per_second: f64, burst: u32) -> Option<Rate> {
    (per_second > 0.0).then(|| Rate {
        per_second,
        burst: burst.max(1),
    })
}

/// `n` an hour, all of them at once if need be; `None` for 0 (off).
fn per_hour(n: u32) -> Option<Rate> {
    (n > 0).then(|| crate::core::per_hour(n))
}
