//! What lets a busy session's reliable data leave (the bound on packets in flight, the
//! congestion window, the pacer), and what acknowledgements and losses tell the window: the
//! part of `flight` that RFC 9002's congestion control adds.

use std::time::{Duration, Instant};

use super::congestion::{NewReno, DATAGRAM, MINIMUM_WINDOW};
use super::flight::{Flight, SentPacket};
use super::pacing::Pacer;
use super::Config;

/// What declaring packets lost did to the window, for the session's counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LossOutcome {
    /// Packets with data declared lost.
    pub(crate) lost: u32,
    /// Whether that began a recovery period.
    pub(crate) congestion: bool,
    /// Whether it was persistent congestion.
    pub(crate) persistent: bool,
    /// Fragments and skips queued to be sent again.
    pub(crate) requeued: u32,
}

/// What holds reliable data back at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Open,
    /// The bound on packets in flight (flow control, not the path).
    Flow,
    /// The congestion window has no room for another datagram.
    Window,
    /// The pacer, until the time given.
    Pacer(Instant),
}

impl Flight {
    /// Whether reliable data (fragments or skips) waits to be sent.
    pub(super) fn reliable_pending(&self) -> bool {
        !self.queue.is_empty() || !self.skip_queue.is_empty()
    }

    /// What holds reliable data back now, if anything: the packets-in-flight bound, the
    /// congestion window (room for a full datagram), or the pacer.
    pub(super) fn gate(&self, now: Instant, config: &Config, srtt: Option<Duration>) -> Gate {
        if self.in_flight.len() >= config.max_in_flight {
            return Gate::Flow;
        }
        if self.probes > 0 {
            return Gate::Open;
        }
        let window = self.cc.window();
        if self.bytes_in_flight.saturating_add(DATAGRAM) > window {
            return Gate::Window;
        }
        match self.pacer.ready_at(window, srtt) {
            Some(at) if at > now => Gate::Pacer(at),
            _ => Gate::Open,
        }
    }

    /// When the pacer lets the next datagram go, if only the pacer holds it back: the gate
    /// as it will be once that time has come.
    pub(super) fn pacing_deadline(
        &self,
        config: &Config,
        srtt: Option<Duration>,
    ) -> Option<Instant> {
        let window = self.cc.window();
        let room = self.probes == 0
            && self.in_flight.len() < config.max_in_flight
            && self.bytes_in_flight.saturating_add(DATAGRAM) <= window;
        room.then(|| self.pacer.ready_at(window, srtt)).flatten()
    }

    /// Notes whether the sender is limited by the window (and the pacer it drives) or by what
    /// the application gave it: only the first may grow the window. `gate` is what held
    /// reliable data back when the packet was filled, `sending` the bytes of that packet.
    pub(super) fn note_limit(&mut self, gate: Gate, sending: u32) {
        if self.reliable_pending() {
            match gate {
                Gate::Window | Gate::Pacer(_) => self.app_limited = false,
                // Held by flow control, not by the path: the window is not what limits.
                Gate::Flow => self.app_limited = true,
                Gate::Open => {}
            }
        } else {
            let in_flight = self.bytes_in_flight.saturating_add(sending);
            self.app_limited = in_flight.saturating_add(DATAGRAM) <= self.cc.window();
        }
    }

    /// A packet with reliable data of `size` bytes left at `now`.
    pub(super) fn on_sent(&mut self, now: Instant, size: u32, srtt: Option<Duration>) {
        self.bytes_in_flight = self.bytes_in_flight.saturating_add(size);
        self.probes = self.probes.saturating_sub(1);
        self.pacer.on_sent(now, size, self.cc.window(), srtt);
    }

    /// Path MTU probe `number` of `size` bytes left: the window and the pacer count it as
    /// they count data.
    pub(super) fn on_mtu_probe_sent(
        &mut self,
        number: u32,
        now: Instant,
        size: u16,
        srtt: Option<Duration>,
    ) {
        self.bytes_in_flight = self.bytes_in_flight.saturating_add(size.into());
        self.pacer.on_sent(now, size.into(), self.cc.window(), srtt);
        self.in_flight
            .insert(number, SentPacket::mtu_probe(now, size));
    }

    /// The peer resumed the session: send everything in flight again, without blaming the
    /// path for it. From a new address it is a new path, with a fresh window (RFC 9000 section
    /// 9.4); from the same one the window stays as the silence left it.
    pub(super) fn resend_all(&mut self, new_path: bool) {
        let all: Vec<u32> = self.in_flight.keys().copied().collect();
        self.requeue(all);
        if new_path {
            self.cc = NewReno::default();
            self.pacer = Pacer::default();
        }
        self.loss_run_start = None;
    }

    /// Requeues what `lost` names and tells the window (RFC 9002 section 7.6 for persistent
    /// congestion: losses spanning `persistent` with no acknowledgement in between; the span
    /// reaches to `unanswered`, when a packet that late went unanswered too).
    pub(super) fn declare_lost(
        &mut self,
        now: Instant,
        lost: Vec<u32>,
        persistent: Option<Duration>,
        unanswered: Option<Instant>,
    ) -> LossOutcome {
        // Pings and path MTU probes say nothing about congestion when they are lost.
        let data = |pn: &u32| {
            let p = self.in_flight.get(pn)?;
            (p.size > 0 && !p.mtu_probe).then_some(p.at)
        };
        let sent: Vec<Instant> = lost.iter().filter_map(data).collect();
        let requeued = self.requeue(lost);
        let (Some(&oldest), Some(&newest)) = (sent.first(), sent.last()) else {
            return LossOutcome::default();
        };
        // A run of losses is broken by any acknowledgement of a packet sent after it began.
        let run_start = match self.loss_run_start {
            Some(start) if self.last_acked_sent.is_none_or(|acked| acked < start) => start,
            _ => oldest,
        };
        self.loss_run_start = Some(run_start);
        let last = unanswered.map_or(newest, |u| u.max(newest));
        let collapse =
            persistent.is_some_and(|span| last.saturating_duration_since(run_start) > span);
        // One silence is one collapse: a window already at its minimum is not collapsed again
        // by every probe the silence swallows.
        let shrinks = self.cc.window() > MINIMUM_WINDOW;
        let out = LossOutcome {
            lost: sent.len() as u32,
            congestion: self.cc.on_loss(now, newest),
            persistent: collapse && shrinks,
            requeued,
        };
        if collapse {
            self.cc.on_persistent_congestion();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::congestion::{Sending, INITIAL_WINDOW};
    use super::super::packet::Writer;
    use super::super::send::SendState;
    use super::super::MAX_FRAGMENT;
    use super::*;
    use crate::MAX_DATAGRAM;

    const RTT: Duration = Duration::from_millis(50);

    /// Sends what the window lets go at `now`; returns the packet numbers used.
    fn send(s: &mut SendState, now: Instant, config: &Config, pn: &mut u32) -> Vec<u32> {
        let mut numbers = Vec::new();
        loop {
            let mut buf = [0u8; MAX_DATAGRAM];
            let mut w = Writer::new(&mut buf);
            let Some(sent) = s.fill(&mut w, now, config, None) else {
                return numbers;
            };
            s.sent(*pn, sent, w.len(), None);
            numbers.push(*pn);
            *pn += 1;
        }
    }

    /// Acknowledges `numbers` (consecutive, at most 33) at `now`.
    fn ack(s: &mut SendState, now: Instant, config: &Config, numbers: &[u32]) {
        let largest = *numbers.last().expect("something was sent");
        let bits = (1u64 << (numbers.len() - 1)) as u32 - 1;
        s.on_ack(
            now,
            largest,
            bits,
            Duration::ZERO,
            config.max_ack_delay,
            (RTT, None),
        );
    }

    #[test]
    fn a_sender_with_less_to_send_than_its_window_does_not_grow_it() {
        let config = Config::default();
        let mut now = Instant::now();
        let (mut s, mut pn) = (SendState::default(), 1);
        // Three packets a round trip, the next three sent before the last are acknowledged
        // (so the busy part, and its window, live on): six in flight of the window's ten.
        s.push(now, &config, 0, vec![2; 3 * MAX_FRAGMENT])
            .expect("fits");
        let mut previous = send(&mut s, now, &config, &mut pn);
        for _ in 0..50 {
            s.push(now, &config, 0, vec![2; 3 * MAX_FRAGMENT])
                .expect("fits");
            let sent = send(&mut s, now, &config, &mut pn);
            assert_eq!(sent.len(), 3);
            now += RTT;
            ack(&mut s, now, &config, &previous);
            previous = sent;
        }
        assert_eq!(
            s.window().window,
            INITIAL_WINDOW,
            "six packets in flight need no more"
        );
    }

    #[test]
    fn a_sender_the_window_holds_back_grows_it() {
        let config = Config::default();
        let mut now = Instant::now();
        let (mut s, mut pn) = (SendState::default(), 1);
        for _ in 0..40 {
            s.push(now, &config, 0, vec![3; MAX_FRAGMENT])
                .expect("fits");
        }
        let first = send(&mut s, now, &config, &mut pn);
        // Ten datagrams of window; a packet is a little shorter than a datagram.
        assert_eq!(first.len(), (INITIAL_WINDOW / DATAGRAM) as usize);
        let Sending {
            window, in_flight, ..
        } = s.window();
        assert!(in_flight <= window && in_flight + DATAGRAM > window);
        now += RTT;
        ack(&mut s, now, &config, &first);
        assert_eq!(s.window().window, INITIAL_WINDOW + in_flight, "slow start");
        let second = send(&mut s, now, &config, &mut pn);
        assert!(second.len() >= 2 * first.len() - 1, "{}", second.len());
    }

    #[test]
    fn an_unanswered_tail_is_probed_with_backoff_until_the_retransmission_timer() {
        use super::super::congestion::Counters;
        use super::super::rtt::Rtt;
        use super::super::send::Fired;
        let config = Config::default();
        let start = Instant::now();
        let (mut s, mut pn) = (SendState::default(), 1);
        let mut rtt = Rtt::default();
        rtt.sample(Duration::from_millis(10));
        s.push(start, &config, 0, vec![4; 2 * MAX_FRAGMENT])
            .expect("fits");
        assert_eq!(send(&mut s, start, &config, &mut pn).len(), 2);
        // Nothing is answered: two RTTs after the newest packet, a probe; another after twice
        // that; the next would not come before the retransmission timer (80 ms: the 60 ms
        // floor and the peer's 20 ms ack delay), which takes over.
        let probe = start + Duration::from_millis(20);
        assert_eq!(s.timer(&rtt, &config), Some(probe));
        let mut counters = Counters::default();
        let early = s.on_timers(
            probe - Duration::from_millis(1),
            &rtt,
            &config,
            &mut counters,
        );
        assert_eq!(early, Fired::Nothing);
        assert_eq!(
            s.on_timers(probe, &rtt, &config, &mut counters),
            Fired::Probe
        );
        assert_eq!(
            s.on_timers(probe, &rtt, &config, &mut counters),
            Fired::Nothing
        );
        let second = start + Duration::from_millis(40);
        assert_eq!(s.timer(&rtt, &config), Some(second));
        assert_eq!(
            s.on_timers(second, &rtt, &config, &mut counters),
            Fired::Probe
        );
        let rto = start + rtt.timeout(&config);
        assert_eq!(s.timer(&rtt, &config), Some(rto));
        assert_eq!(
            s.on_timers(rto, &rtt, &config, &mut counters),
            Fired::Retransmit
        );
        assert_eq!(counters.lost, 2);
    }
}
