//! The packets in flight, by packet number. Numbers only grow as packets leave, and acks
//! retire them mostly from the oldest end, so they are kept in one sorted ring: sending
//! appends, an ack or a loss finds its packet by halves and takes it out by shifting the
//! shorter side (nearly always none or a few), and a range is a slice of the ring. A
//! `BTreeMap` did the same with a node allocation per few packets and a tree walk per
//! lookup, on every packet sent and acknowledged.
//!
//! Only packets that hold something are here (data, pings, path MTU probes), so the ring
//! is as long as what is really in flight: an ack-only packet leaves no gap.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

use super::flight::SentPacket;

/// Packets in flight, ascending by number.
#[derive(Debug, Default)]
pub(crate) struct InFlight(VecDeque<(u32, SentPacket)>);

impl InFlight {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many (the gate caps it at `Config::max_in_flight`).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Where `pn` is, or would go.
    fn find(&self, pn: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&pn, |&(n, _)| n)
    }

    /// Remembers packet `pn`; a number sent again replaces what it held.
    pub(crate) fn insert(&mut self, pn: u32, packet: SentPacket) {
        // Numbers grow, so this is an append; the search only runs for a number that did not.
        if self.0.back().is_none_or(|&(last, _)| last < pn) {
            self.0.push_back((pn, packet));
            return;
        }
        match self.find(pn) {
            Ok(at) => self.0[at].1 = packet,
            Err(at) => self.0.insert(at, (pn, packet)),
        }
    }

    pub(crate) fn remove(&mut self, pn: &u32) -> Option<SentPacket> {
        let at = self.find(*pn).ok()?;
        self.0.remove(at).map(|(_, p)| p)
    }

    pub(crate) fn get(&self, pn: &u32) -> Option<&SentPacket> {
        self.find(*pn).ok().map(|at| &self.0[at].1)
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&u32, &SentPacket)> {
        self.0.iter().map(|(n, p)| (n, p))
    }

    pub(crate) fn keys(&self) -> impl DoubleEndedIterator<Item = &u32> {
        self.0.iter().map(|(n, _)| n)
    }

    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &SentPacket> {
        self.0.iter().map(|(_, p)| p)
    }

    /// The packets numbered within `range`, oldest first.
    pub(crate) fn range(
        &self,
        range: impl RangeBounds<u32>,
    ) -> impl DoubleEndedIterator<Item = (&u32, &SentPacket)> {
        let from = |n: u32| self.0.partition_point(|&(m, _)| m < n);
        let after = |n: u32| self.0.partition_point(|&(m, _)| m <= n);
        let start = match range.start_bound() {
            Bound::Unbounded => 0,
            Bound::Included(&n) => from(n),
            Bound::Excluded(&n) => after(n),
        };
        let end = match range.end_bound() {
            Bound::Unbounded => self.0.len(),
            Bound::Included(&n) => after(n),
            Bound::Excluded(&n) => from(n),
        }
        .max(start);
        self.0.range(start..end).map(|(n, p)| (n, p))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn numbers<'a>(it: impl Iterator<Item = (&'a u32, &'a SentPacket)>) -> Vec<u32> {
        it.map(|(&n, _)| n).collect()
    }

    fn with(pns: &[u32]) -> InFlight {
        let now = Instant::now();
        let mut f = InFlight::default();
        for &pn in pns {
            f.insert(pn, SentPacket::empty(now));
        }
        f
    }

    #[test]
    fn ranges_cut_as_a_sorted_map_would() {
        let f = with(&[3, 5, 6, 9, 12]);
        assert_eq!(numbers(f.range(5..=9)), [5, 6, 9]);
        assert_eq!(numbers(f.range(4..9)), [5, 6]);
        assert_eq!(numbers(f.range(..6)), [3, 5]);
        assert_eq!(numbers(f.range(..=6)), [3, 5, 6]);
        assert_eq!(numbers(f.range(10..)), [12]);
        assert_eq!(numbers(f.range(13..)), Vec::<u32>::new());
        assert_eq!(numbers(f.range(7..=8)), Vec::<u32>::new());
        assert_eq!(numbers(f.range(..)), [3, 5, 6, 9, 12]);
        assert_eq!(f.keys().next_back(), Some(&12));
    }

    #[test]
    fn packets_leave_from_anywhere_and_late_numbers_still_sort() {
        let mut f = with(&[1, 2, 3, 4]);
        assert!(f.remove(&3).is_some());
        assert!(f.remove(&3).is_none(), "gone already");
        assert!(f.remove(&1).is_some());
        assert!(f.get(&2).is_some() && f.get(&3).is_none());
        // Not expected from a sender, but it must not break the order.
        f.insert(0, SentPacket::empty(Instant::now()));
        f.insert(7, SentPacket::mtu_probe(Instant::now(), 1500));
        f.insert(7, SentPacket::empty(Instant::now()));
        assert_eq!(numbers(f.iter()), [0, 2, 4, 7]);
        assert_eq!(f.get(&7).map(|p| p.size), Some(0), "replaced");
        for pn in [0, 2, 4, 7] {
            assert!(f.remove(&pn).is_some());
        }
        assert!(f.is_empty());
    }
}
