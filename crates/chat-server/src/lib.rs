//! dgram's chat service as a library: [`run`] serves chat on a bound socket until cancelled.
//! The chat rules are [`core`], a state machine without I/O; this crate wires it to sessions through a tower stack
//! (a per-session rate limit and a per-IP session cap, each a layer), logs, and the health probe.
#![forbid(unsafe_code)]

pub mod admit;
pub mod config;
pub mod core;
mod endpoint;
mod error;
pub mod healthcheck;
pub mod limits;
mod requests;
mod server;
pub mod store;

pub use error::Error;
pub use server::{run, Settings};
