//! dgram-net's integration tests, one module per part, all on loopback.

mod ratelimit;
mod session;
mod support;
