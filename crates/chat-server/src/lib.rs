//! dgram's chat service as a library: [`run`] serves chat on a bound socket until cancelled.
//! The chat rules are [`core`], a state machine without I/O over a store of its changes
//! (memory, or SQLite in [`store`]); the endpoint wires it to sessions, with client requests
//! passing a tower stack of limits first ([`admit`]: a per-IP session cap, a per-session rate
//! limit, and [`send_limits`] per name and per network, each a layer); and the health probe.
//! With `--nats`, several instances are one service over NATS JetStream (`cluster`).
#![forbid(unsafe_code)]

pub mod admit;
mod cluster;
pub mod config;
pub mod core;
mod endpoint;
mod error;
pub mod healthcheck;
mod requests;
pub mod send_limits;
mod server;
pub mod server_key;
pub mod session_cap;
mod shed;
pub mod store;

pub use error::Error;
pub use server::{run, Settings};
