//! `client-cli`, dgram's command-line client: the command line and what each command runs.
//!
//! `client-cli chat` is the interactive chat client, and `send` and `listen` its scripting
//! side; `client-cli echo` talks to an echo server the way a person would (one line, a prompt,
//! or piped lines); `client-cli bench echo` loads it and reports throughput and latency;
//! `client-cli proxy` sits between clients and a server and loses datagrams on purpose.
#![forbid(unsafe_code)]

mod args;
mod bench;
mod chat;
mod echo;
mod key;
mod lines;
mod output;
mod proxy;
mod tui;

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use dgram_proto::echo::ClientConfig;
use dgram_proto::Name;

/// dgram's command-line client for the UDP chat and echo services.
#[derive(Debug, Parser)]
#[command(name = "client-cli", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat interactively: choose who to talk to, then type.
    ///
    /// With nobody chosen, the prompt asks who to chat with and lists who is online; type a
    /// name, or #room to join a room. Then each line goes to them; `quit` goes back to
    /// choosing, `q` or Ctrl-D leaves. /help lists the commands (/msg, /join, /who, /whois,
    /// ...). The first use of a name claims it on that server for this client's key (kept under
    /// --home; `client-cli key` shows it).
    Chat(chat::ChatArgs),
    /// Send one message from a script.
    ///
    /// Exits 0 once the server accepted it (with --wait-delivered: once it was delivered),
    /// 1 with the reason on stderr otherwise (name claimed by someone else, no such user, not
    /// in the room, too long, or no decision within --timeout).
    Send(chat::SendArgs),
    /// Print messages, presence and receipts as they happen, until Ctrl-C or SIGTERM.
    Listen(chat::ListenArgs),
    /// Send text to an echo server and print the upper-cased answers.
    ///
    /// With TEXT, sends it once. Without, reads standard input: at a terminal, a `>>: `
    /// prompt (`q`, `quit` or Ctrl-D to leave); otherwise one request per line, answers in the
    /// order of the lines. Exits with 1 if text given on the command line or piped in went
    /// unanswered.
    Echo(EchoArgs),
    /// Generate load against a server and report throughput and latency.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Forward UDP to a server, dropping, duplicating, delaying, reordering and rate-limiting on
    /// purpose.
    ///
    /// Point clients at --listen instead of at the server. Each client gets a port of its own
    /// towards the server, so the server sees one source per client, and replies come back
    /// the same way; the impairments apply in both directions, and --rate makes a slow link
    /// with a queue (--queue) each way. The seed is printed at start:
    /// pass it back with --seed to replay the same decisions. Logs go to stderr (RUST_LOG=debug
    /// shows each client); Ctrl-C or SIGTERM stops the proxy, which then prints its totals.
    ///
    /// Example: client-cli proxy --listen 127.0.0.1:9000 --to 127.0.0.1:8080 --loss 0.2
    ///          client-cli proxy --listen 127.0.0.1:9001 --to 127.0.0.1:8081 --rate 2000 --queue 50
    Proxy(proxy::ProxyArgs),
    /// This client's identity: the key pair its names belong to, one per client home.
    ///
    /// A name belongs to the key that first used it on a server. To use your names from
    /// another device, copy the identity there: `client-cli key export | ssh phone client-cli
    /// key import`, or `key export --out FILE` and `key import FILE`.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

#[derive(Debug, clap::Args)]
struct EchoArgs {
    /// The echo server's address.
    #[arg(long, env = "ECHO_SERVER", default_value = "127.0.0.1:8080", value_parser = args::server)]
    server: SocketAddr,
    /// The name to sign requests with [default: your login name, or "guest"].
    #[arg(long, env = "DGRAM_NAME", value_parser = args::name)]
    name: Option<Name>,
    /// How long to wait for each try's reply (bare numbers are milliseconds: 500, 500ms, 2s).
    #[arg(long, default_value = "1s", value_parser = args::timeout)]
    timeout: Duration,
    /// How many times to resend a request that got no reply.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=100))]
    retries: u32,
    /// Print one JSON object per request on stdout, failures included.
    #[arg(long)]
    json: bool,
    /// Text to send, joined with spaces; without it, lines are read from standard input.
    /// (Put `--` before text that starts with a dash.)
    text: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Keep a window of echo requests in flight and measure the replies.
    ///
    /// Prints a human summary, then last a machine-readable line:
    /// `result mode=.. window=.. size=.. sent=.. received=.. lost=.. rps=.. p50_us=.. p99_us=..
    /// p999_us=..`. Exits with 1 if no reply came back at all.
    Echo(BenchEchoArgs),
}

#[derive(Debug, clap::Args)]
struct BenchEchoArgs {
    /// The echo server's address.
    #[arg(long, env = "ECHO_SERVER", default_value = "127.0.0.1:8080", value_parser = args::server)]
    server: SocketAddr,
    /// How many requests to keep in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    window: u32,
    /// How long to measure (bare numbers are seconds: 5, 0.5, 500ms).
    #[arg(long, default_value = "5", value_parser = args::seconds)]
    duration: Duration,
    /// Datagram size in bytes.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(16..=dgram_proto::MAX_DATAGRAM as i64))]
    size: u32,
    /// What to send: raw text datagrams, or dgram EchoRequest envelopes.
    #[arg(long, value_enum, default_value_t = Mode::Plain)]
    mode: Mode,
    /// How long to run before measuring, to let caches and buffers settle (not counted).
    #[arg(long, default_value = "1", value_parser = args::seconds)]
    warmup: Duration,
}

/// What the load generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// A sequence number in 16 uppercase hex digits padded with 'x'; the answer has 'X'.
    Plain,
    /// EchoRequest envelopes padded to the size, matched by request id.
    Envelope,
}

impl Mode {
    /// The name the result line uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Envelope => "envelope",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // The reader went away (`client-cli ... | head -1`): nobody is left to tell.
        Err(e) if is_broken_pipe(&e) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(io::stderr(), "client-cli: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        // Full screen only on a terminal; piped, the line client reads the lines.
        Command::Chat(a) if a.tui && io::stdout().is_terminal() => tui::run(a),
        Command::Chat(a) => chat::chat(a),
        Command::Send(a) => chat::send(a),
        Command::Listen(a) => chat::listen(a),
        Command::Echo(a) => {
            let name = match a.name {
                Some(name) => name,
                None => args::default_name()?,
            };
            echo::run(echo::EchoSettings {
                server: a.server,
                name,
                client: ClientConfig {
                    timeout: a.timeout,
                    retries: a.retries,
                },
                json: a.json,
                text: a.text,
            })
        }
        Command::Bench(BenchCommand::Echo(a)) => {
            if a.duration.is_zero() {
                anyhow::bail!("--duration must be longer than zero");
            }
            bench::run(bench::BenchSettings {
                server: a.server,
                window: a.window as usize,
                duration: a.duration,
                warmup: a.warmup,
                size: a.size as usize,
                mode: a.mode,
            })
        }
        Command::Proxy(a) => proxy::run(a),
        Command::Key(k) => key::run(k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn echo_defaults() {
        let cli = Cli::try_parse_from(["client-cli", "echo", "hello", "--json", "--", "-there"])
            .expect("valid command line");
        let Command::Echo(a) = cli.command else {
            panic!("not echo");
        };
        assert_eq!(a.timeout, Duration::from_secs(1));
        assert_eq!(a.retries, 2);
        assert!(a.json);
        assert_eq!(a.text, ["hello", "-there"]);
    }

    #[test]
    fn bench_echo_parses() {
        let cli = Cli::try_parse_from([
            "client-cli",
            "bench",
            "echo",
            "--server",
            "127.0.0.1:9000",
            "--window",
            "8",
            "--duration",
            "1",
            "--size",
            "64",
            "--mode",
            "envelope",
            "--warmup",
            "0",
        ])
        .expect("valid command line");
        let Command::Bench(BenchCommand::Echo(a)) = cli.command else {
            panic!("not bench echo");
        };
        assert_eq!(a.mode, Mode::Envelope);
        assert_eq!(a.warmup, Duration::ZERO);
        assert!(Cli::try_parse_from(["client-cli", "bench", "echo", "--size", "15"]).is_err());
        assert!(Cli::try_parse_from(["client-cli", "echo", "--server", "nowhere"]).is_err());
    }

    #[test]
    fn proxy_parses() {
        let cli = Cli::try_parse_from([
            "client-cli",
            "proxy",
            "--listen",
            "0.0.0.0:9000",
            "--to",
            "127.0.0.1:8080",
            "--loss",
            "0.2",
            "--delay",
            "50",
            "--seed",
            "7",
        ])
        .expect("valid command line");
        let Command::Proxy(a) = cli.command else {
            panic!("not proxy");
        };
        assert_eq!((a.loss, a.dup, a.reorder), (0.2, 0.0, 0.0));
        assert_eq!((a.delay, a.seed), (Duration::from_millis(50), Some(7)));
        assert_eq!(a.idle_timeout, Duration::from_secs(90));
        assert_eq!(a.max_flows, 1024);
        let base = ["client-cli", "proxy", "--listen", "127.0.0.1:0"];
        let with = |extra: &[&str]| Cli::try_parse_from(base.iter().chain(extra));
        assert!(with(&["--to", "127.0.0.1:8080"]).is_ok());
        assert!(with(&[]).is_err(), "--to is required");
        assert!(with(&["--to", "0.0.0.0:8080"]).is_err());
        assert!(with(&["--to", "127.0.0.1:8080", "--dup", "1.5"]).is_err());
        assert!(with(&["--to", "127.0.0.1:8080", "--delay", "60001"]).is_err());
        assert!(with(&["--to", "127.0.0.1:8080", "--max-flows", "0"]).is_err());
    }

    #[test]
    fn proxy_bottleneck_parses() {
        let base = [
            "client-cli",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--to",
            "127.0.0.1:8080",
        ];
        let with = |extra: &[&str]| Cli::try_parse_from(base.iter().chain(extra));
        let rate_queue = |extra: &[&str]| match with(extra).map(|cli| cli.command) {
            Ok(Command::Proxy(a)) => Some((a.rate, a.queue)),
            _ => None,
        };
        let ms = Duration::from_millis;
        assert_eq!(rate_queue(&[]), Some((None, ms(50))));
        assert_eq!(rate_queue(&["--rate", "2000"]), Some((Some(2000), ms(50))));
        let both = ["--rate", "2000", "--queue", "0"];
        assert_eq!(rate_queue(&both), Some((Some(2000), ms(0))));
        let with_unit = ["--rate", "2000", "--queue", "0.1s"];
        assert_eq!(rate_queue(&with_unit), Some((Some(2000), ms(100))));
        assert!(with(&["--queue", "50"]).is_err(), "--queue needs --rate");
        assert!(with(&["--rate", "0"]).is_err());
        assert!(with(&["--rate", "100000001"]).is_err());
        assert!(with(&["--rate", "2000", "--queue", "60001"]).is_err());
    }

    #[test]
    fn every_subcommand_says_its_version() {
        fn paths(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            for sub in cmd.get_subcommands() {
                let mut path = path.clone();
                path.push(sub.get_name().to_owned());
                out.push(path.clone());
                paths(sub, path, out);
            }
        }
        let mut all = Vec::new();
        paths(&Cli::command(), vec!["client-cli".to_owned()], &mut all);
        assert!(all.len() >= 7, "{all:?}");
        for path in all {
            let args = path.iter().map(String::as_str).chain(["--version"]);
            let err = Cli::try_parse_from(args).expect_err("--version stops parsing");
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::DisplayVersion,
                "{path:?}"
            );
        }
    }
}
