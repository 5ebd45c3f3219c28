//! `cargo bench -p chat-server --bench chat -- SUBCOMMAND --server ADDR [OPTIONS]`: load for a
//! chat server running as its own process (`bench/chat` starts it, with its limits off, and
//! passes its address and pid). The clients are real proto session clients, each on its own
//! loopback socket, driven by `dgram_net::session::drive` on a tokio runtime of `--workers` threads (1).
//!
//! - `load`: connects `--sessions` clients (`u0`, `u1`, ...; Hello each), then measures DMs
//!   between random pairs with `--window` unreceipted per sender (max throughput; a list such
//!   as `2,8` measures once per window), DMs at `--rate` per second (latency from the
//!   sender's `Client::send` to the recipient's event, one clock, stamped in the text), and a
//!   room of `--members` with `--senders` posting (deliveries per second).
//! - `accept`: connects `--sessions` clients (`{--prefix}0`, ...), then each keeps `--window`
//!   DMs to random peers not yet answered `Accepted`: accepted messages per second, and the
//!   time from `Client::send` to `Accepted` (matched by request id). `--label` names the
//!   server in the result line (bench/chat runs it against a durable and an in-memory one).
//! - `cluster`: DMs from one half of `--sessions` clients to the other, each sender keeping
//!   `--window` undelivered, placed by `--placement` on `--server` and `--server2` (two
//!   instances of a chat cluster, or one): DMs received per second and the time from
//!   `Client::send` to the recipient's event (see `cluster.rs`).
//! - `memory`: the server's VmRSS (by `--server-pid`) before and after `--sessions` idle
//!   clients joined.
//! - `echo`: the baseline: `--sessions` sockets with `--window` raw datagrams in flight each,
//!   against an echo-server.
//! - `irc`, `irc-memory`: the `load` and `memory` phases against an IRC server over TCP (the
//!   baseline of `bench/chat.d/irc`; see `irc/mod.rs`).
//!
//! Every result is one `result phase=... key=value ...` line on stdout, for the script. Every
//! wait is bounded, and a watchdog ends the process after `--limit` seconds. Run with no
//! subcommand (as `cargo bench --workspace` does) it explains itself and exits 0.
#![forbid(unsafe_code)]

mod accept;
mod client;
mod cluster;
mod echo;
mod irc;
mod load;
mod procfs;
mod shared;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: chat SUBCOMMAND --server ADDR [OPTIONS]     (normally run by bench/chat)
  load      connect, DM throughput, DM latency at a fixed rate, room fan-out
  accept    accepted messages per second and time to Accepted, window per sender
  cluster   DMs from half the sessions to the other half, placed on --server/--server2
  memory    server VmRSS per idle session (needs --server-pid)
  echo      raw datagram baseline against an echo-server
  irc       the load phases against an IRC server (plain and with receipts, TCP_QUICKACK)
  irc-memory  an IRC server's VmRSS per idle connection (needs --server-pid)
options (defaults): --server-pid PID, --sessions 1000, --warmup 1, --duration 5 (seconds),
  --window 2,8 (in flight per sender; load measures each, echo and accept use the first), --rate 10000,
  --size 32, --members 100, --senders 4, --fanout-window 8, --concurrency 200 (handshakes
  at once), --settle 2 (memory: seconds before the second reading), --limit 600 (seconds
  before a watchdog ends the run), --prefix a (accept: session names), --label server
  (accept: printed as store=LABEL; cluster: as arm=LABEL), --workers 1 (tokio worker threads
  for the clients), --server2 ADDR (cluster: the second instance; default --server),
  --placement one|split|mixed (cluster: who joins where; default one)";

/// The parameters, from the command line.
pub(crate) struct Args {
    pub(crate) command: String,
    pub(crate) server: SocketAddr,
    pub(crate) server_pid: Option<u32>,
    /// `cluster`: the second instance.
    pub(crate) server2: Option<SocketAddr>,
    /// `cluster`: `one`, `split` or `mixed`.
    pub(crate) placement: String,
    pub(crate) sessions: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) windows: Vec<usize>,
    pub(crate) rate: u64,
    pub(crate) size: usize,
    pub(crate) members: usize,
    pub(crate) senders: usize,
    pub(crate) fanout_window: usize,
    pub(crate) concurrency: usize,
    pub(crate) settle: Duration,
    pub(crate) limit: Duration,
    pub(crate) prefix: String,
    pub(crate) label: String,
    /// Tokio worker threads for the clients.
    pub(crate) workers: usize,
}

fn secs(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{v:?} is not a number of seconds"))
}

fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{v:?} is not a number"))
}

impl Args {
    /// Parses `SUBCOMMAND --key value ...`; `Ok(None)` when there is no subcommand.
    fn parse(raw: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut command = None;
        let mut a = Args {
            command: String::new(),
            server: SocketAddr::from(([127, 0, 0, 1], 8081)),
            server_pid: None,
            server2: None,
            placement: "one".to_owned(),
            sessions: 1000,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            windows: vec![2, 8],
            rate: 10_000,
            size: 32,
            members: 100,
            senders: 4,
            fanout_window: 8,
            concurrency: 200,
            settle: Duration::from_secs(2),
            limit: Duration::from_secs(600),
            prefix: "a".to_owned(),
            label: "server".to_owned(),
            workers: 1,
        };
        let mut raw = raw.peekable();
        while let Some(arg) = raw.next() {
            // `cargo bench` passes `--bench` to every bench binary.
            if arg == "--bench" {
                continue;
            }
            let Some(key) = arg.strip_prefix("--") else {
                command = Some(arg);
                continue;
            };
            let v = raw.next().ok_or_else(|| format!("--{key} needs a value"))?;
            match key {
                "server" => a.server = num(&v)?,
                "server-pid" => a.server_pid = Some(num(&v)?),
                "server2" => a.server2 = Some(num(&v)?),
                "placement" => a.placement = v,
                "sessions" => a.sessions = num(&v)?,
                "warmup" => a.warmup = secs(&v)?,
                "duration" => a.duration = secs(&v)?,
                "window" => a.windows = v.split(',').map(num).collect::<Result<_, _>>()?,
                "rate" => a.rate = num(&v)?,
                "size" => a.size = num(&v)?,
                "members" => a.members = num(&v)?,
                "senders" => a.senders = num(&v)?,
                "fanout-window" => a.fanout_window = num(&v)?,
                "concurrency" => a.concurrency = num(&v)?,
                "settle" => a.settle = secs(&v)?,
                "limit" => a.limit = secs(&v)?,
                "prefix" => a.prefix = v,
                "label" => a.label = v,
                "workers" => a.workers = num(&v)?,
                _ => return Err(format!("unknown option --{key}")),
            }
        }
        Ok(command.map(|command| Args { command, ..a }))
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("chat bench: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let limit = args.limit;
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("chat bench: still running after {limit:?}; giving up");
        std::process::exit(3);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(async {
        match args.command.as_str() {
            "load" => load::load(&args).await,
            "memory" => load::memory(&args).await,
            "accept" => accept::accept(&args).await,
            "cluster" => cluster::cluster(&args).await,
            "echo" => echo::echo(&args).await,
            "irc" => irc::load(&args).await,
            "irc-memory" => irc::memory(&args).await,
            other => Err(format!("unknown subcommand {other:?}\n{USAGE}")),
        }
    });
    // Client tasks that did not finish closing must not hold the process.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("chat bench: {why}");
            ExitCode::FAILURE
        }
    }
}
