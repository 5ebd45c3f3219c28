//! The integration tests of the echo server: the server loop over real loopback sockets, the
//! binary as a container would run it, and the server against an attacker.

mod abuse;
mod binary;
mod server;
mod support;
