//! Unit tests across the session modules: what a session keeps once it is quiet. A server holds
//! many idle sessions, so whatever a burst made them allocate (a long reply in fragments, many
//! small messages at once, retransmissions after loss) has to be let go once it is delivered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Client, Config, Delivery, Event, Keypair, Server, ServerPin, SessionId, MAX_FRAGMENT};
use crate::MAX_DATAGRAM;

const STEP: Duration = Duration::from_millis(5);

/// A client and a server joined by an in-memory path that loses what `lose` picks.
struct Pair {
    server: Server,
    client: Client,
    server_addr: SocketAddr,
    client_addr: SocketAddr,
    now: Instant,
    sent: u64,
    lose: fn(u64) -> bool,
    /// The session, once the server accepted it.
    session: Option<SessionId>,
    /// Reliable messages the client has had acknowledged.
    delivered: usize,
    /// Messages the client received.
    received: Vec<Vec<u8>>,
}

impl Pair {
    fn new(lose: fn(u64) -> bool) -> Self {
        let now = Instant::now();
        let server_addr: SocketAddr = ([127, 0, 0, 1], 8081).into();
        let config = Config::default();
        Self {
            server: Server::new(config.clone(), [1; 32], now, Keypair::from_seed([3; 32])),
            client: Client::new(
                config,
                [2; 32],
                server_addr,
                now,
                Keypair::from_seed([4; 32]),
                ServerPin::Any,
            ),
            server_addr,
            client_addr: ([127, 0, 0, 1], 40000).into(),
            now,
            sent: 0,
            lose,
            session: None,
            delivered: 0,
            received: Vec::new(),
        }
    }

    /// Moves datagrams both ways until neither side has more, then lets time pass one step.
    /// The server answers every message with `reply`.
    fn step(&mut self, reply: &[u8]) {
        let mut buf = [0u8; MAX_DATAGRAM];
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                moved = true;
                self.sent += 1;
                if !(self.lose)(self.sent) {
                    let d = &buf[..t.len];
                    self.server.handle_datagram(self.now, self.client_addr, d);
                }
            }
            while let Some((id, event)) = self.server.poll_event() {
                match event {
                    Event::Accepted { .. } => self.session = Some(id),
                    Event::Message { .. } => {
                        let sent =
                            self.server
                                .send(self.now, id, 0, reply.to_vec(), Delivery::Reliable);
                        assert!(sent.is_ok());
                    }
                    _ => {}
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                moved = true;
                self.sent += 1;
                if !(self.lose)(self.sent) {
                    let d = &buf[..t.len];
                    self.client.handle_datagram(self.now, self.server_addr, d);
                }
            }
            while let Some(event) = self.client.poll_event() {
                match event {
                    Event::Delivered { .. } => self.delivered += 1,
                    Event::Message { data, .. } => self.received.push(data),
                    _ => {}
                }
            }
            if !moved {
                break;
            }
        }
        self.now += STEP;
        // As a driver does: timers run only when their endpoint asked for them.
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
            self.client.handle_timeout(self.now);
        }
    }

    /// Runs until `done` holds (at most a minute of simulated time).
    fn run_until(&mut self, reply: &[u8], done: impl Fn(&Self) -> bool) {
        for _ in 0..12_000 {
            if done(self) {
                return;
            }
            self.step(reply);
        }
        panic!("not done after a minute");
    }
}

/// The chat's welcome is a message of several fragments; a client then sends a burst.
fn exchange(lose: fn(u64) -> bool) {
    let welcome: Vec<u8> = (0..5 * MAX_FRAGMENT).map(|i| i as u8).collect();
    let mut pair = Pair::new(lose);
    pair.run_until(&welcome, |p| p.client.is_connected());
    let sent = pair
        .client
        .send(pair.now, 0, b"hello".to_vec(), Delivery::Reliable);
    assert!(sent.is_ok());
    pair.run_until(&welcome, |p| p.received.len() == 1 && p.delivered == 1);
    assert_eq!(pair.received[0], welcome);
    // The chat's shape: one channel each way. Once quiet, nothing per channel is allocated.
    pair.run_until(b"ok", |p| {
        p.session.is_some_and(|s| p.server.is_quiet(s)) && p.client.is_quiet()
    });
    assert!(pair.session.is_some_and(|s| pair.server.channels_inline(s)));

    for i in 0..40u8 {
        let sent = pair.client.send(
            pair.now,
            1 + u16::from(i % 2),
            vec![i; 300],
            Delivery::Reliable,
        );
        assert!(sent.is_ok());
    }
    pair.run_until(b"ok", |p| p.received.len() == 41 && p.delivered == 41);
    // What is left in flight at the end is acknowledged within a few steps.
    pair.run_until(b"ok", |p| {
        p.session.is_some_and(|s| p.server.is_quiet(s)) && p.client.is_quiet()
    });
}

#[test]
fn an_idle_session_keeps_no_buffers() {
    exchange(|_| false);
}

#[test]
fn an_idle_session_keeps_no_buffers_after_loss() {
    exchange(|n| n % 4 == 0);
}

#[test]
fn a_session_entry_stays_small() {
    // Every idle session on a server is one of these (issue 4): it was 336 bytes with its
    // times kept as `Instant`s and an empty `Vec` for early acks; 288 until the path's
    // summary (issue 13) counted the packets sent and the fragments sent again (296), and 304
    // since issue 12 boxed the session's keys beside it (one pointer); 328 since path MTU
    // discovery (issue 13) remembers what the path carries, which must outlive a burst.
    let size = std::mem::size_of::<super::server::Session>();
    assert!(size <= 328, "{size} bytes");
    assert_eq!(std::mem::size_of::<super::mtu::Mtu>(), 24);
    // Issue 12 added the session's keys and handshake proof, boxed once beside the entry: two
    // AEAD keys, the client's key, and the answer to a repeated first message; 104 since
    // issue 17 boxed that answer with the first message's ephemeral key on their own, as they
    // live only until the client's first data packet (144 when the key was kept for good).
    let crypto = std::mem::size_of::<super::server::Crypto>();
    assert!(crypto <= 104, "{crypto} bytes");
}

#[test]
fn a_client_whose_packet_numbers_run_out_starts_a_new_session_on_its_own() {
    let mut pair = Pair::new(|_| false);
    pair.run_until(b"ok", |p| p.client.is_connected());
    let first = pair.session;
    if let Some(conn) = pair.client.conn_mut() {
        conn.jump_packet_numbers(u32::MAX - 20);
    }
    for i in 0..8u8 {
        let sent = pair
            .client
            .send(pair.now, 0, vec![i; 10], Delivery::Reliable);
        assert!(sent.is_ok());
    }
    // The session ends cleanly near the end of the number space, and no timer is left to
    // notice: the client must start over from the send path itself.
    pair.run_until(b"ok", |p| p.session != first && p.client.is_connected());
}

#[test]
fn a_session_s_path_and_address_are_still_reported_once_it_ended() {
    let mut pair = Pair::new(|n| n % 4 == 0);
    pair.run_until(b"ok", |p| p.client.is_connected());
    for i in 0..40u8 {
        let sent = pair
            .client
            .send(pair.now, 0, vec![i; 1000], Delivery::Reliable);
        assert!(sent.is_ok());
    }
    pair.run_until(b"ok", |p| p.delivered == 40);
    let live = pair.client.path_stats().expect("connected");
    assert!(live.lost_packets > 0, "{live:?}");
    assert!(live.max_bytes_in_flight >= 1000, "{live:?}");
    assert!(live.smoothed_rtt.is_some());
    let session = pair.session.expect("accepted");
    assert!(pair.server.path_stats(session).is_some());
    let from = pair.server.peer(session).expect("a live session's address");

    pair.client.close();
    // The server hears the goodbye, removes the session, and hands out its end.
    pair.run_until(b"ok", |p| p.server.sessions() == 0);
    let ended = pair.client.path_stats().expect("kept from its end");
    assert_eq!(ended.lost_packets, live.lost_packets);
    assert_eq!(ended.max_bytes_in_flight, live.max_bytes_in_flight);
    let at_server = pair.server.path_stats(session).expect("kept from its end");
    assert!(at_server.max_bytes_in_flight > 0, "{at_server:?}");
    assert_eq!(pair.server.path_stats(session ^ 1), None);
    // Where it ran from, for whoever logs its end.
    assert_eq!(pair.server.peer(session), Some(from));
    assert_eq!(pair.server.peer(session ^ 1), None);
}
