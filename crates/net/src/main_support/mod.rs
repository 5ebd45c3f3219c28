//! What the binaries' `main` shares: the flags and `healthcheck` subcommand every server takes
//! ([`cli`]); once they are parsed, run a health probe and turn its answer into an exit status,
//! or set up tracing ([`telemetry`]), bind the socket, run the server on one thread until
//! SIGTERM or Ctrl-C ([`signal`]), and report a failure as one line with its causes. Nothing
//! here is needed to run a server from a test: that is `run(socket, shutdown)` in each
//! server's crate.

pub mod cli;
pub mod signal;
pub mod telemetry;

use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::unspecified_like;
use telemetry::LogFormat;

/// The exit status of a health probe: 0 when healthy, 1 (with the reason on stderr) otherwise.
pub fn healthcheck(probe: Result<(), String>) -> ExitCode {
    match probe {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("unhealthy: {why}");
            ExitCode::FAILURE
        }
    }
}

/// A blocking socket for a health probe of `server` ([`unspecified_like`]).
pub fn probe_socket(server: SocketAddr) -> Result<std::net::UdpSocket, String> {
    std::net::UdpSocket::bind(unspecified_like(server))
        .map_err(|e| format!("cannot bind a socket: {e}"))
}

/// Binds `listen` and runs `server` on it until a signal; `what` names the service in errors.
pub fn serve<F, Fut, E>(
    what: &str,
    log_format: LogFormat,
    listen: SocketAddr,
    server: F,
) -> ExitCode
where
    F: FnOnce(UdpSocket, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Error + 'static,
{
    telemetry::init(log_format);
    // One socket, one thread: each service is one state machine over one socket, and a second
    // thread would only add cross-thread wake-ups.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        let socket = match UdpSocket::bind(listen).await {
            Ok(s) => s,
            Err(e) => return fail(&format!("cannot listen on {listen}: {e}")),
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(signal::cancel_on_signal(shutdown.clone()));
        match server(socket, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("{what} failed: {}", causes(&e))),
        }
    })
}

/// An error and its sources, joined: "database x: file is not a database".
fn causes(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
