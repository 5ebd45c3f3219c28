//! The load generator's window: which sequence numbers are in flight since when, so that a reply
//! is matched in constant time and a request that is never answered frees its slot after the
//! loss timeout instead of stalling the window for good.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Requests sent, oldest first, by sequence number.
///
/// Sequence numbers are handed out in order and sending times only grow, so the oldest
/// unanswered request is always at the front: expiry looks at the front alone.
#[derive(Debug)]
pub(crate) struct Window {
    /// The sequence number of `slots[0]`.
    base: u64,
    /// When each request was sent, or `None` once it is answered or lost.
    slots: VecDeque<Option<Instant>>,
    in_flight: usize,
    limit: usize,
}

impl Window {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            base: 0,
            slots: VecDeque::with_capacity(limit.saturating_mul(2)),
            in_flight: 0,
            limit,
        }
    }

    /// How many more requests may be sent now.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.in_flight)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The sequence number the next request gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    /// Records that the next `count` requests were sent at `now`.
    pub(crate) fn sent(&mut self, now: Instant, count: usize) {
        self.slots.extend(std::iter::repeat_n(Some(now), count));
        self.in_flight += count;
    }

    /// Takes the request `seq` out of flight, returning when it was sent; `None` if it is not in
    /// flight (answered already, given up on, or never sent).
    pub(crate) fn answer(&mut self, seq: u64) -> Option<Instant> {
        let index = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        let sent = self.slots.get_mut(index)?.take()?;
        self.in_flight -= 1;
        Some(sent)
    }

    /// Forgets what is settled at the front, giving up on requests sent `timeout` or longer
    /// before `now`. Returns how many were given up.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let mut lost = 0;
        while let Some(&front) = self.slots.front() {
            match front {
                Some(sent) if now.saturating_duration_since(sent) < timeout => break,
                Some(_) => {
                    lost += 1;
                    self.in_flight -= 1;
                }
                None => {}
            }
            self.slots.pop_front();
            self.base += 1;
        }
        lost
    }

    /// When the oldest request in flight will be given up on, after [`Window::expire`].
    pub(crate) fn next_expiry(&self, timeout: Duration) -> Option<Instant> {
        self.slots
            .front()
            .copied()
            .flatten()
            .map(|sent| sent + timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[test]
    fn answers_free_room_once() {
        let t0 = Instant::now();
        let mut w = Window::new(4);
        w.sent(t0, 3);
        assert_eq!((w.room(), w.in_flight(), w.next_seq()), (1, 3, 3));
        assert_eq!(w.answer(1), Some(t0));
        assert_eq!(w.answer(1), None, "a duplicate is not a second answer");
        assert_eq!(w.answer(3), None, "never sent");
        assert_eq!(w.room(), 2);
    }

    #[test]
    fn unanswered_requests_expire_in_order() {
        let t0 = Instant::now();
        let mut w = Window::new(8);
        w.sent(t0, 2);
        w.sent(t0 + Duration::from_millis(500), 2);
        assert_eq!(w.answer(0), Some(t0));
        assert_eq!(w.expire(t0 + Duration::from_millis(999), TIMEOUT), 0);
        assert_eq!(w.next_expiry(TIMEOUT), Some(t0 + TIMEOUT));
        assert_eq!(w.expire(t0 + TIMEOUT, TIMEOUT), 1);
        assert_eq!(w.in_flight(), 2);
        assert_eq!(w.answer(1), None, "a reply after the timeout is late");
        assert_eq!(w.answer(2), Some(t0 + Duration::from_millis(500)));
        assert_eq!(w.expire(t0 + Duration::from_secs(2), TIMEOUT), 1);
        assert_eq!((w.in_flight(), w.next_expiry(TIMEOUT)), (0, None));
        assert_eq!(w.next_seq(), 4, "numbers keep counting up");
    }
}
