//! The integration tests of `dgram-proto`: the wire format against golden bytes and arbitrary
//! input, every error, the echo protocol over a simulated clock and a lossy simulated link, and
//! congestion control through a simulated bottleneck.

mod bottleneck;
mod codec;
mod congestion;
mod dead_server;
mod echo_client;
mod echo_server;
mod golden;
mod handshake_support;
mod path_mtu;
mod session;
mod session_crypto;
mod session_security;
mod sim;
mod support;
