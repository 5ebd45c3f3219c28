//! A deterministic network for the session tests: a simulated clock, one server, clients, and a
//! seeded link that loses, duplicates, delays, reorders, and can be cut for a while.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dgram_proto::session::{Client, Config, Event, Keypair, Server, ServerPin, SessionId};
use dgram_proto::MAX_PATH_DATAGRAM;

use crate::bottleneck::Bottleneck;

/// xorshift64*: small, seeded, good enough to drive a lossy link.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub(crate) fn seed(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        for chunk in s.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        s
    }
}

/// What the link does to each datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkSpec {
    pub(crate) loss: f64,
    pub(crate) dup: f64,
    pub(crate) reorder: f64,
    pub(crate) delay: Duration,
}

impl LinkSpec {
    pub(crate) const PERFECT: LinkSpec = LinkSpec {
        loss: 0.0,
        dup: 0.0,
        reorder: 0.0,
        delay: Duration::from_millis(5),
    };
}

pub(crate) const SERVER: &str = "10.0.0.1:8081";

struct InFlight {
    at: Instant,
    order: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

pub(crate) struct SimClient {
    pub(crate) addr: SocketAddr,
    pub(crate) client: Client,
    pub(crate) events: Vec<Event>,
}

pub(crate) struct Sim {
    pub(crate) now: Instant,
    pub(crate) rng: Rng,
    pub(crate) link: LinkSpec,
    pub(crate) outage: Option<(Instant, Instant)>,
    /// A bottleneck after the link's own loss and duplication, instead of its fixed delay.
    pub(crate) bottleneck: Option<Bottleneck>,
    /// The largest datagram the path carries; larger ones are dropped (and counted).
    pub(crate) path_mtu: usize,
    pub(crate) too_large: usize,
    pub(crate) server_addr: SocketAddr,
    pub(crate) server: Server,
    /// The server's long-term key (a restarted server keeps it, as a real one does).
    pub(crate) server_identity: Keypair,
    pub(crate) server_events: Vec<(SessionId, Event)>,
    pub(crate) clients: Vec<SimClient>,
    wire: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Every datagram that left an endpoint: (from, to, bytes).
    pub(crate) sent: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    pub(crate) record: bool,
}

impl Sim {
    pub(crate) fn new(seed: u64, config: Config, link: LinkSpec) -> Self {
        let now = Instant::now();
        let mut rng = Rng::new(seed);
        let server_identity = Keypair::from_seed(rng.seed());
        let server = Server::new(config, rng.seed(), now, server_identity.clone());
        Self {
            server_identity,
            now,
            rng,
            link,
            outage: None,
            bottleneck: None,
            path_mtu: MAX_PATH_DATAGRAM,
            too_large: 0,
            server_addr: SERVER.parse().expect("addr"),
            server,
            server_events: Vec::new(),
            clients: Vec::new(),
            wire: BinaryHeap::new(),
            order: 0,
            sent: Vec::new(),
            record: false,
        }
    }

    pub(crate) fn add_client(&mut self, addr: &str, config: Config) -> usize {
        let identity = Keypair::from_seed(self.rng.seed());
        self.add_client_with(addr, config, identity, ServerPin::Any)
    }

    /// A client with its own key and pin.
    pub(crate) fn add_client_with(
        &mut self,
        addr: &str,
        config: Config,
        identity: Keypair,
        pin: ServerPin,
    ) -> usize {
        let seed = self.rng.seed();
        let client = Client::new(config, seed, self.server_addr, self.now, identity, pin);
        self.clients.push(SimClient {
            addr: addr.parse().expect("addr"),
            client,
            events: Vec::new(),
        });
        self.clients.len() - 1
    }

    /// A server restarted in place with the same long-term key.
    pub(crate) fn restart_server(&mut self, seed: [u8; 32]) {
        self.server = Server::new(
            Config::default(),
            seed,
            self.now,
            self.server_identity.clone(),
        );
    }

    /// Puts a datagram on the wire as `from`, as an attacker or a test would.
    pub(crate) fn inject(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.order += 1;
        self.wire.push(Reverse(InFlight {
            at: self.now,
            order: self.order,
            from,
            to,
            bytes,
        }));
    }

    fn transmit(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if self.record {
            self.sent.push((from, to, bytes.clone()));
        }
        if self
            .outage
            .is_some_and(|(a, b)| self.now >= a && self.now < b)
        {
            return;
        }
        if bytes.len() > self.path_mtu {
            self.too_large += 1;
            return;
        }
        if self.rng.chance(self.link.loss) {
            return;
        }
        let copies = if self.rng.chance(self.link.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let mut delay = self.link.delay;
            if self.rng.chance(self.link.reorder) {
                delay += Duration::from_millis(self.rng.below(30));
            }
            let at = match self.bottleneck.as_mut() {
                Some(b) => match b.offer(self.now, from, to == self.server_addr, bytes.len()) {
                    Some(at) => at,
                    None => continue,
                },
                None => self.now + delay,
            };
            self.order += 1;
            self.wire.push(Reverse(InFlight {
                at,
                order: self.order,
                from,
                to,
                bytes: bytes.clone(),
            }));
        }
    }

    fn flush(&mut self) {
        let mut buf = vec![0u8; MAX_PATH_DATAGRAM];
        while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
            let bytes = buf[..t.len].to_vec();
            self.transmit(self.server_addr, t.destination, bytes);
        }
        for i in 0..self.clients.len() {
            while let Some(t) = self.clients[i].client.poll_transmit(self.now, &mut buf) {
                let (from, bytes) = (self.clients[i].addr, buf[..t.len].to_vec());
                self.transmit(from, t.destination, bytes);
            }
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        for c in &mut self.clients {
            while let Some(e) = c.client.poll_event() {
                c.events.push(e);
            }
        }
    }

    /// Runs the world until `until`.
    pub(crate) fn run_until(&mut self, until: Instant) {
        let mut stuck = 0;
        loop {
            let before = self.now;
            self.flush();
            let mut next = self.wire.peek().map(|Reverse(f)| f.at);
            let timers = std::iter::once(self.server.poll_timeout())
                .chain(self.clients.iter().map(|c| c.client.poll_timeout()))
                .flatten();
            for t in timers {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            let Some(next) = next.filter(|&n| n <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            stuck = if self.now == before { stuck + 1 } else { 0 };
            assert!(
                stuck < 10_000,
                "the simulation stopped advancing at {:?}",
                self.now
            );
            while self.wire.peek().is_some_and(|Reverse(f)| f.at <= self.now) {
                let Some(Reverse(f)) = self.wire.pop() else {
                    break;
                };
                if f.to == self.server_addr {
                    self.server.handle_datagram(self.now, f.from, &f.bytes);
                } else if let Some(c) = self.clients.iter_mut().find(|c| c.addr == f.to) {
                    c.client.handle_datagram(self.now, f.from, &f.bytes);
                }
            }
            if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                self.server.handle_timeout(self.now);
            }
            for c in &mut self.clients {
                if c.client.poll_timeout().is_some_and(|t| t <= self.now) {
                    c.client.handle_timeout(self.now);
                }
            }
        }
    }

    pub(crate) fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// The server's session for client `i`, once it has one.
    pub(crate) fn session_of(&self, i: usize) -> Option<SessionId> {
        self.clients[i].client.session()
    }
}
