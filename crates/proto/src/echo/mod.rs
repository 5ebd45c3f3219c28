//! The echo protocol: what the server answers ([`server`]) and how a client pairs replies with
//! requests, retries and gives up ([`client`]), and what keeps two echo services from looping
//! ([`guard`]). The origin's echo upper-cased what it received and sent it back; dgram does the
//! same for plain datagrams and for envelopes.

pub mod client;
pub mod guard;
pub mod server;

pub use client::{ClientConfig, EchoClient, Event};
pub use guard::{GuardConfig, LoopGuard};
pub use server::{Answer, Drop, EchoServer, ReplyKind};

/// Upper-cases ASCII letters and leaves every other byte alone, so UTF-8 stays valid and the
/// reply is exactly as long as the request.
pub fn upper(text: &str) -> String {
    text.to_ascii_uppercase()
}
