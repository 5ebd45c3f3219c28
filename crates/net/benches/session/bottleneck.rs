//! The bottleneck rows: a bulk transfer through dgram-proxy in this process, at a set rate with
//! a drop-tail queue and a one-way delay each way, for dgram and for quinn in turn. A sender
//! without congestion control overfills the queue and loses there; one with it should not.

use std::time::Duration;

use dgram_proxy::{Bottleneck, DirectionStats, Impairment};

use crate::measure::{Outcome, SIZE, WINDOW};
use crate::path::Path;
use crate::run::Run;
use crate::{dgram, quic};

/// The link and the transfer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bulk {
    pub(crate) rate_kbit: u64,
    pub(crate) queue: Duration,
    pub(crate) delay: Duration,
    /// Payload bytes to send, in messages of SIZE.
    pub(crate) bytes: usize,
    /// The longest a transfer may take; goodput is what got through by then.
    pub(crate) limit: Duration,
}

impl Bulk {
    fn run(&self) -> Run {
        Run {
            count: (self.bytes / SIZE).max(1),
            loss: 0.0,
            limit: self.limit,
            path: Path::Proxy(Impairment {
                delay: self.delay,
                bottleneck: Some(Bottleneck {
                    rate_kbit: self.rate_kbit,
                    queue: self.queue,
                }),
                seed: 0xB0771E,
                ..Impairment::default()
            }),
        }
    }

    /// Goodput as a share of the link's rate.
    fn share(&self, o: &Outcome) -> f64 {
        o.goodput_bits() / (self.rate_kbit as f64 * 1000.0)
    }
}

/// Runs the transfer over dgram, then over quinn, and prints both and their ratio.
pub(crate) async fn rows(bulk: Bulk) {
    let run = bulk.run();
    println!(
        "bottleneck: {} kbit/s, queue {} ms, delay {} ms each way; {} messages of {SIZE} bytes \
         ({} bytes) or {:.0} s, window {WINDOW}",
        bulk.rate_kbit,
        bulk.queue.as_millis(),
        bulk.delay.as_millis(),
        run.count,
        run.count * SIZE,
        bulk.limit.as_secs_f64()
    );
    let dgram = dgram::sessions(run).await;
    print_row(&bulk, "bottleneck dgram", &dgram);
    let quinn = quic::quinn(run).await;
    print_row(&bulk, "bottleneck quinn", &quinn);
    let after = dgram
        .data_goodput_bits()
        .zip(quinn.data_goodput_bits())
        .map_or(0.0, |(d, q)| d / q);
    println!(
        "ratio goodput dgram/quinn={:.3} after_handshake={after:.3} loss dgram={:.1}% quinn={:.1}%",
        dgram.goodput_bits() / quinn.goodput_bits(),
        queue_loss(&dgram) * 100.0,
        queue_loss(&quinn) * 100.0
    );
}

/// The data direction's counters at the proxy (client to server), if it ran.
fn to_server(o: &Outcome) -> DirectionStats {
    o.proxy.map(|p| p.to_target).unwrap_or_default()
}

/// The share of the sender's datagrams dropped at the bottleneck's queue.
fn queue_loss(o: &Outcome) -> f64 {
    let d = to_server(o);
    d.queue_dropped as f64 / d.received.max(1) as f64
}

fn print_row(bulk: &Bulk, name: &str, o: &Outcome) {
    let d = to_server(o);
    let acks = o.proxy.map(|p| p.to_client).unwrap_or_default();
    println!(
        "{name:<16} messages={:<8} goodput_kbit={:>7.0} of_rate={:>5.1}% wire_kbit={:>5.0} \
         sent_per_payload={:.3} queue_dropped={:>5.1}% ({} of {} datagrams; acks {} of {}) \
         connected_s={:.3} received_s={:.2} wall_s={:.2}",
        o.messages,
        o.goodput_bits() / 1000.0,
        bulk.share(o) * 100.0,
        // What the sender put on the link (UDP payloads, resends included), per second.
        o.sent.bytes as f64 * 8.0 / o.wall.as_secs_f64().max(1e-9) / 1000.0,
        o.sent.bytes as f64 / (o.messages * SIZE).max(1) as f64,
        queue_loss(o) * 100.0,
        d.queue_dropped,
        d.received,
        acks.queue_dropped,
        acks.received,
        o.connected.unwrap_or_default().as_secs_f64(),
        o.received_all.unwrap_or(o.wall).as_secs_f64(),
        o.wall.as_secs_f64()
    );
    if let Some(note) = &o.note {
        println!("{name:<16} {note}");
    }
}
