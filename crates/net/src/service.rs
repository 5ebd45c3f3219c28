//! What every service's `main` does once its flags are parsed: run a health probe and turn its
//! answer into an exit status, or set up tracing, bind the socket, run the server on one thread
//! until SIGTERM or Ctrl-C, and report a failure as one line with its causes.

use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::telemetry::LogFormat;

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

/// Where a client of `server` binds: the wildcard address of the server's family, port 0, so
/// that the system picks a free port and the right interface for each datagram, and replies
/// can reach it.
pub fn unspecified_like(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
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
    crate::telemetry::init(log_format);
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
        tokio::spawn(crate::signal::cancel_on_signal(shutdown.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_bind_the_family_of_the_server() {
        let v4: SocketAddr = "127.0.0.1:8080".parse().expect("literal");
        let v6: SocketAddr = "[::1]:8080".parse().expect("literal");
        assert!(unspecified_like(v4).is_ipv4());
        assert!(unspecified_like(v6).is_ipv6());
        assert_eq!(unspecified_like(v6).port(), 0);
    }
}
