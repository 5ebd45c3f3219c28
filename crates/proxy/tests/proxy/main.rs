//! dgram-proxy's integration tests, all on loopback: test clients and a test target with the
//! proxy between them.

mod bottleneck;
mod forwarding;
mod impairments;
mod support;
