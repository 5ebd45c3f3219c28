//! dgram-net's integration tests, one module per part, all on loopback.

mod proxy;
mod ratelimit;
mod session;
mod support;
