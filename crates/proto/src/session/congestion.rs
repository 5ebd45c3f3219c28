//! Congestion control: NewReno as RFC 9002 (section 7 and appendix B) describes it for QUIC,
//! with the constants of CUBIC's Reno-friendly region (RFC 9438 section 4.3). A window in bytes
//! grows by what is acknowledged (slow start) until the first loss or the slow start threshold,
//! then by [`ALPHA_PERCENT`] of a datagram per window (congestion avoidance); a loss multiplies
//! it by [`BETA_TENTHS`]/10 once per recovery period, and persistent congestion (every packet
//! lost for several round trips) collapses it to two datagrams.
//!
//! Why not NewReno's own 1/2 and one datagram: through a queue of about one bandwidth-delay
//! product (bench/session's bottleneck row) halving left the window at the BDP, so the link
//! idled after each loss; 0.7 with 0.53 of a datagram per window is what CUBIC uses to take the
//! same share as a Reno flow beside it (3(1 - 0.7)/(1 + 0.7) = 0.53), so it is no less fair to
//! TCP, and it measured 0.99 of quinn's goodput there against 0.98, with fewer losses.
//!
//! The window only grows while the sender uses it: an acknowledgement of a packet sent while the
//! sender had nothing more to send (application-limited) teaches nothing about the path, and a
//! window grown that way would leave as a burst later.
//!
//! Slow start also ends when the RTT says that the bottleneck's queue is filling (`slow_start`,
//! HyStart's delay test), so that a burst does not overflow a small queue before the first loss.
//!
//! It lives with the packets in flight (`flight`), so a quiet session keeps none of it: the next
//! burst after everything was acknowledged starts again from the initial window, the restart
//! RFC 9002 section 7.8 allows after idleness. That keeps an idle session's state small.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Event, PathStats, SessionId};

mod slow_start;
use slow_start::SlowStart;

/// The datagram size the window is counted in (RFC 9002's `max_datagram_size`).
pub(crate) const DATAGRAM: u32 = crate::MAX_DATAGRAM as u32;

/// RFC 9002's initial window: ten datagrams (14,720 bytes is the cap; ten of ours are less).
pub(crate) const INITIAL_WINDOW: u32 = 10 * DATAGRAM;

/// A congestion event leaves this many tenths of the window (RFC 9438's beta, 0.7).
pub(crate) const BETA_TENTHS: u32 = 7;

/// Congestion avoidance adds this many hundredths of a datagram per window acknowledged
/// (RFC 9438's alpha for beta 0.7: 3(1 - beta)/(1 + beta) = 0.53).
pub(crate) const ALPHA_PERCENT: u32 = 53;

/// The window never shrinks below two datagrams.
pub(crate) const MINIMUM_WINDOW: u32 = 2 * DATAGRAM;

/// What a session counts for its summary; kept for its whole life, so kept small.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) lost: u32,
    /// Packets with reliable data (or skips) sent.
    pub(crate) sent: u32,
    /// Fragments and skips queued again after a loss.
    pub(crate) retransmitted: u32,
    pub(crate) max_in_flight: u32,
    pub(crate) congestion_events: u16,
    pub(crate) persistent: u16,
}

impl Counters {
    pub(crate) fn add(&mut self, loss: super::gate::LossOutcome) {
        self.lost = self.lost.saturating_add(loss.lost);
        self.retransmitted = self.retransmitted.saturating_add(loss.requeued);
        self.congestion_events = self
            .congestion_events
            .saturating_add(u16::from(loss.congestion));
        self.persistent = self.persistent.saturating_add(u16::from(loss.persistent));
    }

    /// A packet with reliable data left; `in_flight` bytes are in flight with it.
    pub(crate) fn on_sent(&mut self, in_flight: u32) {
        self.sent = self.sent.saturating_add(1);
        self.max_in_flight = self.max_in_flight.max(in_flight);
    }

    /// The counters with how the sender stands now, the smoothed RTT and the datagram size.
    pub(crate) fn stats(self, now: Sending, rtt: Option<Duration>, max_datagram: u16) -> PathStats {
        PathStats {
            window: now.window,
            bytes_in_flight: now.in_flight,
            sent_packets: self.sent,
            retransmitted: self.retransmitted,
            max_bytes_in_flight: self.max_in_flight,
            smoothed_rtt: rtt,
            lost_packets: self.lost,
            congestion_events: self.congestion_events,
            persistent_congestion: self.persistent,
            max_datagram,
        }
    }
}

/// How the sending half stands: its window and what is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sending {
    /// The congestion window, in bytes.
    pub(crate) window: u32,
    /// Bytes of reliable data in flight.
    pub(crate) in_flight: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct NewReno {
    window: u32,
    ssthresh: u32,
    /// Bytes acknowledged in congestion avoidance toward the next datagram of window.
    acked: u32,
    /// When the current recovery period began: packets sent before it neither grow the window
    /// when acknowledged nor start another period when lost.
    recovery_start: Option<Instant>,
    /// Whether the RTT says to leave slow start before a loss does.
    slow_start: SlowStart,
}

impl Default for NewReno {
    fn default() -> Self {
        Self {
            window: INITIAL_WINDOW,
            ssthresh: u32::MAX,
            acked: 0,
            recovery_start: None,
            slow_start: SlowStart::default(),
        }
    }
}

impl NewReno {
    /// The congestion window, in bytes.
    pub(crate) fn window(&self) -> u32 {
        self.window
    }

    fn in_recovery(&self, sent: Instant) -> bool {
        self.recovery_start.is_some_and(|start| sent <= start)
    }

    /// A packet of `bytes` sent at `sent` was acknowledged; `app_limited` says the sender did
    /// not fill the window when it sent.
    pub(crate) fn on_ack(&mut self, sent: Instant, bytes: u32, app_limited: bool) {
        if app_limited || self.in_recovery(sent) {
            return;
        }
        if self.window < self.ssthresh {
            // Slow start: every byte acknowledged adds a byte, doubling the window per RTT.
            self.window = self.window.saturating_add(bytes);
            return;
        }
        // Congestion avoidance: ALPHA of a datagram per window's worth acknowledged. The packet
        // that completes the window stands for the datagram size, which path MTU discovery
        // may have raised above the 1200 bytes the window started in.
        self.acked = self.acked.saturating_add(bytes);
        if self.acked >= self.window {
            self.acked -= self.window;
            let datagram = bytes.max(DATAGRAM);
            self.window = self.window.saturating_add(datagram * ALPHA_PERCENT / 100);
        }
    }

    /// An RTT sample: in slow start, it may say that the queue is filling.
    pub(crate) fn on_rtt(&mut self, sample: Duration) {
        if self.window < self.ssthresh && self.slow_start.on_rtt(sample) {
            self.ssthresh = self.window;
        }
    }

    /// Packets were declared lost, the newest of them sent at `largest_sent`. Returns whether
    /// that began a new recovery period (a congestion event).
    pub(crate) fn on_loss(&mut self, now: Instant, largest_sent: Instant) -> bool {
        if self.in_recovery(largest_sent) {
            return false;
        }
        self.recovery_start = Some(now);
        self.window = (self.window / 10 * BETA_TENTHS).max(MINIMUM_WINDOW);
        self.ssthresh = self.window;
        self.acked = 0;
        true
    }

    /// Every packet over a span of several round trips was lost: start over from the minimum
    /// (the slow start threshold stays where the loss before left it).
    pub(crate) fn on_persistent_congestion(&mut self) {
        self.window = MINIMUM_WINDOW;
        self.acked = 0;
    }
}

/// A server's record of how the paths of ended sessions stood when they ended, and where their
/// clients were: one per `Closed` event not yet handed out, in order, and the last one handed
/// out, so that whoever logs the end can still ask after the session is gone.
#[derive(Debug, Default)]
pub(crate) struct ClosedPaths {
    waiting: VecDeque<(PathStats, SocketAddr)>,
    last: Option<(SessionId, PathStats, SocketAddr)>,
}

impl ClosedPaths {
    /// A session reported `events`; `path` is how its path stands and where its peer is.
    pub(crate) fn collect(
        &mut self,
        events: &[Event],
        path: impl FnOnce() -> Option<(PathStats, SocketAddr)>,
    ) {
        if events.iter().any(|e| matches!(e, Event::Closed { .. })) {
            self.waiting.extend(path());
        }
    }

    /// `event` of `session` is being handed out.
    pub(crate) fn handed_out(&mut self, session: SessionId, event: &Event) {
        if let Event::Closed { .. } = event {
            self.last = self
                .waiting
                .pop_front()
                .map(|(path, peer)| (session, path, peer));
        }
    }

    /// How the path of the session whose end was handed out last stood, and where its client
    /// was, if that is `session`.
    pub(crate) fn last(&self, session: SessionId) -> Option<(PathStats, SocketAddr)> {
        self.last
            .filter(|(id, ..)| *id == session)
            .map(|(_, path, peer)| (path, peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(50);

    /// Sends a full window at `now`, acknowledges all of it one RTT later; returns that time.
    fn round_trip(cc: &mut NewReno, now: Instant) -> Instant {
        let packets = cc.window() / DATAGRAM;
        let acked_at = now + RTT;
        for _ in 0..packets {
            cc.on_ack(now, DATAGRAM, false);
        }
        acked_at
    }

    #[test]
    fn slow_start_doubles_the_window_every_round_trip() {
        let mut cc = NewReno::default();
        let mut now = Instant::now();
        assert_eq!(cc.window(), INITIAL_WINDOW);
        for round in 1..=4 {
            now = round_trip(&mut cc, now);
            assert_eq!(cc.window(), INITIAL_WINDOW << round, "after round {round}");
        }
    }

    #[test]
    fn a_loss_shrinks_the_window_once_per_recovery_period() {
        let mut cc = NewReno::default();
        let start = Instant::now();
        let now = round_trip(&mut cc, start);
        let before = cc.window();
        // Three packets of the same flight are lost: one congestion event.
        assert!(cc.on_loss(now, start));
        assert!(!cc.on_loss(now + RTT / 4, start));
        assert!(!cc.on_loss(now + RTT / 2, now));
        let once = before / 10 * BETA_TENTHS;
        assert_eq!(cc.window(), once);
        // Acks of packets sent before recovery began do not grow the window.
        cc.on_ack(now, DATAGRAM, false);
        assert_eq!(cc.window(), once);
        // A packet sent after recovery began ends it; its loss is a new event.
        let later = now + RTT;
        assert!(cc.on_loss(later + RTT, later));
        assert_eq!(cc.window(), once / 10 * BETA_TENTHS);
    }

    #[test]
    fn congestion_avoidance_adds_alpha_of_a_datagram_per_window() {
        let mut cc = NewReno::default();
        let t0 = Instant::now();
        assert!(cc.on_loss(t0, t0));
        let w = cc.window();
        let later = t0 + RTT;
        for _ in 0..w / DATAGRAM {
            cc.on_ack(later, DATAGRAM, false);
        }
        assert_eq!(cc.window(), w + DATAGRAM * ALPHA_PERCENT / 100);
    }

    #[test]
    fn persistent_congestion_collapses_the_window_and_slow_start_resumes() {
        let mut cc = NewReno::default();
        let mut now = Instant::now();
        for _ in 0..3 {
            now = round_trip(&mut cc, now);
        }
        assert!(cc.on_loss(now, now));
        let ssthresh = cc.window();
        cc.on_persistent_congestion();
        assert_eq!(cc.window(), MINIMUM_WINDOW);
        // Slow start again up to the threshold the loss left.
        now += RTT;
        while cc.window() < ssthresh {
            now = round_trip(&mut cc, now);
        }
        assert!(cc.window() < 2 * ssthresh);
        assert!(cc.window() >= ssthresh);
    }

    #[test]
    fn an_application_limited_sender_does_not_grow_the_window() {
        let mut cc = NewReno::default();
        let now = Instant::now();
        for _ in 0..100 {
            cc.on_ack(now, DATAGRAM, true);
        }
        assert_eq!(cc.window(), INITIAL_WINDOW);
        cc.on_ack(now, DATAGRAM, false);
        assert_eq!(cc.window(), INITIAL_WINDOW + DATAGRAM);
    }

    #[test]
    fn a_rising_rtt_ends_slow_start_where_the_window_stands() {
        let mut cc = NewReno::default();
        let mut now = Instant::now();
        now = round_trip(&mut cc, now);
        for ms in [50, 50, 50, 50] {
            cc.on_rtt(Duration::from_millis(ms));
        }
        now = round_trip(&mut cc, now);
        // The queue fills: once the latest four samples are all 6.25 ms up, growth slows.
        for ms in [57, 60, 65, 70] {
            cc.on_rtt(Duration::from_millis(ms));
        }
        let window = cc.window();
        assert_eq!(window, INITIAL_WINDOW * 4);
        round_trip(&mut cc, now);
        assert_eq!(
            cc.window(),
            window + DATAGRAM * ALPHA_PERCENT / 100,
            "congestion avoidance"
        );
    }

    #[test]
    fn the_window_never_goes_below_the_minimum() {
        let mut cc = NewReno::default();
        let mut now = Instant::now();
        for _ in 0..10 {
            now += RTT;
            cc.on_loss(now, now);
        }
        assert_eq!(cc.window(), MINIMUM_WINDOW);
    }
}
