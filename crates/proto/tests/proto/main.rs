//! The integration tests of `dgram-proto`: the wire format against golden bytes and arbitrary
//! input, every error, and the echo protocol over a simulated clock and a lossy simulated link.

mod codec;
mod dead_server;
mod echo_client;
mod echo_server;
mod golden;
mod session;
mod session_security;
mod sim;
mod support;
