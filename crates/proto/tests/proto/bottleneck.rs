//! A bottleneck link for the simulated network: a rate in bits per second, a propagation delay
//! and a drop-tail queue in front of it, one each way, shared by every flow, as a home uplink or
//! a token-bucket filter is. What it drops and forwards is counted per sender, and what enters
//! it can be logged with its time, so that a test can look for bursts.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One direction: what is queued or being serialized, and when the line is next free.
#[derive(Default)]
struct Line {
    busy_until: Option<Instant>,
    /// When each datagram still in the queue finishes leaving it, and its size.
    backlog: VecDeque<(Instant, usize)>,
    queued: usize,
}

/// What one sender's datagrams met at the bottleneck.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) forwarded: u64,
    pub(crate) dropped: u64,
}

pub(crate) struct Bottleneck {
    rate_bps: u64,
    queue_bytes: usize,
    delay: Duration,
    lines: [Line; 2],
    pub(crate) counts: HashMap<SocketAddr, Counts>,
    /// Every datagram offered, when `log` is set: (time, sender, bytes).
    pub(crate) log: Option<Vec<(Instant, SocketAddr, usize)>>,
}

impl Bottleneck {
    /// A link of `rate_bps` with `rtt` of propagation delay (half each way) and a queue of
    /// `queue_bytes` each way.
    pub(crate) fn new(rate_bps: u64, rtt: Duration, queue_bytes: usize) -> Self {
        Self {
            rate_bps,
            queue_bytes,
            delay: rtt / 2,
            lines: [Line::default(), Line::default()],
            counts: HashMap::new(),
            log: None,
        }
    }

    /// The bandwidth-delay product of a path of `rate_bps` and `rtt`, in bytes.
    pub(crate) fn bdp(rate_bps: u64, rtt: Duration) -> usize {
        (rate_bps as f64 / 8.0 * rtt.as_secs_f64()) as usize
    }

    /// A datagram of `len` bytes from `from` enters the line toward the server (`up`) or from
    /// it at `now`; returns when it arrives, or `None` if the queue is full and it is dropped.
    pub(crate) fn offer(
        &mut self,
        now: Instant,
        from: SocketAddr,
        up: bool,
        len: usize,
    ) -> Option<Instant> {
        if let Some(log) = self.log.as_mut() {
            log.push((now, from, len));
        }
        let line = &mut self.lines[usize::from(up)];
        while let Some(&(done, size)) = line.backlog.front() {
            if done > now {
                break;
            }
            line.backlog.pop_front();
            line.queued -= size;
        }
        let counts = self.counts.entry(from).or_default();
        if line.queued + len > self.queue_bytes {
            counts.dropped += 1;
            return None;
        }
        counts.forwarded += 1;
        let start = line.busy_until.map_or(now, |b| b.max(now));
        let nanos = len as u64 * 8 * 1_000_000_000 / self.rate_bps;
        let done = start + Duration::from_nanos(nanos);
        line.busy_until = Some(done);
        line.backlog.push_back((done, len));
        line.queued += len;
        Some(done + self.delay)
    }
}
