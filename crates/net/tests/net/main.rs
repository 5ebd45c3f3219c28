//! dgram-net's integration tests, one module per part, all on loopback.

mod bottleneck;
mod rate_limit_layer;
mod session;
mod support;
mod sys;
