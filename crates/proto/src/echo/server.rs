//! The echo server's rules, without a socket: given who sent what, what to answer, if anything.

use std::net::SocketAddr;

use crate::{Body, Echo, Envelope, Error, ErrorCode, ErrorReply, Kind, Name, MAX_DATAGRAM};

/// What to do with one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send the first `len` bytes of the output buffer back to the sender.
    Reply {
        /// Length of the reply, never more than the request's.
        len: usize,
        /// What kind of answer it is, for counting.
        kind: ReplyKind,
    },
    /// Send nothing.
    Drop(Drop),
}

/// What kind of answer went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A plain datagram, upper-cased (the origin's answer).
    Plain,
    /// An echo reply envelope.
    Echo,
    /// An error envelope explaining why the request was not served.
    Error,
}

/// Why a datagram got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    /// It came from the server's own port: answering could start an echo loop with ourselves or
    /// another echo server.
    OwnPort,
    /// It came from port 0 or a privileged port (below 1024), where the classic echo, chargen
    /// and daytime services live; answering them is how echo loops are made.
    ReservedPort,
    /// It was a reply or an error: answering those is also how echo loops are made.
    NotARequest(Kind),
    /// It was larger than [`MAX_DATAGRAM`].
    Oversized(usize),
    /// It was a malformed envelope, and an error reply would have been larger than it.
    Malformed(Error),
    /// It was identical to a reply we sent to that address moments ago: another echo service
    /// is bouncing our answer back ([`super::LoopGuard`]).
    Looped,
    /// It was a plain datagram over its source's plain-reply rate ([`super::LoopGuard`]).
    PlainRateLimited,
}

/// The echo server's protocol state: the name it signs error replies with, and its own address.
#[derive(Debug, Clone)]
pub struct EchoServer {
    name: Name,
    local: SocketAddr,
}

impl EchoServer {
    /// A server that signs its error replies with `name` and listens on `local`.
    pub fn new(name: Name, local: SocketAddr) -> Self {
        Self { name, local }
    }

    /// Decides the answer to `datagram` from `peer`, writing any reply into `out` (which should
    /// hold [`MAX_DATAGRAM`] bytes; a shorter one can only make replies drop).
    pub fn answer(&self, peer: SocketAddr, datagram: &[u8], out: &mut [u8]) -> Answer {
        if peer.port() == self.local.port() {
            return Answer::Drop(Drop::OwnPort);
        }
        if peer.port() < 1024 {
            return Answer::Drop(Drop::ReservedPort);
        }
        if datagram.len() > MAX_DATAGRAM {
            return Answer::Drop(Drop::Oversized(datagram.len()));
        }
        if !crate::is_envelope(datagram) {
            let Some(out) = out.get_mut(..datagram.len()) else {
                return Answer::Drop(Drop::Oversized(datagram.len()));
            };
            out.copy_from_slice(datagram);
            out.make_ascii_uppercase();
            return Answer::Reply {
                len: datagram.len(),
                kind: ReplyKind::Plain,
            };
        }
        match Envelope::decode(datagram) {
            Ok(Envelope {
                sender,
                body: Body::EchoRequest(req),
            }) => {
                // The reply is the request itself, kind flipped and text upper-cased (the
                // sender too is echoed), so it is exactly as long as the request.
                let reply = Envelope::new(
                    sender,
                    Body::EchoReply(Echo {
                        request_id: req.request_id,
                        text: super::upper(&req.text),
                    }),
                );
                encode_within(&reply, ReplyKind::Echo, datagram.len(), out)
            }
            Ok(env) => Answer::Drop(Drop::NotARequest(env.body.kind())),
            Err(err) => {
                let code = match err {
                    Error::UnsupportedVersion { .. } => ErrorCode::UNSUPPORTED_VERSION,
                    _ => ErrorCode::MALFORMED,
                };
                let body = Body::Error(ErrorReply {
                    request_id: None,
                    code,
                    message: err.to_string(),
                });
                match self.reply(body, ReplyKind::Error, datagram.len(), out) {
                    Answer::Drop(_) => Answer::Drop(Drop::Malformed(err)),
                    answer => answer,
                }
            }
        }
    }

    /// Encodes `body` as the reply, unless it would be larger than the request: the server
    /// must never amplify what a (possibly spoofed) sender sent.
    fn reply(&self, body: Body, kind: ReplyKind, request_len: usize, out: &mut [u8]) -> Answer {
        encode_within(
            &Envelope::new(self.name.clone(), body),
            kind,
            request_len,
            out,
        )
    }
}

/// Encodes `env` into `out` unless it would be longer than `request_len`.
fn encode_within(env: &Envelope, kind: ReplyKind, request_len: usize, out: &mut [u8]) -> Answer {
    let limit = out.len().min(request_len);
    match env.encode_into(&mut out[..limit]) {
        Ok(len) => Answer::Reply { len, kind },
        Err(err) => Answer::Drop(Drop::Malformed(err)),
    }
}
