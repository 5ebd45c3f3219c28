//! dgram's echo service as a library: the server loop [`run`], the tower stack that answers
//! each datagram ([`service`], with dgram-net's rate-limit layer), and the health probe. `main.rs`
//! only parses configuration, binds and calls [`run`].
#![forbid(unsafe_code)]

pub mod config;
mod error;
pub mod healthcheck;
mod server;
pub mod service;
mod stats;

pub use error::Error;
pub use server::{run, Settings};
pub use stats::Totals;
