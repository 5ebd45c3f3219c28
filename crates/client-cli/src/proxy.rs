//! The `proxy` command: runs dgram-proxy's loss-injecting UDP proxy between clients and a server,
//! so that anyone can watch UDP lose, duplicate, delay and reorder datagrams, or squeeze them
//! through a slow link, and dgram recover.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use dgram_proxy::{self as proxy, Bottleneck, Impairment, Limits, ProxyStats};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::args;

/// `client-cli proxy`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct ProxyArgs {
    /// Where to listen: point clients here instead of at the server. Port 0 picks a free port,
    /// printed at start.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: SocketAddr,
    /// The server to forward to.
    #[arg(long, value_name = "ADDR", value_parser = args::server)]
    pub(crate) to: SocketAddr,
    /// Probability (0.0 to 1.0) that a datagram is dropped, as a congested link would.
    #[arg(long, value_name = "P", default_value = "0.0", value_parser = probability)]
    pub(crate) loss: f64,
    /// Probability (0.0 to 1.0) that a datagram is delivered twice, as a retrying link layer or
    /// a route change can do.
    #[arg(long, value_name = "P", default_value = "0.0", value_parser = probability)]
    pub(crate) dup: f64,
    /// Probability (0.0 to 1.0) that a datagram is held an extra random time, up to twice
    /// --delay plus 20 ms, so that later datagrams overtake it.
    #[arg(long, value_name = "P", default_value = "0.0", value_parser = probability)]
    pub(crate) reorder: f64,
    /// Added to every datagram, each way: a round trip gains twice this (bare numbers are
    /// milliseconds: 50, 50ms, 0.2s; at most 60 s).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = link_time)]
    pub(crate) delay: Duration,
    /// Limit each direction to this many kilobits per second, as a slow link would: datagrams
    /// queue for the link behind each other, and are dropped when the queue is full (--queue).
    /// One link each way, shared by every client [default: no limit].
    #[arg(long, value_name = "KBIT",
          value_parser = clap::value_parser!(u64).range(1..=Bottleneck::MAX_RATE_KBIT))]
    pub(crate) rate: Option<u64>,
    /// With --rate: the longest a datagram may wait for the link; later ones are dropped (drop
    /// tail) and counted as "dropped at queue". 0 keeps no queue (bare numbers are
    /// milliseconds: 50, 50ms, 0.1s; at most 60 s).
    #[arg(long, value_name = "DURATION", default_value = "50", requires = "rate",
          value_parser = link_time)]
    pub(crate) queue: Duration,
    /// The largest datagram (UDP payload) the path carries: larger ones are dropped and
    /// counted as "too large", as a tunnel or VPN would drop them, so that path MTU discovery
    /// has something to find [default: no limit].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=65_507))]
    pub(crate) mtu: Option<u32>,
    /// Seed of every random decision: the same seed and the same traffic replay the same
    /// drops, duplicates and delays [default: from the clock, printed at start].
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,
    /// Forget a client after this long without a datagram either way (bare numbers are
    /// seconds: 90, 500ms, 2m); its next datagram gets a new port towards the server.
    #[arg(long, value_name = "DURATION", default_value = "90", value_parser = idle_timeout)]
    pub(crate) idle_timeout: Duration,
    /// Serve at most this many clients at once; datagrams from more are dropped until one
    /// goes idle.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub(crate) max_flows: u32,
}

/// Parses a probability: a number from 0.0 to 1.0.
fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number (give a probability such as 0.1)"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!(
            "{s} is not a probability: give a number from 0.0 (never) to 1.0 (always)"
        ));
    }
    Ok(p)
}

/// Parses `--delay` and `--queue`: bare numbers are milliseconds, at most a minute.
fn link_time(s: &str) -> Result<Duration, String> {
    let d = args::millis(s)?;
    if d > Duration::from_secs(60) {
        return Err(format!("{s:?} is longer than the limit of 60 s"));
    }
    Ok(d)
}

/// Parses `--idle-timeout`: seconds, longer than zero.
fn idle_timeout(s: &str) -> Result<Duration, String> {
    let d = args::seconds(s)?;
    if d.is_zero() {
        return Err("the idle timeout must be longer than zero".into());
    }
    Ok(d)
}

/// Runs the proxy until Ctrl-C or SIGTERM, then prints what it did.
pub(crate) fn run(a: ProxyArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let seed = a.seed.unwrap_or_else(proxy::random_seed);
    let impairment = Impairment {
        loss: a.loss,
        dup: a.dup,
        reorder: a.reorder,
        delay: a.delay,
        bottleneck: a.rate.map(|rate_kbit| Bottleneck {
            rate_kbit,
            queue: a.queue,
        }),
        mtu: a.mtu.map(|m| m as usize),
        seed,
    };
    let limits = Limits {
        idle_timeout: a.idle_timeout,
        max_flows: a.max_flows as usize,
        ..Limits::default()
    };
    // One thread is plenty: the proxy is one loop, and a test tool should leave the cores to
    // the client and server it sits between.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stats = runtime.block_on(async {
        let socket = UdpSocket::bind(a.listen)
            .await
            .with_context(|| format!("binding a UDP socket on {}", a.listen))?;
        let local = socket
            .local_addr()
            .context("reading the listening address")?;
        writeln!(
            io::stderr().lock(),
            "proxy listening on {local}, forwarding to {}{}; seed {seed} (replay with --seed {seed})",
            a.to,
            link_note(impairment.bottleneck, impairment.mtu)
        )
        .context("writing to stderr")?;
        let shutdown = CancellationToken::new();
        tokio::spawn(dgram_net::main_support::signal::cancel_on_signal(
            shutdown.clone(),
        ));
        proxy::run_with(socket, a.to, impairment, limits, shutdown)
            .await
            .context("the proxy failed")
    })?;
    print_stats(&mut io::stdout().lock(), &stats).context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// What the start line says of the bottleneck and the MTU: nothing without them.
fn link_note(bottleneck: Option<Bottleneck>, mtu: Option<usize>) -> String {
    let link = bottleneck.map_or_else(String::new, |b| {
        format!(
            "; at most {} kbit/s each way, queue {} ms",
            b.rate_kbit,
            b.queue.as_millis()
        )
    });
    let mtu = mtu.map_or_else(String::new, |m| {
        format!("; datagrams over {m} bytes dropped")
    });
    link + &mtu
}

/// Logs on stderr at info unless `RUST_LOG` says otherwise: the start, a summary every 10 s
/// while traffic flows, warnings (a full flow table), and with `RUST_LOG=debug` each flow.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Fails only if a subscriber is already set, and then that one logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// The totals, one line per direction, for people and for `grep`.
fn print_stats(out: &mut impl Write, stats: &ProxyStats) -> io::Result<()> {
    writeln!(out, "to server: {}", stats.to_target)?;
    writeln!(out, "to client: {}", stats.to_client)?;
    writeln!(
        out,
        "flows: {} opened, {} expired; {} delayed datagrams unsent at exit",
        stats.flows_opened, stats.flows_expired, stats.unsent_at_shutdown
    )?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dgram_proxy::DirectionStats;

    #[test]
    fn probabilities_are_checked() {
        assert_eq!(probability("0"), Ok(0.0));
        assert_eq!(probability("0.25"), Ok(0.25));
        assert_eq!(probability("1"), Ok(1.0));
        for bad in ["", "-0.1", "1.5", "NaN", "inf", "half", "20%"] {
            assert!(probability(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn idle_timeouts_are_positive_seconds() {
        assert_eq!(idle_timeout("90"), Ok(Duration::from_secs(90)));
        assert_eq!(idle_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert!(idle_timeout("0").is_err());
    }

    #[test]
    fn the_start_line_tells_of_a_bottleneck() {
        assert_eq!(link_note(None, None), "");
        let slow = Bottleneck {
            rate_kbit: 2000,
            queue: Duration::from_millis(50),
        };
        assert_eq!(
            link_note(Some(slow), None),
            "; at most 2000 kbit/s each way, queue 50 ms"
        );
        assert_eq!(
            link_note(Some(slow), Some(1300)),
            "; at most 2000 kbit/s each way, queue 50 ms; datagrams over 1300 bytes dropped"
        );
    }

    #[test]
    fn stats_print_one_line_per_direction() {
        let stats = ProxyStats {
            to_target: DirectionStats {
                received: 10,
                forwarded: 8,
                dropped: 2,
                ..DirectionStats::default()
            },
            flows_opened: 1,
            ..ProxyStats::default()
        };
        let mut out = Vec::new();
        print_stats(&mut out, &stats).expect("writing to a Vec");
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            text,
            "to server: received 10, forwarded 8, dropped 2\n\
             to client: received 0, forwarded 0, dropped 0\n\
             flows: 1 opened, 0 expired; 0 delayed datagrams unsent at exit\n"
        );
    }
}
