//! What every row of the session bench shares: the workload's shape, the seeded receive-side
//! dropping, the counters of what crossed the wire, and the process's CPU time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dgram_proxy::ProxyStats;

/// Bytes of payload in every message.
pub(crate) const SIZE: usize = 100;
/// The most messages a sender keeps unacknowledged.
pub(crate) const WINDOW: usize = 512;

/// Seeded drops of incoming datagrams: loss on the path without a proxy in the way. Every
/// protocol gets the same generator and seeds, so the same share of what each end receives.
pub(crate) struct Drops {
    loss: f64,
    state: u64,
}

impl Drops {
    pub(crate) fn new(loss: f64, seed: u64) -> Self {
        Self {
            loss,
            state: seed | 1,
        }
    }

    /// Whether the next datagram is dropped (xorshift64).
    pub(crate) fn lose(&mut self) -> bool {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % 10_000) as f64 / 10_000.0 < self.loss
    }
}

/// What one end put on the wire: UDP datagrams and their payload bytes (IP and UDP headers not
/// included, the same for every protocol). Atomic because quinn sends from whichever task
/// drives its endpoint; a relaxed add per datagram costs nothing next to a system call.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    datagrams: AtomicU64,
    bytes: AtomicU64,
    /// Datagrams this end received and dropped on purpose (the seeded loss).
    dropped: AtomicU64,
}

impl Wire {
    pub(crate) fn count(&self, datagrams: u64, bytes: u64) {
        self.datagrams.fetch_add(datagrams, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, datagrams: u64) {
        self.dropped.fetch_add(datagrams, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> WireCount {
        WireCount {
            datagrams: self.datagrams.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of [`Wire`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WireCount {
    pub(crate) datagrams: u64,
    pub(crate) bytes: u64,
    /// What this end dropped of what it received.
    pub(crate) dropped: u64,
}

/// The result of one run.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Messages the receiving application got (for dgram's loopback rows: the sender's
    /// `Delivered` reports, capped at what the server received).
    pub(crate) messages: usize,
    pub(crate) wall: Duration,
    /// When the receiving application had every message, counted from the start as `wall`
    /// is: where goodput's clock stops. quinn's `wall` stops there too; dgram's runs on until
    /// the last ack is back at the sender, a one-way trip later (plus its queue).
    pub(crate) received_all: Option<Duration>,
    /// When the sender's handshake was done, counted from the start: goodput after it shows
    /// the data's own rate, without the handshake's round trips (dgram's takes two, the
    /// stateless cookie first; quinn's one).
    pub(crate) connected: Option<Duration>,
    /// CPU time of the whole process, both ends (and the proxy, if any).
    pub(crate) cpu: Duration,
    /// What the client (the sender of the messages) put on the wire.
    pub(crate) sent: WireCount,
    /// What the server (acks, handshake replies) put on the wire.
    pub(crate) acks: WireCount,
    /// The proxy's counters, when the run went through it.
    pub(crate) proxy: Option<ProxyStats>,
    /// What the protocol's own counters said, if it has any worth printing.
    pub(crate) note: Option<String>,
}

impl Outcome {
    pub(crate) fn rate(&self) -> f64 {
        self.messages as f64 / self.wall.as_secs_f64()
    }

    pub(crate) fn cpu_per_message(&self) -> Duration {
        self.cpu / self.messages.max(1) as u32
    }

    /// Payload bits delivered per second from the end of the handshake to the last message.
    pub(crate) fn data_goodput_bits(&self) -> Option<f64> {
        let clock = self
            .received_all
            .unwrap_or(self.wall)
            .checked_sub(self.connected?)?;
        Some((self.messages * SIZE * 8) as f64 / clock.as_secs_f64())
    }

    /// Payload bits delivered to the receiving application per second.
    pub(crate) fn goodput_bits(&self) -> f64 {
        let clock = self.received_all.unwrap_or(self.wall);
        (self.messages * SIZE * 8) as f64 / clock.as_secs_f64()
    }

    /// Bytes the sender put on the wire beyond the payload it delivered, per datagram: headers,
    /// tags, framing, acks carried along, handshakes and resends, all averaged in.
    pub(crate) fn overhead_per_datagram(&self) -> f64 {
        let payload = (self.messages * SIZE) as f64;
        (self.sent.bytes as f64 - payload) / self.sent.datagrams.max(1) as f64
    }

    /// Bytes on the wire, both ways, per byte of payload delivered.
    pub(crate) fn wire_per_payload(&self) -> f64 {
        let payload = (self.messages * SIZE).max(1) as f64;
        (self.sent.bytes + self.acks.bytes) as f64 / payload
    }
}

/// CPU time of the whole process so far (user + system), from /proc.
pub(crate) fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // Linux reports in USER_HZ, which is 100 on every mainstream configuration.
    Duration::from_millis(ticks * 10)
}
