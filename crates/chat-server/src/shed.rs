//! Load shedding, without I/O. A server that falls behind its socket would otherwise learn of
//! it only when the kernel's receive queue overflows and drops datagrams, which the senders'
//! retransmission timers find out about tens of milliseconds later, resending into the same
//! full queue. Instead, once the queue the driver reports is half full, new messages (`Send`:
//! DMs and room posts, the load that grows) are refused with an error that tells the client to
//! try again, which costs the server an answer instead of a delivery, a receipt and a store
//! write; everything else (joins, acknowledgements, receipts, queries, leaving) still goes
//! through. It stops once the queue is down to a quarter, so that it does not flap at the edge.

use std::time::{Duration, Instant};

use dgram_net::sys::Backlog;

/// Receive-queue fill (per cent) at which new messages start being refused.
pub(crate) const START_PERCENT: u32 = 50;
/// Fill at which they are taken again.
pub(crate) const STOP_PERCENT: u32 = 25;

/// Whether the server is shedding, and what the current episode has refused.
#[derive(Debug, Default)]
pub(crate) struct Shedder {
    episode: Option<Episode>,
}

#[derive(Debug, Clone, Copy)]
struct Episode {
    since: Instant,
    shed: u64,
    peak: u32,
}

/// A change worth a log line: shedding started, or an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// The queue reached [`START_PERCENT`]; `backlog` is what the kernel reported.
    Started { backlog: Backlog },
    /// The queue fell to [`STOP_PERCENT`]: how long the episode lasted, how many messages it
    /// refused, and the fullest the queue was meanwhile (per cent).
    Stopped {
        lasted: Duration,
        shed: u64,
        peak: u32,
    },
}

impl Shedder {
    /// Takes in the driver's report after a turn's reads.
    pub(crate) fn observe(&mut self, now: Instant, backlog: Backlog) -> Option<Change> {
        let percent = backlog.percent();
        match &mut self.episode {
            None if percent >= START_PERCENT => {
                self.episode = Some(Episode {
                    since: now,
                    shed: 0,
                    peak: percent,
                });
                Some(Change::Started { backlog })
            }
            None => None,
            Some(e) if percent <= STOP_PERCENT => {
                let e = *e;
                self.episode = None;
                Some(Change::Stopped {
                    lasted: now.saturating_duration_since(e.since),
                    shed: e.shed,
                    peak: e.peak,
                })
            }
            Some(e) => {
                e.peak = e.peak.max(percent);
                None
            }
        }
    }

    /// Whether a new message is to be refused now; counts it if so.
    pub(crate) fn sheds(&mut self) -> bool {
        match &mut self.episode {
            Some(e) => {
                e.shed += 1;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(percent: u32) -> Backlog {
        Backlog {
            queued: percent * 1000,
            capacity: 100_000,
        }
    }

    #[test]
    fn it_starts_at_half_full_and_stops_at_a_quarter_not_between() {
        let t0 = Instant::now();
        let mut s = Shedder::default();
        assert_eq!(s.observe(t0, fill(49)), None);
        assert!(!s.sheds(), "below half, nothing is refused");
        assert_eq!(
            s.observe(t0, fill(50)),
            Some(Change::Started { backlog: fill(50) })
        );
        assert!(s.sheds() && s.sheds());
        // Between the marks nothing changes: no flapping at the edge.
        assert_eq!(s.observe(t0, fill(70)), None);
        assert_eq!(s.observe(t0, fill(30)), None);
        assert!(s.sheds());
        let later = t0 + Duration::from_millis(40);
        assert_eq!(
            s.observe(later, fill(25)),
            Some(Change::Stopped {
                lasted: Duration::from_millis(40),
                shed: 3,
                peak: 70,
            })
        );
        assert!(!s.sheds(), "taken again");
        assert_eq!(s.observe(later, fill(40)), None, "below half stays off");
    }

    #[test]
    fn a_drained_socket_or_an_unknown_size_never_sheds() {
        let mut s = Shedder::default();
        let now = Instant::now();
        assert_eq!(s.observe(now, Backlog::EMPTY), None);
        let unknown = Backlog {
            queued: 5_000,
            capacity: 0,
        };
        assert_eq!(s.observe(now, unknown), None);
        assert!(!s.sheds());
        s.observe(now, fill(90));
        assert!(matches!(
            s.observe(now, Backlog::EMPTY),
            Some(Change::Stopped { shed: 0, .. })
        ));
    }
}
