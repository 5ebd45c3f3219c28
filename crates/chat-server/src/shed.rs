//! Load shedding, without I/O. A server that falls behind its socket would otherwise learn of
//! it only when the kernel's receive queue overflows and drops datagrams, which the senders'
//! retransmission timers find out about tens of milliseconds later, resending into the same
//! full queue. Instead, once the queue the driver reports is four fifths full, new messages
//! (`Send`: DMs and room posts, the load that grows) are refused with an error that tells the
//! client to try again, which costs the server an answer instead of a delivery, a receipt and a
//! store write; everything else (joins, acknowledgements, receipts, queries, leaving) still
//! goes through. It stops once the queue is down to half, so that it does not flap at the edge.

use std::time::{Duration, Instant};

use dgram_net::sys::Backlog;

/// Receive-queue fill (per cent) at which new messages start being refused. Not lower: a
/// closed-loop load that is merely large (1000 clients with 2 DMs each in flight, under a slowed
/// server) holds the queue steady near half full without the kernel ever dropping a datagram,
/// and refusing there turned away 6 % of DMs that would have been served (measured under
/// callgrind). What is left above it (1.6 MiB of the driver's 8 MiB, some 700 datagrams, five
/// turns of reads) is the warning before the kernel drops.
pub(crate) const START_PERCENT: u32 = 80;
/// Fill at which they are taken again.
pub(crate) const STOP_PERCENT: u32 = 50;

/// Whether the server is shedding, and how many messages it has refused so far.
#[derive(Debug, Default)]
pub(crate) struct Shedder {
    episode: Option<Episode>,
    /// Every message refused since the start: the summary's `shed`, and (less what it was
    /// when an episode began) that episode's count.
    shed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Episode {
    since: Instant,
    shed_before: u64,
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
                    shed_before: self.shed,
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
                    shed: self.shed - e.shed_before,
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
        let sheds = self.episode.is_some();
        self.shed += u64::from(sheds);
        sheds
    }

    /// Messages refused since the start.
    pub(crate) fn shed(&self) -> u64 {
        self.shed
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
    fn it_starts_at_four_fifths_and_stops_at_half_not_between() {
        let t0 = Instant::now();
        let mut s = Shedder::default();
        assert_eq!(s.observe(t0, fill(79)), None);
        assert!(!s.sheds(), "below four fifths, nothing is refused");
        assert_eq!(
            s.observe(t0, fill(80)),
            Some(Change::Started { backlog: fill(80) })
        );
        assert!(s.sheds() && s.sheds());
        // Between the marks nothing changes: no flapping at the edge.
        assert_eq!(s.observe(t0, fill(95)), None);
        assert_eq!(s.observe(t0, fill(55)), None);
        assert!(s.sheds());
        let later = t0 + Duration::from_millis(40);
        assert_eq!(
            s.observe(later, fill(50)),
            Some(Change::Stopped {
                lasted: Duration::from_millis(40),
                shed: 3,
                peak: 95,
            })
        );
        assert!(!s.sheds(), "taken again");
        assert_eq!(s.shed(), 3, "the total counts only what was refused");
        assert_eq!(
            s.observe(later, fill(70)),
            None,
            "below four fifths stays off"
        );
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
