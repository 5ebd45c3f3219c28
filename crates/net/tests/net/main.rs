//! dgram-net's integration tests, one module per part, all on loopback.

mod rate_limit_layer;
mod session;
mod support;
