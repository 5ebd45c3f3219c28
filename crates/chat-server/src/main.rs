//! `chat-server`: parses the configuration and serves chat until SIGTERM or Ctrl-C; or, as
//! `chat-server healthcheck`, probes a running server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use chat_server::config::Cli;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = cli.settings();
    cli.common
        .run("chat server", cli.listen, |socket, shutdown| {
            chat_server::run(socket, shutdown, settings)
        })
}
