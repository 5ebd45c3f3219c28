//! Congestion control through a simulated bottleneck (2 Mbit/s, 50 ms RTT, a drop-tail queue of
//! 1.5 × the bandwidth-delay product): one bulk session fills the link without flooding its
//! queue, two sessions share it evenly, a session resumes after an outage without a burst, and
//! random loss that is not congestion slows a session down but does not stop it.
//!
//! Run with `--nocapture` to see the rates, loss and shares each test measured.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dgram_proto::session::{Config, Delivery, Event, SessionId, MAX_FRAGMENT};
use dgram_proto::MAX_DATAGRAM;

use crate::bottleneck::Bottleneck;
use crate::sim::{LinkSpec, Rng, Sim};

const RATE: u64 = 2_000_000;
const RTT: Duration = Duration::from_millis(50);
const SLICE: Duration = Duration::from_millis(10);

fn config() -> Config {
    // A backlog well above the window, so that the window is what limits the sender, and
    // small enough to leave its queue within the message timeout at half the link's rate.
    Config {
        max_unacked_bytes: 128 * 1024,
        ..Config::default()
    }
}

/// A simulated world whose every datagram crosses the bottleneck, after `loss` at random.
fn world(seed: u64, loss: f64) -> Sim {
    let link = LinkSpec {
        loss,
        dup: 0.0,
        reorder: 0.0,
        delay: Duration::ZERO,
    };
    let mut sim = Sim::new(seed, config(), link);
    let queue = Bottleneck::bdp(RATE, RTT) * 3 / 2;
    sim.bottleneck = Some(Bottleneck::new(RATE, RTT, queue));
    sim
}

/// Bulk senders: each keeps its send buffer full; the server counts what it receives.
struct Bulk {
    rng: Rng,
    clients: Vec<usize>,
    received: HashMap<SessionId, u64>,
    failed: usize,
}

impl Bulk {
    /// Senders of messages of random sizes (up to four datagrams' worth), seeded.
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            clients: Vec::new(),
            received: HashMap::new(),
            failed: 0,
        }
    }

    /// Adds a client, connects it and starts it sending.
    fn start(&mut self, sim: &mut Sim, addr: &str) -> usize {
        let c = sim.add_client(addr, config());
        // Up to ten seconds: at 10 % loss a handshake packet or two is lost.
        for _ in 0..1000 {
            if sim.clients[c].client.is_connected() {
                break;
            }
            sim.run_for(SLICE);
        }
        assert!(sim.clients[c].client.is_connected(), "{addr} connects");
        self.clients.push(c);
        c
    }

    /// Bytes the server received from client `c` so far.
    fn received(&self, sim: &Sim, c: usize) -> u64 {
        sim.session_of(c)
            .and_then(|s| self.received.get(&s).copied())
            .unwrap_or(0)
    }

    /// Runs the world for `d`, topping every sender up each slice; `each` sees every slice.
    fn run(&mut self, sim: &mut Sim, d: Duration, mut each: impl FnMut(&Sim)) {
        let until = sim.now + d;
        while sim.now < until {
            for &c in &self.clients {
                let client = &mut sim.clients[c].client;
                // Bounded by the send buffer: `send` refuses once it holds 128 KiB.
                while client.is_connected() {
                    let size = 1 + self.rng.below(4 * MAX_FRAGMENT as u64) as usize;
                    if client
                        .send(sim.now, 0, vec![7; size], Delivery::Reliable)
                        .is_err()
                    {
                        break;
                    }
                }
            }
            sim.run_for(SLICE);
            for (session, event) in sim.server_events.drain(..) {
                if let Event::Message { data, .. } = event {
                    *self.received.entry(session).or_default() += data.len() as u64;
                }
            }
            for &c in &self.clients {
                let events = std::mem::take(&mut sim.clients[c].events);
                self.failed += events
                    .iter()
                    .filter(|e| matches!(e, Event::Failed { .. }))
                    .count();
            }
            each(sim);
        }
    }
}

/// Bits per second of `bytes` over `d`.
fn rate(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64()
}

/// The share of client `addr`'s datagrams the bottleneck dropped.
fn loss(sim: &Sim, c: usize) -> f64 {
    let counts = sim
        .bottleneck
        .as_ref()
        .and_then(|b| b.counts.get(&sim.clients[c].addr).copied())
        .unwrap_or_default();
    counts.dropped as f64 / (counts.dropped + counts.forwarded).max(1) as f64
}

#[test]
fn one_bulk_session_fills_the_bottleneck_without_flooding_its_queue() {
    for seed in 1..=3 {
        let mut sim = world(seed, 0.0);
        let mut bulk = Bulk::new(seed);
        let c = bulk.start(&mut sim, "10.0.0.2:40000");
        // Slow start and its first loss, then the measured stretch.
        bulk.run(&mut sim, Duration::from_secs(5), |_| {});
        let before = bulk.received(&sim, c);
        let measured = Duration::from_secs(20);
        bulk.run(&mut sim, measured, |_| {});
        let goodput = rate(bulk.received(&sim, c) - before, measured);
        let lost = loss(&sim, c);
        let path = sim.clients[c].client.path_stats().expect("connected");
        eprintln!(
            "seed {seed}: goodput {:.0} kbit/s ({:.1} % of the bottleneck), {:.2} % lost, {path:?}",
            goodput / 1000.0,
            100.0 * goodput / RATE as f64,
            100.0 * lost
        );
        assert!(goodput >= 0.85 * RATE as f64, "goodput {goodput:.0} bit/s");
        assert!(lost <= 0.03, "{:.2} % lost", 100.0 * lost);
        assert_eq!(bulk.failed, 0, "nothing timed out");
        assert!(path.congestion_events > 0, "the queue did overflow");
    }
}

#[test]
fn two_sessions_started_apart_converge_to_an_equal_share() {
    for seed in 1..=3 {
        let mut sim = world(seed, 0.0);
        let mut bulk = Bulk::new(seed);
        let a = bulk.start(&mut sim, "10.0.0.2:40000");
        // The second starts ten seconds and a seeded fraction of a round trip later.
        let offset = Duration::from_secs(10) + Duration::from_millis(seed * 17);
        bulk.run(&mut sim, offset, |_| {});
        let b = bulk.start(&mut sim, "10.0.0.3:40000");
        bulk.run(&mut sim, Duration::from_secs(30), |_| {});
        let (a0, b0) = (bulk.received(&sim, a), bulk.received(&sim, b));
        let measured = Duration::from_secs(30);
        bulk.run(&mut sim, measured, |_| {});
        let ra = rate(bulk.received(&sim, a) - a0, measured);
        let rb = rate(bulk.received(&sim, b) - b0, measured);
        let fair = (ra + rb) / 2.0;
        eprintln!(
            "seed {seed}: first {:.0} kbit/s, second {:.0} kbit/s, shares {:.2} / {:.2}, \
             together {:.1} % of the bottleneck, lost {:.2} % / {:.2} %",
            ra / 1000.0,
            rb / 1000.0,
            ra / fair,
            rb / fair,
            100.0 * (ra + rb) / RATE as f64,
            100.0 * loss(&sim, a),
            100.0 * loss(&sim, b)
        );
        for share in [ra / fair, rb / fair] {
            assert!((0.8..=1.2).contains(&share), "share {share:.2}");
        }
        assert!(ra + rb >= 0.85 * RATE as f64, "together {:.0}", ra + rb);
        assert_eq!(bulk.failed, 0, "nothing timed out");
    }
}

#[test]
fn after_an_outage_a_session_resumes_without_a_burst() {
    let seed = 7;
    let mut sim = world(seed, 0.0);
    let mut bulk = Bulk::new(seed);
    let c = bulk.start(&mut sim, "10.0.0.2:40000");
    bulk.run(&mut sim, Duration::from_secs(10), |_| {});
    let start = sim.now;
    let end = start + Duration::from_secs(5);
    sim.outage = Some((start, end));
    bulk.run(&mut sim, Duration::from_secs(5), |_| {});
    let before = bulk.received(&sim, c);
    if let Some(b) = sim.bottleneck.as_mut() {
        b.log = Some(Vec::new());
    }
    // The window as it stood each slice after the outage.
    let mut windows: Vec<(Instant, u32)> = Vec::new();
    bulk.run(&mut sim, Duration::from_secs(10), |sim| {
        if let Some(path) = sim.clients[c].client.path_stats() {
            windows.push((sim.now, path.window));
        }
    });
    let path = sim.clients[c].client.path_stats().expect("connected");
    let after = rate(bulk.received(&sim, c) - before, Duration::from_secs(10));
    let addr = sim.clients[c].addr;
    let sent: Vec<(Instant, usize)> = sim
        .bottleneck
        .as_ref()
        .and_then(|b| b.log.as_ref())
        .map(|log| {
            log.iter()
                .filter(|(_, from, _)| *from == addr)
                .map(|&(at, _, len)| (at, len))
                .collect()
        })
        .unwrap_or_default();
    // In any round trip after the outage, no more left than the largest window up to then
    // (and one datagram that the window's last free byte let go).
    let mut worst = 0.0f64;
    for (i, &(t0, _)) in sent.iter().enumerate() {
        let bytes: usize = sent[i..]
            .iter()
            .take_while(|(t, _)| *t < t0 + RTT)
            .map(|(_, len)| len)
            .sum();
        let window = windows
            .iter()
            .take_while(|(t, _)| *t <= t0 + RTT + SLICE)
            .map(|&(_, w)| w)
            .max()
            .unwrap_or(0) as usize;
        assert!(
            bytes <= window + MAX_DATAGRAM,
            "{bytes} bytes in a round trip from {:?} after the outage, window {window}",
            t0 - end
        );
        worst = worst.max(bytes as f64 / window as f64);
    }
    let first = windows.first().map_or(0, |&(_, w)| w);
    eprintln!(
        "after the outage: {:.0} kbit/s, window first {first} bytes, busiest round trip {:.0} % of \
         the window, {path:?}",
        after / 1000.0,
        100.0 * worst
    );
    assert!(path.persistent_congestion >= 1, "{path:?}");
    assert!(after >= 0.5 * RATE as f64, "it resumed: {after:.0} bit/s");
}

#[test]
fn random_loss_slows_a_session_but_does_not_stop_it() {
    let seed = 11;
    let mut sim = world(seed, 0.10);
    let mut bulk = Bulk::new(seed);
    let c = bulk.start(&mut sim, "10.0.0.2:40000");
    let mut intervals = Vec::new();
    for _ in 0..6 {
        let before = bulk.received(&sim, c);
        bulk.run(&mut sim, Duration::from_secs(5), |_| {});
        intervals.push(bulk.received(&sim, c) - before);
    }
    let path = sim.clients[c].client.path_stats().expect("connected");
    let total: u64 = intervals.iter().sum();
    eprintln!(
        "10 % random loss: {:.0} kbit/s over 30 s, per 5 s {intervals:?}, failed {}, {path:?}",
        rate(total, Duration::from_secs(30)) / 1000.0,
        bulk.failed
    );
    for (i, bytes) in intervals.iter().enumerate() {
        assert!(*bytes >= 20_000, "interval {i} delivered {bytes} bytes");
    }
}
