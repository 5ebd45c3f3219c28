//! The integration tests of the echo server: the server loop over real loopback sockets, and
//! the binary as a container would run it.

mod binary;
mod server;
mod support;
