//! Runs a live in-memory session: proto's session `Server` and `Client` state machines on a
//! simulated clock, joined by a link the fuzz input drives. The input is a script: each byte
//! picks an action (deliver, drop, duplicate or mutate the next datagram either way, inject raw
//! datagrams from the client's address or a stranger's, let time pass, send messages), and the
//! bytes after it are that action's arguments.
//!
//! Checks that neither side panics, that no datagram either sends is larger than
//! `MAX_PATH_DATAGRAM` (path MTU probes included) or than the buffer it was given, that the
//! server never holds more sessions than its limit, and that the whole run stays bounded.
#![no_main]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dgram_proto::session::{Client, Config, Delivery, Keypair, Server, ServerPin};
use dgram_proto::MAX_PATH_DATAGRAM;
use libfuzzer_sys::fuzz_target;

/// The script, read a byte at a time; zeros once it runs out.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }
}

struct World {
    now: Instant,
    server: Server,
    client: Client,
    server_addr: SocketAddr,
    client_addr: SocketAddr,
    stranger: SocketAddr,
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    max_sessions: usize,
}

impl World {
    fn new(seed: u8) -> Self {
        let now = Instant::now();
        let config = Config {
            max_sessions: 4,
            ..Config::default()
        };
        let server_addr: SocketAddr = ([10, 0, 0, 1], 8081).into();
        Self {
            now,
            server: Server::new(config.clone(), [seed; 32], now, Keypair::from_seed([1; 32])),
            client: Client::new(
                config.clone(),
                [seed ^ 0x5A; 32],
                server_addr,
                now,
                Keypair::from_seed([2; 32]),
                ServerPin::Any,
            ),
            server_addr,
            client_addr: ([10, 0, 0, 2], 40000).into(),
            stranger: ([10, 0, 0, 3], 40001).into(),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            max_sessions: config.max_sessions,
        }
    }

    /// Moves what both sides want to send onto the link, checking every datagram's size.
    fn collect(&mut self) {
        let mut buf = [0u8; MAX_PATH_DATAGRAM];
        for _ in 0..256 {
            let Some(t) = self.client.poll_transmit(self.now, &mut buf) else {
                break;
            };
            assert!(t.len <= MAX_PATH_DATAGRAM);
            assert_eq!(t.destination, self.client.server());
            self.to_server.push_back(buf[..t.len].to_vec());
        }
        for _ in 0..256 {
            let Some(t) = self.server.poll_transmit(self.now, &mut buf) else {
                break;
            };
            assert!(t.len <= MAX_PATH_DATAGRAM);
            if t.destination == self.client_addr {
                self.to_client.push_back(buf[..t.len].to_vec());
            }
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
        assert!(self.server.sessions() <= self.max_sessions);
        // A link that holds more than this is not a link; the oldest datagrams are lost.
        self.to_server.truncate(64);
        self.to_client.truncate(64);
    }

    fn step(&mut self, script: &mut Script<'_>) {
        let op = script.byte();
        let to_server = op & 1 == 0;
        match op >> 1 {
            0 => self.deliver(to_server, None),
            1 => {
                let queue = self.queue(to_server);
                queue.pop_front();
            }
            2 => {
                let queue = self.queue(to_server);
                if let Some(d) = queue.front().cloned() {
                    queue.push_back(d);
                }
            }
            3 => {
                let at = usize::from(u16::from_le_bytes([script.byte(), script.byte()]));
                let value = script.byte();
                self.deliver(to_server, Some(Mutation::Xor { at, value }));
            }
            4 => {
                let len = usize::from(script.byte());
                self.deliver(to_server, Some(Mutation::Truncate(len)));
            }
            5 => {
                let len = usize::from(script.byte()) * 5;
                let datagram = script.bytes(len);
                let from = if script.byte() & 1 == 0 {
                    self.client_addr
                } else {
                    self.stranger
                };
                if to_server {
                    self.server.handle_datagram(self.now, from, &datagram);
                } else {
                    self.client
                        .handle_datagram(self.now, self.server_addr, &datagram);
                }
            }
            6 => {
                self.now += Duration::from_millis(u64::from(script.byte()) * 20);
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
            _ => {
                let len = usize::from(script.byte()) * 4;
                let channel = u16::from(script.byte() % 8);
                let delivery = if op & 2 == 0 {
                    Delivery::Reliable
                } else {
                    Delivery::Unreliable
                };
                let data = script.bytes(len);
                // Refusals (not connected, queue full) are answers too; only panics are bugs.
                if to_server {
                    let _ = self.client.send(self.now, channel, data, delivery);
                } else if let Some(session) = self.client.session() {
                    let _ = self.server.send(self.now, session, channel, data, delivery);
                }
            }
        }
        self.collect();
    }

    fn queue(&mut self, to_server: bool) -> &mut VecDeque<Vec<u8>> {
        if to_server {
            &mut self.to_server
        } else {
            &mut self.to_client
        }
    }

    fn deliver(&mut self, to_server: bool, mutation: Option<Mutation>) {
        let Some(mut datagram) = self.queue(to_server).pop_front() else {
            return;
        };
        match mutation {
            None => {}
            Some(Mutation::Xor { at, value }) => {
                let at = at % datagram.len().max(1);
                if let Some(b) = datagram.get_mut(at) {
                    *b ^= value;
                }
            }
            Some(Mutation::Truncate(len)) => datagram.truncate(len),
        }
        if to_server {
            self.server
                .handle_datagram(self.now, self.client_addr, &datagram);
        } else {
            self.client
                .handle_datagram(self.now, self.server_addr, &datagram);
        }
    }
}

enum Mutation {
    Xor { at: usize, value: u8 },
    Truncate(usize),
}

fuzz_target!(|data: &[u8]| {
    let mut script = Script(data);
    let mut world = World::new(script.byte());
    world.collect();
    for _ in 0..512 {
        if script.0.is_empty() {
            break;
        }
        world.step(&mut script);
    }
});
