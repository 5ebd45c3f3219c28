//! Path MTU discovery: how large a datagram the path carries, found by probing (RFC 8899's
//! packetization-layer discovery, as QUIC does it in RFC 9000 §14.3), never from ICMP, which
//! the open network filters and an attacker can forge.
//!
//! A session starts at [`BASE`] (1200 bytes, which every path carries) and probes only once
//! a packet has been cut short by that size: a chat session that sends short lines never
//! pays for a probe, a paste or a history replay does. The first probe tries the largest size
//! (what a 1500-byte Ethernet path carries under the IP and UDP headers, as most paths do:
//! [`MAX_V4`] over IPv4, [`MAX_V6`] over IPv6); if three probes of a size go unanswered, the
//! search halves the range between the largest size that was acknowledged and the smallest
//! that failed, until it is narrower than [`GRANULARITY`].
//!
//! A probe is one ack-eliciting packet (a PING padded to the size), sent only while the
//! congestion window has room for it. Its loss says nothing about congestion, so the window
//! never shrinks for it and nothing is resent for it. The socket must not fragment (quinn-udp
//! sets `IP_PMTUDISC_PROBE`, so the kernel sets DF and refuses what the interface cannot
//! take), otherwise a probe would pass in fragments and prove nothing.
//!
//! What the path carried can change: a session that moves to a new address, or whose
//! packets are all lost for long enough to collapse the window (persistent congestion,
//! which is also what a path that silently drops the larger size looks like), falls back to
//! [`BASE`] and searches again. A search that ended below the largest size tries again after
//! [`RAISE_AFTER`] (RFC 8899's raise timer), as the path may have grown.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::packet::acks;
use super::time::Stamp;

/// The size every path carries, where every session starts.
pub(crate) const BASE: u16 = crate::MAX_DATAGRAM as u16;

/// The largest size probed over IPv4: 1500 bytes less 20 of IP header and 8 of UDP.
pub(crate) const MAX_V4: u16 = crate::MAX_PATH_DATAGRAM as u16;

/// The largest size probed over IPv6, whose header takes 40 bytes (quinn's bound for both).
pub(crate) const MAX_V6: u16 = 1452;

/// A packet with less room left than this was cut short: the next size up would have
/// carried more.
pub(crate) const CUT_SHORT: usize = (MAX_V6 - BASE) as usize;

/// Probes of one size that go unanswered before the size counts as too large.
const MAX_PROBES: u8 = 3;

/// A search stops once the largest size known to pass and the smallest known to fail are
/// this close: a few bytes more per packet are not worth another round of probes.
const GRANULARITY: u16 = 20;

/// After a search that ended below the largest size, how long until it tries again.
pub(crate) const RAISE_AFTER: Duration = Duration::from_secs(600);

/// Packets acknowledged after a probe that declare it lost, as for any packet (RFC 9002's
/// packet threshold).
const PACKET_THRESHOLD: u32 = 3;

/// Kept in every session, so laid out tightly: 24 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mtu {
    /// The largest datagram the path is known to carry.
    current: u16,
    /// The smallest size known not to pass; `max + 1` while none is known.
    ceiling: u16,
    /// The largest size probed, by the peer's address family.
    max: u16,
    /// The size of the probe in flight; 0 while none is.
    probe_size: u16,
    /// The packet number of the probe in flight.
    probe_number: u32,
    /// Probes of the next size lost so far.
    failures: u8,
    /// Whether a packet was cut short by `current` since the search last (re)started.
    wanted: bool,
    /// While a probe is in flight, when it left; once a search ended below `max`, when it
    /// may start again.
    timer: Option<Stamp>,
}

impl Mtu {
    /// A path to `peer`, not yet probed.
    pub(crate) fn new(peer: SocketAddr) -> Self {
        let max = match peer.ip() {
            IpAddr::V4(_) => MAX_V4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => MAX_V4,
            IpAddr::V6(_) => MAX_V6,
        };
        Self {
            current: BASE,
            ceiling: max + 1,
            max,
            probe_size: 0,
            probe_number: 0,
            failures: 0,
            wanted: false,
            timer: None,
        }
    }

    /// The largest datagram to send now.
    pub(crate) fn current(&self) -> u16 {
        self.current
    }

    fn searching(&self) -> bool {
        self.ceiling - self.current > GRANULARITY
    }

    fn next_size(&self) -> u16 {
        if self.ceiling > self.max {
            self.max
        } else {
            self.current + (self.ceiling - self.current) / 2
        }
    }

    /// Whether a probe could be due at all: one is in flight, or a packet was cut short while
    /// the search is open or its raise timer runs. Cheap, so that a session that never filled
    /// a packet, or found the largest size, reads no clock for probing on every send.
    pub(crate) fn may_probe(&self) -> bool {
        self.probe_size != 0 || (self.wanted && (self.searching() || self.timer.is_some()))
    }

    /// A packet was full at the current size: a larger one would have carried more.
    pub(crate) fn cut_short(&mut self) {
        self.wanted = true;
    }

    /// The size of the probe to send now, if one is due. A probe that has waited `timeout`
    /// (the retransmission timeout) for its ack is lost.
    pub(crate) fn poll_probe(&mut self, now: Stamp, timeout: Duration) -> Option<u16> {
        let due = self.timer.is_none_or(|at| now >= at);
        if self.probe_size != 0 {
            let at = self.timer.map_or(now, |t| t.plus(timeout));
            if now < at {
                return None;
            }
            self.lost(now);
        } else if !self.searching() && due && self.current < self.max {
            // The raise timer: the path may carry more than when the search ended.
            self.timer = None;
            self.ceiling = self.max + 1;
        }
        (self.wanted && self.searching()).then(|| self.next_size())
    }

    pub(crate) fn probe_sent(&mut self, number: u32, size: u16, at: Stamp) {
        self.probe_number = number;
        self.probe_size = size;
        self.timer = Some(at);
    }

    /// Takes an ACK frame in.
    pub(crate) fn on_ack(&mut self, largest: u32, bits: u32, now: Stamp) {
        if self.probe_size == 0 {
            return;
        }
        if acks(largest, bits, self.probe_number) {
            self.current = std::mem::take(&mut self.probe_size);
            self.failures = 0;
            self.finish_if_done(now);
        } else if largest >= self.probe_number.saturating_add(PACKET_THRESHOLD) {
            self.lost(now);
        }
    }

    fn lost(&mut self, now: Stamp) {
        let size = std::mem::take(&mut self.probe_size);
        self.timer = None;
        self.failures += 1;
        if self.failures >= MAX_PROBES {
            self.failures = 0;
            self.ceiling = size;
            self.finish_if_done(now);
        }
    }

    fn finish_if_done(&mut self, now: Stamp) {
        let below = !self.searching() && self.current < self.max;
        self.timer = below.then(|| now.plus(RAISE_AFTER));
    }

    /// The path changed (now to `peer`) or stopped carrying what it did (persistent
    /// congestion: everything lost for several round trips may mean the larger size no longer
    /// passes): start again from [`BASE`].
    pub(crate) fn reset(&mut self, peer: SocketAddr) {
        *self = Self::new(peer);
    }
}

#[cfg(test)]
#[path = "mtu/tests.rs"]
mod tests;
