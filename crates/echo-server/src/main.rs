//! `echo-server`: parses the configuration and serves echo until SIGTERM or Ctrl-C; or, as
//! `echo-server healthcheck`, probes a running server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use echo_server::config::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = cli.settings();
    cli.common
        .run("echo server", cli.listen, |socket, shutdown| async move {
            echo_server::run(socket, shutdown, settings).await.map(drop)
        })
}
