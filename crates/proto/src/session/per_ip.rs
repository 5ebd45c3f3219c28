//! Open sessions per client network, so that one address cannot take the server's whole
//! session table: the server refuses a Join from a network that already holds its share,
//! before any session exists. A network is an IPv4 address, or an IPv6 /64 (what one
//! subscriber is usually given, so cycling through its addresses buys nothing); an IPv4-mapped
//! IPv6 address counts as the IPv4 address it maps.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::network::Network;

/// How many sessions each network holds. Which network a session counts against is its
/// current address's: the server says so as sessions open, move and end, so that no map from
/// session to network is kept (an idle session's memory is part of issue 17).
#[derive(Debug, Default)]
pub(super) struct PerIp {
    counts: HashMap<Network, usize>,
}

impl PerIp {
    /// How many sessions `ip`'s network holds.
    pub(super) fn count(&self, ip: IpAddr) -> usize {
        self.counts.get(&Network::of(ip)).copied().unwrap_or(0)
    }

    /// Counts one more session against `ip`'s network.
    pub(super) fn add(&mut self, ip: IpAddr) {
        *self.counts.entry(Network::of(ip)).or_insert(0) += 1;
    }

    /// Counts one session fewer against `ip`'s network (one that `add` counted). A network
    /// with no entry holds none: there is nothing to take.
    pub(super) fn release(&mut self, ip: IpAddr) {
        let network = Network::of(ip);
        if let Some(count) = self.counts.get_mut(&network) {
            // At least 1: an entry goes when its count reaches 0.
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&network);
            }
        }
    }

    /// A session counted against `from`'s network now runs from `to`.
    pub(super) fn moved(&mut self, from: IpAddr, to: IpAddr) {
        self.release(from);
        self.add(to);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use super::super::packet::{self, Writer};
    use super::super::{noise, Config, Keypair, RejectReason, Server};
    use super::*;
    use crate::MAX_DATAGRAM;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("literal")
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let mut p = PerIp::default();
        p.add(ip("2001:db8:1:2::1"));
        p.add(ip("2001:db8:1:2:ffff::9"));
        p.add(ip("::ffff:192.0.2.7"));
        assert_eq!(p.count(ip("2001:db8:1:2:abcd::")), 2);
        assert_eq!(p.count(ip("2001:db8:1:3::1")), 0);
        assert_eq!(p.count(ip("192.0.2.7")), 1);
        // A session that moves is counted where it is now.
        p.moved(ip("2001:db8:1:2:ffff::9"), ip("192.0.2.7"));
        assert_eq!(p.count(ip("2001:db8:1:2::")), 1);
        assert_eq!(p.count(ip("192.0.2.7")), 2);
        p.release(ip("192.0.2.7"));
        assert_eq!(p.count(ip("192.0.2.7")), 1);
        p.release(ip("192.0.2.7"));
        p.release(ip("2001:db8:1:2::1"));
        // A release of a network that holds nothing changes nothing.
        p.release(ip("198.51.100.1"));
        assert!(p.counts.is_empty());
    }

    /// A raw handshake from `from`: Hello, then Join with the cookie the server sent back.
    /// Returns the server's answer to the Join: `Ok(session)` or `Err(reason)`.
    fn handshake(server: &mut Server, now: Instant, from: SocketAddr) -> Result<u32, RejectReason> {
        let nonce = [from.port() as u8; packet::NONCE_LEN];
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut w = Writer::new(&mut buf);
        packet::write_hello(&mut w, &nonce);
        let len = w.len();
        server.handle_datagram(now, from, &buf[..len]);
        let t = server.poll_transmit(now, &mut buf).expect("a cookie");
        let Some(packet::Packet::Cookie {
            cookie, server_key, ..
        }) = packet::parse(&buf[..t.len])
        else {
            panic!("expected a cookie");
        };
        let me = Keypair::from_seed([from.port() as u8; 32]);
        let prologue = noise::prologue(&nonce, &cookie);
        let payload = packet::join_payload(None);
        let init = noise::Initiator::start(&me, &server_key, &prologue, [1; 32], &payload)
            .expect("a first message");
        let mut join = [0u8; MAX_DATAGRAM];
        let mut w = Writer::new(&mut join);
        packet::write_join(&mut w, &nonce, &cookie, &init.msg1);
        let len = w.len();
        server.handle_datagram(now, from, &join[..len]);
        let t = server.poll_transmit(now, &mut buf).expect("an answer");
        match packet::parse(&buf[..t.len]) {
            Some(packet::Packet::Welcome { session, .. }) => Ok(session),
            Some(packet::Packet::Reject { reason, .. }) => Err(reason),
            other => panic!("unexpected answer {other:?}"),
        }
    }

    #[test]
    fn one_network_cannot_fill_the_server_and_others_still_join() {
        let now = Instant::now();
        let config = Config {
            max_sessions: 20,
            max_sessions_per_ip: 4,
            ..Config::default()
        };
        let mut server = Server::new(config, [9; 32], now, Keypair::from_seed([3; 32]));
        let from = |ip: &str, port: u16| SocketAddr::new(ip.parse().expect("literal"), port);
        // One IPv4 address, many ports: four sessions, then refused before a session exists.
        let attacker: Vec<_> = (0..50)
            .map(|p| handshake(&mut server, now, from("192.0.2.66", 40_000 + p)))
            .collect();
        assert_eq!(attacker.iter().filter(|r| r.is_ok()).count(), 4);
        assert!(attacker[4..].iter().all(|r| *r == Err(RejectReason::Busy)));
        assert_eq!(server.sessions(), 4);
        // One IPv6 /64, many addresses: the same.
        let v6 = (0..50u16)
            .filter(|i| {
                handshake(
                    &mut server,
                    now,
                    from(&format!("2001:db8:0:1::{i:x}"), 5000),
                )
                .is_ok()
            })
            .count();
        assert_eq!(v6, 4);
        assert_eq!(server.sessions(), 8);
        // Anyone else still joins, and a session that ends frees its network's place.
        assert!(handshake(&mut server, now, from("192.0.2.1", 40_000)).is_ok());
        assert!(handshake(&mut server, now, from("2001:db8:0:2::1", 5000)).is_ok());
        let first = attacker[0].expect("a session");
        server.close(first);
        while server
            .poll_transmit(now, &mut [0u8; MAX_DATAGRAM])
            .is_some()
        {}
        assert_eq!(server.sessions(), 9);
        assert!(handshake(&mut server, now, from("192.0.2.66", 50_000)).is_ok());
        assert_eq!(server.stats().rejected, 46 + 46);
    }
}
