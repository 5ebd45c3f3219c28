//! `chat-server`: parses the configuration and serves chat until SIGTERM or Ctrl-C; or, as
//! `chat-server healthcheck`, probes a running server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use chat_server::config::{Cli, Command, HEALTHCHECK_DEADLINE};
use clap::Parser;
use dgram_net::main_support;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { server }) = cli.command {
        return main_support::healthcheck(chat_server::healthcheck::probe(
            server,
            HEALTHCHECK_DEADLINE,
        ));
    }
    let settings = cli.settings();
    main_support::serve(
        "chat server",
        cli.log_format,
        cli.listen,
        |socket, shutdown| chat_server::run(socket, shutdown, settings),
    )
}
