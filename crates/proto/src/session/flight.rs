//! The busy part of a connection's sending half: the messages not yet acknowledged, the queue of
//! fragments to send, the packets in flight, loss detection (fast retransmit and timeout),
//! giving up, and the congestion window and pacer those packets are sent under. It exists only
//! while something is unacknowledged; see `send`.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use super::congestion::NewReno;
use super::gate::{Gate, LossOutcome};
use super::in_flight::InFlight;
use super::pacing::Pacer;
use super::packet::{frame, FrameWriter, Writer};
use super::{Channel, Config, MessageId, MAX_FRAGMENT};

/// Packets acknowledged after a packet this many times over declare it lost.
const REORDER_THRESHOLD: u32 = 3;

#[derive(Debug)]
pub(super) struct OutMessage {
    pub(super) channel: Channel,
    pub(super) seq: u32,
    pub(super) data: Vec<u8>,
    pub(super) count: u8,
    pub(super) acked: u64,
    pub(super) queued: u64,
    pub(super) deadline: Instant,
}

impl OutMessage {
    fn fragment(&self, index: u8) -> &[u8] {
        let start = usize::from(index) * MAX_FRAGMENT;
        let end = (start + MAX_FRAGMENT).min(self.data.len());
        &self.data[start.min(end)..end]
    }

    fn complete(&self) -> bool {
        self.acked.count_ones() == u32::from(self.count)
    }
}

#[derive(Debug)]
pub(crate) struct SentPacket {
    pub(super) at: Instant,
    /// Bytes on the wire counted in flight: zero for a ping, which the window never holds.
    pub(super) size: u16,
    /// What it carried: nearly always a fragment or two, kept inline since every packet sent
    /// makes one of these.
    fragments: SmallVec<[(MessageId, u8); 2]>,
    skips: Vec<(Channel, u32)>,
    /// Whether it carried an ACK frame (see `Flight::ack_owed_from`).
    pub(crate) carried_ack: bool,
    /// Whether it was a path MTU probe, whose loss is no sign of congestion.
    pub(super) mtu_probe: bool,
}

impl SentPacket {
    /// A packet that needs an ack for itself only (a ping).
    pub(super) fn empty(at: Instant) -> Self {
        Self {
            at,
            size: 0,
            fragments: SmallVec::new(),
            skips: Vec::new(),
            carried_ack: false,
            mtu_probe: false,
        }
    }

    /// A path MTU probe of `size` bytes.
    pub(super) fn mtu_probe(at: Instant, size: u16) -> Self {
        Self {
            size,
            mtu_probe: true,
            ..Self::empty(at)
        }
    }
}

/// What an acknowledgement taught.
#[derive(Debug, Default)]
pub(crate) struct AckOutcome {
    pub(crate) rtt_sample: Option<Duration>,
    /// Inline: an ack completes a message or two, and every ack makes one of these.
    pub(crate) delivered: SmallVec<[MessageId; 4]>,
    pub(crate) progress: bool,
    pub(crate) loss: LossOutcome,
}

/// What a busy session holds and a quiet one does not.
#[derive(Debug, Default)]
pub(super) struct Flight {
    pub(super) messages: BTreeMap<MessageId, OutMessage>,
    pub(super) unacked_bytes: usize,
    pub(super) queue: VecDeque<(MessageId, u8)>,
    skips: HashSet<(Channel, u32)>,
    pub(super) skip_queue: VecDeque<(Channel, u32)>,
    pub(super) in_flight: InFlight,
    pub(super) unreliable: VecDeque<(Channel, Vec<u8>)>,
    /// The largest packet number ever acknowledged (while this busy period lasts).
    pub(super) largest_acked: u32,
    pub(super) cc: NewReno,
    pub(super) pacer: Pacer,
    /// The bytes of the packets in flight, pings not counted.
    pub(super) bytes_in_flight: u32,
    /// Whether the sender last ran out of data with room left in the window.
    pub(super) app_limited: bool,
    /// When the newest acknowledged packet was sent: losses of packets sent before it are not
    /// one unbroken run.
    pub(super) last_acked_sent: Option<Instant>,
    /// When the oldest packet of the current unbroken run of losses was sent.
    pub(super) loss_run_start: Option<Instant>,
    /// Packets the retransmission timer lets go whatever the window and the pacer say (RFC
    /// 9002's probes): a window full of packets lost in an outage must not keep the path from
    /// being tried again.
    pub(super) probes: u8,
    /// Tail probes sent since the peer last acknowledged anything; `NO_TAIL_PROBES` once
    /// the retransmission timer has fired, which then alone decides when to try again.
    pub(super) tail_probes: u8,
    /// Set while the peer may have missed the ack of an ack-eliciting packet of its: the first
    /// of this side's packet numbers that, acknowledged with an ACK frame in it, shows the peer
    /// has heard the ack.
    pub(super) ack_owed_from: Option<u32>,
}

/// What `tail_probes` holds once the retransmission timer has taken over.
pub(super) const NO_TAIL_PROBES: u8 = u8::MAX;

impl Flight {
    pub(super) fn is_drained(&self) -> bool {
        self.messages.is_empty()
            && self.in_flight.is_empty()
            && self.queue.is_empty()
            && self.skips.is_empty()
            && self.skip_queue.is_empty()
            && self.unreliable.is_empty()
    }

    /// Takes a new message, every fragment queued.
    pub(super) fn push(&mut self, id: MessageId, mut msg: OutMessage) {
        for index in 0..msg.count {
            self.queue.push_back((id, index));
            msg.queued |= 1 << index;
        }
        self.unacked_bytes += msg.data.len();
        self.messages.insert(id, msg);
    }

    pub(super) fn fill(
        &mut self,
        w: &mut Writer<'_>,
        now: Instant,
        config: &Config,
        srtt: Option<Duration>,
    ) -> Option<SentPacket> {
        let mut sent = SentPacket::empty(now);
        // The gate is only worth computing when reliable data waits.
        let pending = self.reliable_pending();
        let gate = if pending {
            self.gate(now, config, srtt)
        } else {
            Gate::Open
        };
        let room_for_reliable = pending && gate == Gate::Open;
        let mut frames = FrameWriter::default();
        // A skip leaves the queue only when it is written: dropping one would leave the
        // receiver waiting for the abandoned message forever.
        while room_for_reliable && w.remaining() >= frame::SKIP_LEN {
            let Some(skip) = self.skip_queue.pop_front() else {
                break;
            };
            if !self.skips.contains(&skip) {
                continue;
            }
            frames.skip(w, skip.0, skip.1);
            sent.skips.push(skip);
        }
        while let Some((channel, data)) = self.unreliable.front() {
            if !frames.unreliable(w, *channel, data) {
                break;
            }
            self.unreliable.pop_front();
        }
        while let Some(&(id, index)) = self.queue.front().filter(|_| room_for_reliable) {
            let Some(msg) = self.messages.get_mut(&id) else {
                self.queue.pop_front();
                continue;
            };
            if msg.acked & (1 << index) != 0 {
                msg.queued &= !(1 << index);
                self.queue.pop_front();
                continue;
            }
            let data = msg.fragment(index);
            if !frames.reliable(w, (msg.channel, msg.seq), (index, msg.count), data) {
                break;
            }
            msg.queued &= !(1 << index);
            self.queue.pop_front();
            sent.fragments.push((id, index));
        }
        let reliable = !sent.fragments.is_empty() || !sent.skips.is_empty();
        let sending = if reliable { w.len() as u32 } else { 0 };
        self.note_limit(gate, sending);
        reliable.then_some(sent)
    }

    /// `ack` is an ACK frame's largest acknowledged packet and its bitfield, `ack_delay` the
    /// peer's delay (capped); then the time after which a packet counts as lost, and the span
    /// of losses that is persistent congestion (`None` before an RTT sample).
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        (largest, bits): (u32, u32),
        ack_delay: Duration,
        (loss_delay, persistent): (Duration, Option<Duration>),
    ) -> AckOutcome {
        self.largest_acked = self.largest_acked.max(largest);
        let mut out = AckOutcome::default();
        let acked = |pn: u32| super::packet::acks(largest, bits, pn);
        let lowest = largest.saturating_sub(32);
        // At most 33 packet numbers; collected first because the loop removes from the map.
        let newly: SmallVec<[u32; 16]> = self
            .in_flight
            .range(lowest..=largest)
            .map(|(&pn, _)| pn)
            .filter(|&pn| acked(pn))
            .collect();
        for pn in newly {
            let Some(packet) = self.in_flight.remove(&pn) else {
                continue;
            };
            out.progress = true;
            self.tail_probes = 0;
            if packet.carried_ack && self.ack_owed_from.is_some_and(|from| pn >= from) {
                self.ack_owed_from = None;
            }
            if packet.size > 0 {
                self.bytes_in_flight = self.bytes_in_flight.saturating_sub(packet.size.into());
                self.cc
                    .on_ack(packet.at, packet.size.into(), self.app_limited);
                self.last_acked_sent = self.last_acked_sent.max(Some(packet.at));
            }
            if pn == largest {
                // Karn's rule holds by construction: every packet number is sent once.
                let elapsed = now.saturating_duration_since(packet.at);
                out.rtt_sample = Some(elapsed.saturating_sub(ack_delay));
            }
            for skip in packet.skips {
                self.skips.remove(&skip);
            }
            for (id, index) in packet.fragments {
                if let Some(msg) = self.messages.get_mut(&id) {
                    msg.acked |= 1 << index;
                    if msg.complete() {
                        self.unacked_bytes -= msg.data.len();
                        self.messages.remove(&id);
                        out.delivered.push(id);
                    }
                }
            }
        }
        if let Some(sample) = out.rtt_sample {
            self.cc.on_rtt(sample);
        }
        out.loss = self.detect_lost(now, loss_delay, persistent);
        out
    }

    /// Fast retransmit: three later packets acknowledged and this one not; or a later one
    /// acknowledged and this one older than a round trip and a bit (RFC 9002's time threshold),
    /// which catches the last packets of a burst without waiting for the timer. Run on every
    /// ack, and when `loss_deadline` comes.
    pub(super) fn detect_lost(
        &mut self,
        now: Instant,
        loss_delay: Duration,
        persistent: Option<Duration>,
    ) -> LossOutcome {
        let largest_acked = self.largest_acked;
        let threshold = largest_acked.saturating_sub(REORDER_THRESHOLD);
        let lost: Vec<u32> = self
            .in_flight
            .range(..largest_acked)
            .filter(|(&pn, p)| pn < threshold || p.at + loss_delay <= now)
            .map(|(&pn, _)| pn)
            .collect();
        self.declare_lost(now, lost, persistent, None)
    }

    /// When the next tail probe is due: `delay` after the newest packet in flight, doubled
    /// for every probe since the last acknowledgement (RFC 9002's backoff of its probe
    /// timeout), as long as that comes before `rto`. One unanswered probe used to leave the
    /// rest to the retransmission timer: at 10 % random loss a probe or its ack is lost one
    /// time in five, and a 1 ms probe followed by a 60 ms timer is most of the time lost.
    pub(super) fn tail_deadline(&self, delay: Duration, rto: Duration) -> Option<Instant> {
        if self.tail_probes == NO_TAIL_PROBES {
            return None;
        }
        let backed_off = delay.saturating_mul(1 << self.tail_probes.min(16));
        let newest = self
            .in_flight
            .values()
            .next_back()
            .filter(|_| backed_off < rto)?;
        Some(newest.at + backed_off)
    }

    /// When the time threshold will declare the oldest packet in flight lost, if a later one
    /// was acknowledged (RFC 9002's loss timer): without it, a packet lost with only one or two
    /// after it would wait for the retransmission timer, which a small window makes common.
    /// Packet numbers grow with time, so the first in flight is the oldest.
    pub(super) fn loss_deadline(&self, loss_delay: Duration) -> Option<Instant> {
        let (&pn, p) = self.in_flight.iter().next()?;
        (pn < self.largest_acked).then_some(p.at + loss_delay)
    }

    /// Everything sent longer than `rto` ago is lost.
    pub(super) fn on_timeout(
        &mut self,
        now: Instant,
        rto: Duration,
        persistent: Option<Duration>,
    ) -> LossOutcome {
        let lost: Vec<u32> = self
            .in_flight
            .iter()
            .take_while(|(_, p)| p.at + rto <= now)
            .map(|(&pn, _)| pn)
            .collect();
        // What has gone unanswered for a whole probe timeout counts toward persistent
        // congestion though the backed-off timer has not yet declared it lost: otherwise a
        // window sent just before an outage, declared lost a packet per timeout, would hide
        // that the probes sent since were lost too.
        let unanswered = persistent.and_then(|span| {
            let pto = span / 3;
            self.in_flight
                .values()
                .filter(|p| p.size > 0 && p.at + pto <= now)
                .map(|p| p.at)
                .max()
        });
        self.probes = 1;
        self.declare_lost(now, lost, persistent, unanswered)
    }

    /// Queues what the packets `lost` held to be sent again; returns how many fragments and
    /// skips that was (those acknowledged meanwhile are not).
    pub(super) fn requeue(&mut self, lost: Vec<u32>) -> u32 {
        let mut requeued = 0u32;
        for pn in lost.into_iter().rev() {
            let Some(packet) = self.in_flight.remove(&pn) else {
                continue;
            };
            self.bytes_in_flight = self.bytes_in_flight.saturating_sub(packet.size.into());
            for skip in packet.skips.into_iter().rev() {
                if self.skips.contains(&skip) {
                    self.skip_queue.push_front(skip);
                    requeued = requeued.saturating_add(1);
                }
            }
            for (id, index) in packet.fragments.into_iter().rev() {
                if let Some(msg) = self.messages.get_mut(&id) {
                    let bit = 1 << index;
                    if msg.acked & bit == 0 && msg.queued & bit == 0 {
                        msg.queued |= bit;
                        self.queue.push_front((id, index));
                        requeued = requeued.saturating_add(1);
                    }
                }
            }
        }
        requeued
    }

    /// Gives up on messages past their deadline; their skips are queued.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<MessageId> {
        let expired: Vec<MessageId> = self
            .messages
            .iter()
            .take_while(|(_, m)| m.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in &expired {
            if let Some(msg) = self.messages.remove(id) {
                self.unacked_bytes -= msg.data.len();
                let skip = (msg.channel, msg.seq);
                self.skips.insert(skip);
                self.skip_queue.push_back(skip);
            }
        }
        expired
    }
}
