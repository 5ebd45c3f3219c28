//! dgram's I/O side for sessions: thin tokio drivers that own a socket and the timers and run
//! proto's session state machines ([`session`]), batched datagram I/O ([`batch`]); and what every
//! service shares: the per-key rate-limit tower layer, tracing setup and shutdown on signals.
//! The loss-injecting proxy is its own crate, `dgram-proxy`.
#![forbid(unsafe_code)]

pub mod batch;
pub mod ratelimit;
pub mod service;
pub mod session;
pub mod signal;
pub mod telemetry;
