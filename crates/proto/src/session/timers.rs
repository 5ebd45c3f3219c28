//! The server's timer queue: one heap of (deadline, session) for every session, so that
//! `poll_timeout` with many sessions is a peek rather than a scan.
//!
//! Entries are not removed when a session's deadline moves (that would need a search): the
//! session keeps the deadline it has on the heap, and an entry that does not match it is stale
//! and skipped when it comes up. A deadline that moves later needs no new entry (the old one
//! fires early, and the session pushes its real deadline then); one that moves earlier does,
//! and the old entry goes stale: a packet heard on a quiet session owes an ack in milliseconds
//! where its idle timeout was seconds away, so stale entries pile up, about one per session
//! that was heard from, which would double the heap. Before the heap grows, stale entries are
//! dropped instead; the heap grows only if that frees less than a quarter of it, so each entry
//! is looked at a bounded number of times.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::time::Stamp;
use super::SessionId;

#[derive(Debug)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Stamp, SessionId)>>,
    /// What the stamps count from: when the server started.
    epoch: Instant,
}

impl Timers {
    pub(super) fn new(epoch: Instant) -> Self {
        Self {
            heap: BinaryHeap::new(),
            epoch,
        }
    }

    pub(super) fn stamp(&self, at: Instant) -> Stamp {
        Stamp::since(self.epoch, at)
    }

    pub(super) fn at(&self, stamp: Stamp) -> Instant {
        stamp.at(self.epoch)
    }

    /// The earliest entry, stale or not.
    pub(super) fn peek(&self) -> Option<(Stamp, SessionId)> {
        self.heap.peek().map(|&Reverse(entry)| entry)
    }

    pub(super) fn pop(&mut self) {
        self.heap.pop();
    }

    /// Adds an entry; `current` says which of those already there still count.
    pub(super) fn push(
        &mut self,
        due: Stamp,
        id: SessionId,
        mut current: impl FnMut(Stamp, SessionId) -> bool,
    ) {
        let room = self.heap.capacity();
        if self.heap.len() == room && room >= 64 {
            self.heap.retain(|&Reverse((due, id))| current(due, id));
            if self.heap.len() > room / 4 * 3 {
                // Mostly current: grow now rather than look again at the next push.
                self.heap.reserve(room);
            }
        }
        self.heap.push(Reverse((due, id)));
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.heap.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stale_entries_are_dropped_before_the_heap_grows() {
        let epoch = Instant::now();
        let mut timers = Timers::new(epoch);
        // 1000 sessions, each with a deadline that then moves earlier twice, as when a packet
        // heard owes an ack before the idle timeout: two of every three entries go stale.
        let mut deadline = vec![None; 1000];
        for round in 1..=3u64 {
            for id in 0..1000u32 {
                let at = epoch + Duration::from_millis((4 - round) * 1000 + u64::from(id));
                let due = timers.stamp(at);
                deadline[id as usize] = Some(due);
                timers.push(due, id, |d, i| deadline[i as usize] == Some(d));
            }
        }
        assert!(timers.capacity() <= 2048, "{}", timers.capacity());
        // Every current deadline is still there, in order.
        let mut fired = Vec::new();
        while let Some((due, id)) = timers.peek() {
            timers.pop();
            if deadline[id as usize] == Some(due) {
                fired.push((timers.at(due), id));
            }
        }
        assert_eq!(fired.len(), 1000);
        assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(fired[0], (epoch + Duration::from_millis(1000), 0));
    }
}
