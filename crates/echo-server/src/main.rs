//! `echo-server`: parses the configuration and serves echo until SIGTERM or Ctrl-C; or, as
//! `echo-server healthcheck`, probes a running server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use dgram_net::main_support;
use echo_server::config::{Cli, Command, HEALTHCHECK_DEADLINE};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { server }) = cli.command {
        return main_support::healthcheck(echo_server::healthcheck::probe(
            server,
            HEALTHCHECK_DEADLINE,
        ));
    }
    let settings = cli.settings();
    main_support::serve(
        "echo server",
        cli.log_format,
        cli.listen,
        |socket, shutdown| async move { echo_server::run(socket, shutdown, settings).await.map(drop) },
    )
}
