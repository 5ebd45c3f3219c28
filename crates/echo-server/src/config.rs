//! The command line: flags with environment fallbacks, so that containers configure the server
//! through their environment.

use std::net::SocketAddr;

use clap::Parser;
use dgram_net::main_support::cli::ServerArgs;
use dgram_proto::token_bucket::Rate;

use crate::healthcheck::EchoProbe;
use crate::Settings;

/// dgram's UDP echo service: answers every datagram with its ASCII letters upper-cased.
///
/// Plain datagrams (from `nc -u`, say) get the same bytes back upper-cased; dgram echo
/// requests (from `client-cli echo`) get an echo reply with the same request id.
#[derive(Debug, Parser)]
#[command(name = "echo-server", version, about, long_about)]
pub struct Cli {
    /// Address and UDP port to listen on.
    #[arg(long, env = "ECHO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Datagrams per second each source IP address may send; 0 turns the limit off.
    #[arg(long, env = "ECHO_RATE", default_value_t = 1000)]
    pub rate: u32,

    /// How many datagrams a source IP address may send at once before the rate applies.
    #[arg(long, env = "ECHO_BURST", default_value_t = 1000)]
    pub burst: u32,

    /// Plain (non-envelope) replies per second each source IP address gets, within `--rate`
    /// (the burst is the same number); 0 turns this limit off. Plain replies are what another
    /// echo service can bounce back, so they stay low.
    #[arg(long, env = "ECHO_PLAIN_RATE", default_value_t = 20)]
    pub plain_rate: u32,

    /// `--log-format` and the `healthcheck` subcommand, as every dgram server has them (the
    /// probe's own names are in [`crate::healthcheck`]).
    #[command(flatten)]
    pub common: ServerArgs<EchoProbe>,
}

impl Cli {
    /// The server settings these flags ask for.
    pub fn settings(&self) -> Settings {
        let rate = (self.rate > 0).then(|| Rate {
            per_second: f64::from(self.rate),
            burst: self.burst.max(1),
        });
        let plain_rate = (self.plain_rate > 0).then(|| Rate {
            per_second: f64::from(self.plain_rate),
            burst: self.plain_rate,
        });
        Settings {
            rate,
            plain_rate,
            ..Settings::default()
        }
    }
}
