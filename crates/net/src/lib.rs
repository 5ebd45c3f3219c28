//! dgram's I/O side for sessions: thin tokio drivers that own a socket and the timers and run
//! proto's session state machines ([`session`]), batched datagram I/O ([`batch`], and `sendmmsg` in [`sys`]); the per-key
//! rate-limit tower layer the servers put in front of their services ([`rate_limit_layer`]),
//! on the service every such limit shares ([`gate`]);
//! and what the binaries' `main` shares: tracing setup, shutdown on signals, serving until
//! stopped, health-probe exit codes ([`main_support`]). The loss-injecting proxy is its own
//! crate, `dgram-proxy`.
// `unsafe` is denied everywhere but in `sys`, the one module that makes a system call no safe
// crate offers (`sendmmsg`).
#![deny(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

pub mod batch;
pub mod gate;
pub mod main_support;
pub mod rate_limit_layer;
pub mod session;
pub mod sys;

/// Where a client of `server` binds: the wildcard address of the server's family, port 0, so
/// that the system picks a free port and the right interface for each datagram, and replies
/// can reach it.
pub fn unspecified_like(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
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
