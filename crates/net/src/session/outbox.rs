//! The driver's send side: what the endpoint writes in a turn, batched into one `sendmmsg`
//! (GSO runs to one peer inside it), and what the system refuses.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use dgram_proto::MAX_PATH_DATAGRAM;
use tokio::net::UdpSocket;

use super::Endpoint;
use crate::sys::{gso_refused, try_send_many, MAX_BATCH};

/// Datagrams the endpoint wrote, waiting to go out together: one `sendmmsg` for up to
/// [`MAX_BATCH`] of them, to however many peers, those to one peer in a row as one GSO send.
pub(super) struct Outbox {
    buf: Vec<u8>,
    /// Each datagram's destination and length; datagram `i` starts at `i * MAX_PATH_DATAGRAM`.
    queued: Vec<(SocketAddr, usize)>,
    /// Datagrams one GSO send may carry; 1 once the path has refused one.
    segments: usize,
}

impl Outbox {
    pub(super) fn new(segments: usize) -> Self {
        // Grown a slot at a time as batches need: a client's driver (a process may run
        // thousands, as the chat bench does) rarely sends more than a datagram or two a turn.
        Self {
            buf: Vec::new(),
            queued: Vec::new(),
            segments: segments.max(1),
        }
    }

    /// Polls the endpoint until it has nothing more to send or the batch is full; whether
    /// anything was queued.
    pub(super) fn fill<E: Endpoint>(&mut self, endpoint: &mut E, now: Instant) -> bool {
        while self.queued.len() < MAX_BATCH {
            let start = self.queued.len() * MAX_PATH_DATAGRAM;
            if self.buf.len() < start + MAX_PATH_DATAGRAM {
                self.buf.resize(start + MAX_PATH_DATAGRAM, 0);
            }
            let slot = &mut self.buf[start..start + MAX_PATH_DATAGRAM];
            let Some(t) = endpoint.poll_transmit(now, slot) else {
                break;
            };
            self.queued
                .push((t.destination, t.len.min(MAX_PATH_DATAGRAM)));
        }
        !self.queued.is_empty()
    }

    /// Sends the batch. A full socket buffer is waited out; a datagram the system refuses (an
    /// unreachable peer) is a lost datagram, which the protocol resends if it matters.
    pub(super) async fn flush(&mut self, socket: &UdpSocket) {
        let datagrams: Vec<(SocketAddr, &[u8])> = self
            .queued
            .iter()
            .enumerate()
            .map(|(i, &(to, len))| {
                (
                    to,
                    &self.buf[i * MAX_PATH_DATAGRAM..i * MAX_PATH_DATAGRAM + len],
                )
            })
            .collect();
        let mut rest = &datagrams[..];
        while !rest.is_empty() {
            match try_send_many(socket, rest, self.segments) {
                Ok(n) => rest = &rest[n.max(1).min(rest.len())..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(err) = socket.writable().await {
                        tracing::debug!(%err, "socket not writable");
                        break;
                    }
                }
                // Some devices cannot segment, and say so only by failing a send: the same
                // datagrams go again, each alone, and so does everything after.
                Err(err) if gso_refused(&err, rest, self.segments) => {
                    tracing::info!(%err, "segmentation offload refused; sending datagrams singly");
                    self.segments = 1;
                }
                Err(err) => {
                    tracing::debug!(%err, to = %rest[0].0, "send failed");
                    rest = &rest[1..];
                }
            }
        }
        self.queued.clear();
    }
}
