//! The timer queue of delayed datagrams: a min-heap on the time each is due, bounded in count
//! and in bytes, so that a heavy sender and a long delay cannot make the proxy hold unbounded
//! memory (beyond the bounds, datagrams are dropped, as a full router queue would).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Where a datagram goes.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// To the target, through the client's upstream socket (held by an `Arc` so that a
    /// datagram due after its flow expired still leaves from the port the target knows).
    Target(Arc<UdpSocket>),
    /// Back to this client, through the listening socket.
    Client(SocketAddr),
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Target(upstream) => match upstream.peer_addr() {
                Ok(target) => write!(f, "to target {target}"),
                Err(_) => f.write_str("to target"),
            },
            Route::Client(client) => write!(f, "to client {client}"),
        }
    }
}

/// A datagram waiting for its time.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) route: Route,
    pub(crate) datagram: Vec<u8>,
    /// 1, or 2 for a duplicated datagram: one entry, sent twice, holds its bytes once.
    pub(crate) copies: u8,
}

#[derive(Debug)]
struct Entry {
    due: Instant,
    /// Order of arrival, so that datagrams due at the same instant leave in the order they came:
    /// a plain base delay must not reorder anything by itself.
    seq: u64,
    outgoing: Outgoing,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// Delayed datagrams, earliest first.
#[derive(Debug)]
pub(crate) struct HeldQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    bytes: usize,
    next_seq: u64,
    max_count: usize,
    max_bytes: usize,
}

impl HeldQueue {
    pub(crate) fn new(max_count: usize, max_bytes: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            bytes: 0,
            next_seq: 0,
            max_count,
            max_bytes,
        }
    }

    /// Holds `outgoing` until `due`; hands it back when the queue is full.
    pub(crate) fn push(&mut self, due: Instant, outgoing: Outgoing) -> Result<(), Outgoing> {
        let len = outgoing.datagram.len();
        if self.heap.len() >= self.max_count || self.bytes.saturating_add(len) > self.max_bytes {
            return Err(outgoing);
        }
        self.bytes += len;
        self.heap.push(Reverse(Entry {
            due,
            seq: self.next_seq,
            outgoing,
        }));
        self.next_seq += 1;
        Ok(())
    }

    /// When the earliest datagram is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.due)
    }

    /// The earliest datagram, if it is due by `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Outgoing> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(entry) = self.heap.pop()?;
        self.bytes -= entry.outgoing.datagram.len();
        Some(entry.outgoing)
    }

    /// How many datagrams are held.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn to_client(byte: u8, len: usize) -> Outgoing {
        Outgoing {
            route: Route::Client(SocketAddr::from(([127, 0, 0, 1], 9))),
            datagram: vec![byte; len],
            copies: 1,
        }
    }

    fn first_byte(out: &Outgoing) -> u8 {
        out.datagram.first().copied().unwrap_or(0)
    }

    #[test]
    fn releases_in_due_order_and_ties_in_arrival_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = HeldQueue::new(10, 1000);
        for (byte, at) in [(1, 30), (2, 10), (3, 20), (4, 10)] {
            q.push(t0 + ms(at), to_client(byte, 1)).expect("room");
        }
        assert_eq!(q.next_due(), Some(t0 + ms(10)));
        assert!(q.pop_due(t0 + ms(9)).is_none());
        let mut order = Vec::new();
        while let Some(out) = q.pop_due(t0 + ms(25)) {
            order.push(first_byte(&out));
        }
        assert_eq!(order, [2, 4, 3]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_due(t0 + ms(30)).map(|o| first_byte(&o)), Some(1));
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn bounded_in_count_and_bytes() {
        let now = Instant::now();
        let mut by_count = HeldQueue::new(2, 1000);
        assert!(by_count.push(now, to_client(1, 1)).is_ok());
        assert!(by_count.push(now, to_client(2, 1)).is_ok());
        assert!(by_count.push(now, to_client(3, 1)).is_err());

        let mut by_bytes = HeldQueue::new(100, 10);
        assert!(by_bytes.push(now, to_client(1, 6)).is_ok());
        assert!(by_bytes.push(now, to_client(2, 6)).is_err());
        assert!(by_bytes.push(now, to_client(3, 4)).is_ok());
        assert!(by_bytes.pop_due(now).is_some());
        // Releasing gives the bytes back.
        assert!(by_bytes.push(now, to_client(4, 6)).is_ok());
    }
}
