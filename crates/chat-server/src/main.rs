//! `chat-server`: parses the configuration, binds the socket and serves chat until SIGTERM or
//! Ctrl-C; or, as `chat-server healthcheck`, probes a running server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use chat_server::config::{Cli, Command, HEALTHCHECK_DEADLINE};
use clap::Parser;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { server }) = cli.command {
        return match chat_server::healthcheck::probe(server, HEALTHCHECK_DEADLINE) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("unhealthy: {why}");
                ExitCode::FAILURE
            }
        };
    }
    match serve(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One readable chain of causes, naming what failed (a path, an address).
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    dgram_net::telemetry::init(cli.log_format);
    // One socket, one thread: the session state is one state machine, and a second thread
    // would only add wake-ups.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let socket = tokio::net::UdpSocket::bind(cli.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.listen))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(dgram_net::signal::cancel_on_signal(shutdown.clone()));
        chat_server::run(socket, shutdown, cli.settings())
            .await
            .context("chat server failed")?;
        Ok(())
    })
}
