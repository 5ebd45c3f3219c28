//! Counters of what the proxy did, per direction, and the periodic summary in the log (the
//! proxy never logs single datagrams above debug: a flood would flood the log too).

use std::fmt;

/// What the proxy did to the datagrams going one way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams that arrived.
    pub received: u64,
    /// Datagrams sent on; both copies of a duplicated datagram count.
    pub forwarded: u64,
    /// Datagrams dropped on purpose (the `loss` impairment).
    pub dropped: u64,
    /// Datagrams sent twice (the `dup` impairment).
    pub duplicated: u64,
    /// Datagrams held in the timer queue before being sent (base delay or reordering).
    pub delayed: u64,
    /// Datagrams given an extra random delay (the `reorder` impairment).
    pub reordered: u64,
    /// Datagrams dropped because the timer queue was full.
    pub overflowed: u64,
    /// Datagrams (each copy of a duplicated one) that waited in the bottleneck's queue for the
    /// link, behind others.
    pub queued: u64,
    /// Datagrams (each copy) dropped because the bottleneck's queue was full: congestion, told
    /// apart from the random `loss` in `dropped`.
    pub queue_dropped: u64,
    /// Datagrams dropped for want of a flow: from a new client while the flow table was full
    /// or no upstream socket could be opened, or a reply that came as its flow expired.
    pub no_flow: u64,
    /// Datagrams dropped for being larger than the path's MTU (the `mtu` impairment).
    pub too_large: u64,
    /// Sends the system refused (the target's port closed, buffers full, no route).
    pub send_failed: u64,
}

impl DirectionStats {
    fn since(&self, earlier: &Self) -> Self {
        Self {
            received: self.received - earlier.received,
            forwarded: self.forwarded - earlier.forwarded,
            dropped: self.dropped - earlier.dropped,
            duplicated: self.duplicated - earlier.duplicated,
            delayed: self.delayed - earlier.delayed,
            reordered: self.reordered - earlier.reordered,
            overflowed: self.overflowed - earlier.overflowed,
            queued: self.queued - earlier.queued,
            queue_dropped: self.queue_dropped - earlier.queue_dropped,
            no_flow: self.no_flow - earlier.no_flow,
            too_large: self.too_large - earlier.too_large,
            send_failed: self.send_failed - earlier.send_failed,
        }
    }
}

impl fmt::Display for DirectionStats {
    /// One line for people: `received 10, forwarded 9, dropped 1, ...`, with the counters that
    /// are zero left out after `dropped`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, forwarded {}, dropped {}",
            self.received, self.forwarded, self.dropped
        )?;
        for (name, n) in [
            ("duplicated", self.duplicated),
            ("delayed", self.delayed),
            ("reordered", self.reordered),
            ("overflowed", self.overflowed),
            ("queued", self.queued),
            ("dropped at queue", self.queue_dropped),
            ("no flow", self.no_flow),
            ("too large", self.too_large),
            ("send failed", self.send_failed),
        ] {
            if n > 0 {
                write!(f, ", {name} {n}")?;
            }
        }
        Ok(())
    }
}

/// What the proxy did while it ran.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client to target.
    pub to_target: DirectionStats,
    /// Target back to client.
    pub to_client: DirectionStats,
    /// Client flows opened (each one upstream socket).
    pub flows_opened: u64,
    /// Client flows forgotten after the idle timeout.
    pub flows_expired: u64,
    /// Datagrams still held when the proxy stopped (delayed, or queued at the bottleneck), and
    /// so never sent.
    pub unsent_at_shutdown: u64,
}

impl ProxyStats {
    /// Logs what happened since `last` at info, if anything did.
    pub(crate) fn summarize_since(&self, last: &ProxyStats, open_flows: usize, held: usize) {
        if self == last {
            return;
        }
        let to_target = self.to_target.since(&last.to_target);
        let to_client = self.to_client.since(&last.to_client);
        tracing::info!(
            open_flows,
            held,
            opened = self.flows_opened - last.flows_opened,
            expired = self.flows_expired - last.flows_expired,
            "since the last summary: to target: {to_target}; to client: {to_client}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_out_quiet_counters() {
        let mut s = DirectionStats {
            received: 10,
            forwarded: 9,
            dropped: 1,
            ..DirectionStats::default()
        };
        assert_eq!(s.to_string(), "received 10, forwarded 9, dropped 1");
        s.duplicated = 2;
        s.no_flow = 3;
        assert_eq!(
            s.to_string(),
            "received 10, forwarded 9, dropped 1, duplicated 2, no flow 3"
        );
        s.queued = 4;
        s.queue_dropped = 5;
        assert_eq!(
            s.to_string(),
            "received 10, forwarded 9, dropped 1, duplicated 2, queued 4, dropped at queue 5, \
             no flow 3"
        );
    }

    #[test]
    fn since_subtracts_every_counter() {
        let later = DirectionStats {
            received: 5,
            forwarded: 4,
            dropped: 3,
            duplicated: 2,
            delayed: 1,
            reordered: 1,
            overflowed: 1,
            queued: 1,
            queue_dropped: 1,
            no_flow: 1,
            too_large: 1,
            send_failed: 1,
        };
        assert_eq!(later.since(&later), DirectionStats::default());
        assert_eq!(later.since(&DirectionStats::default()), later);
    }
}
