//! `echo-server`: parses the configuration, binds the socket and runs the server until SIGTERM
//! or Ctrl-C; or, as `echo-server healthcheck`, probes a running server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use echo_server::config::{Cli, Command, HEALTHCHECK_DEADLINE};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { server }) = cli.command {
        return Ok(
            match echo_server::healthcheck::probe(server, HEALTHCHECK_DEADLINE) {
                Ok(()) => ExitCode::SUCCESS,
                Err(why) => {
                    eprintln!("unhealthy: {why}");
                    ExitCode::FAILURE
                }
            },
        );
    }
    echo_server::telemetry::init(cli.log_format);
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
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        echo_server::run(socket, shutdown, cli.settings())
            .await
            .context("echo server failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM (what a container's PID 1 receives on stop).
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
    shutdown.cancel();
}
