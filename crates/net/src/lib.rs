//! dgram's I/O side for sessions: thin tokio drivers that own a socket and the timers and run
//! proto's session state machines ([`session`]), and a loss-injecting UDP proxy ([`proxy`]) that
//! lets anyone watch UDP lose packets and dgram recover; and what every service shares: the
//! per-key rate-limit tower layer, tracing setup and shutdown on signals.
#![forbid(unsafe_code)]

mod error;
pub use error::Error;

pub mod batch;
pub mod proxy;
pub mod ratelimit;
pub mod service;
pub mod session;
pub mod signal;
pub mod telemetry;
