//! The integration tests of the echo server: the tower layers alone (tower-test), the server
//! loop over real loopback sockets, and the binary as a container would run it.

mod binary;
mod ratelimit;
mod server;
mod support;
