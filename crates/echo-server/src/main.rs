//! `echo-server`: parses the configuration, binds the socket and runs the server until SIGTERM
//! or Ctrl-C; or, as `echo-server healthcheck`, probes a running server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use echo_server::config::{Cli, Command, HEALTHCHECK_DEADLINE};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { server }) = cli.command {
        return match echo_server::healthcheck::probe(server, HEALTHCHECK_DEADLINE) {
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
            // One readable chain of causes, naming what failed (an address, say).
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    dgram_net::telemetry::init(cli.log_format);
    // One thread that drains the socket in batches beats a multi-thread runtime here: there is
    // one socket, and cross-thread wake-ups would cost more than the work itself.
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
        echo_server::run(socket, shutdown, cli.settings())
            .await
            .context("echo server failed")?;
        Ok(())
    })
}
