//! What every dgram server's command line ends with: `--log-format`, and the `healthcheck`
//! subcommand that container images run instead of a shell. A server flattens
//! [`ServerArgs`] into its own clap `Parser` after its own flags and names its [`Probe`]: the
//! subcommand's help, the environment variable and default address of the server to probe,
//! and the probe itself. Then [`ServerArgs::run`] is all its `main` has left to do.

use std::error::Error;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::telemetry::LogFormat;

/// How long a health probe may take in all.
pub const HEALTHCHECK_DEADLINE: Duration = Duration::from_secs(2);

/// A server's health probe, as its `healthcheck` subcommand offers it. The constants are
/// clap's: they stand where a literal would in `#[arg(env = …, default_value = …)]`, so each
/// server keeps its own names and help while the declaration is written once.
pub trait Probe {
    /// The subcommand's help line: what the probe checks.
    const ABOUT: &'static str;
    /// The environment variable that names the server to probe.
    const SERVER_ENV: &'static str;
    /// The server probed when neither `--server` nor the variable says otherwise.
    const DEFAULT_SERVER: &'static str;

    /// Probes `server`; `Ok(())` when it is healthy within `deadline`, else why not.
    fn probe(server: SocketAddr, deadline: Duration) -> Result<(), String>;
}

/// The flags and subcommand every server shares; `#[command(flatten)]` it last in the
/// server's `Cli`, so that `--help` lists them after the server's own flags.
#[derive(Debug, Args)]
pub struct ServerArgs<P: Probe> {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command<P>>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command<P: Probe> {
    /// Probes a running server (the help line is the server's [`Probe::ABOUT`]).
    #[command(about = P::ABOUT, long_about = None)]
    Healthcheck(Healthcheck<P>),
}

/// `healthcheck`'s flags.
#[derive(Debug, Args)]
pub struct Healthcheck<P: Probe> {
    /// The server to probe.
    #[arg(long, env = P::SERVER_ENV, default_value = P::DEFAULT_SERVER)]
    pub server: SocketAddr,

    #[arg(skip)]
    probe: PhantomData<fn() -> P>,
}

impl<P: Probe> ServerArgs<P> {
    /// Runs the health probe if the command line asked for it; otherwise binds `listen` and
    /// runs `server` on it until a signal (`what` names the service in errors).
    pub fn run<F, Fut, E>(self, what: &str, listen: SocketAddr, server: F) -> ExitCode
    where
        F: FnOnce(UdpSocket, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Error + 'static,
    {
        match self.command {
            Some(Command::Healthcheck(Healthcheck { server: target, .. })) => {
                super::healthcheck(P::probe(target, HEALTHCHECK_DEADLINE))
            }
            None => super::serve(what, self.log_format, listen, server),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::sync::atomic::{AtomicU16, Ordering};

    use clap::{CommandFactory, Parser};

    use super::*;

    /// The port the test probe was last asked about.
    static PROBED: AtomicU16 = AtomicU16::new(0);

    #[derive(Debug)]
    struct TestProbe;

    impl Probe for TestProbe {
        const ABOUT: &'static str = "Probes the test server";
        const SERVER_ENV: &'static str = "DGRAM_NET_TEST_HEALTHCHECK_SERVER";
        const DEFAULT_SERVER: &'static str = "127.0.0.1:9";

        fn probe(server: SocketAddr, _deadline: Duration) -> Result<(), String> {
            PROBED.store(server.port(), Ordering::SeqCst);
            Err(format!("nothing at {server}"))
        }
    }

    #[derive(Debug, Parser)]
    #[command(name = "test-server")]
    struct Cli {
        #[command(flatten)]
        common: ServerArgs<TestProbe>,
    }

    #[test]
    fn the_healthcheck_carries_the_servers_own_help_env_and_default() {
        Cli::command().debug_assert();
        let cli = Cli::command();
        let check = cli.find_subcommand("healthcheck").expect("a healthcheck");
        let about = check.get_about().map(ToString::to_string);
        assert_eq!(about.as_deref(), Some(TestProbe::ABOUT));
        let server = check
            .get_arguments()
            .find(|a| a.get_id() == "server")
            .expect("--server");
        assert_eq!(server.get_env(), Some(OsStr::new(TestProbe::SERVER_ENV)));
        assert_eq!(server.get_default_values(), [TestProbe::DEFAULT_SERVER]);
    }

    #[test]
    fn without_a_subcommand_the_server_serves_with_text_logs() {
        let cli = Cli::try_parse_from(["test-server"]).expect("parses");
        assert!(cli.common.command.is_none());
        assert_eq!(cli.common.log_format, LogFormat::Text);
        let json = Cli::try_parse_from(["test-server", "--log-format", "json"]).expect("parses");
        assert_eq!(json.common.log_format, LogFormat::Json);
    }

    #[test]
    fn a_healthcheck_runs_the_probe_instead_of_serving() {
        let cli = Cli::try_parse_from(["test-server", "healthcheck", "--server", "127.0.0.1:7"])
            .expect("parses");
        let listen = "127.0.0.1:0".parse().expect("literal");
        let code = cli.common.run("test server", listen, |_, _| async {
            Err::<(), _>(std::io::Error::other("served instead of probing"))
        });
        assert_eq!(PROBED.load(Ordering::SeqCst), 7);
        assert_eq!(
            code,
            ExitCode::FAILURE,
            "the probe's failure is the exit status"
        );
    }
}
