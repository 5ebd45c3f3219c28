//! The sending half of a connection: messages taken in and numbered per channel, and what
//! happens to them (packets filled, acks, timeouts, expiry) handed to the unacknowledged part,
//! `flight`, which cuts them into fragments, keeps packets in flight, detects loss and gives up.
//!
//! Messages are resent, not packets: a lost packet's fragments go back on the queue and leave
//! under new packet numbers, so an ack always names exactly one transmission and RTT samples
//! stay honest.
//!
//! What exists only while something is unacknowledged (messages, queues, packets in flight)
//! lives in one box that is made on the first send and dropped once everything is
//! acknowledged: a server holds many quiet sessions, and each would otherwise keep the buffers
//! its largest burst grew.

use std::time::{Duration, Instant};

use super::congestion::{Counters, Sending};
use super::flight::{AckOutcome, Flight, OutMessage, SentPacket, NO_TAIL_PROBES};
use super::packet::Writer;
use super::rtt::Rtt;
use super::{Channel, ChannelMap, Config, MessageId, MAX_FRAGMENT, MAX_MESSAGE, MAX_UNRELIABLE};
use crate::Error;

/// What the send half's timers ask of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fired {
    Nothing,
    /// The tail of a flight went unanswered for two round trips: ask for an ack (RFC 8985's
    /// tail loss probe), so that a lost ack costs a probe and not a retransmission timeout.
    Probe,
    /// The retransmission timer fired: back off, and ask for an ack.
    Retransmit,
}

#[derive(Debug, Default)]
pub(crate) struct SendState {
    next_id: MessageId,
    next_seq: ChannelMap<u32>,
    /// `None` while nothing is queued, unacknowledged or in flight.
    flight: Option<Box<Flight>>,
}

impl SendState {
    /// Whether the send half holds no buffers (nothing unacknowledged).
    #[cfg(test)]
    pub(crate) fn is_quiet(&self) -> bool {
        self.flight.is_none()
    }

    #[cfg(test)]
    pub(crate) fn channels_inline(&self) -> bool {
        self.next_seq.is_inline()
    }

    /// Drops the busy part once nothing is left in it.
    fn release_if_drained(&mut self) {
        if self.flight.as_ref().is_some_and(|f| f.is_drained()) {
            self.flight = None;
        }
    }

    pub(crate) fn push(
        &mut self,
        now: Instant,
        config: &Config,
        channel: Channel,
        data: Vec<u8>,
    ) -> Result<MessageId, Error> {
        if data.len() > MAX_MESSAGE {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                limit: MAX_MESSAGE,
            });
        }
        let (messages, bytes) = self
            .flight
            .as_ref()
            .map_or((0, 0), |f| (f.messages.len(), f.unacked_bytes));
        if messages >= config.max_unacked_messages || bytes + data.len() > config.max_unacked_bytes
        {
            return Err(Error::SendBufferFull { messages, bytes });
        }
        if !self.next_seq.contains(channel) && self.next_seq.len() >= config.max_channels {
            return Err(Error::TooManyChannels {
                limit: config.max_channels,
            });
        }
        let seq = self.next_seq.get_or_insert_with(channel, || 0);
        let id = self.next_id;
        self.next_id += 1;
        // At most 64 KiB in fragments of MAX_FRAGMENT: 58 fit a u8 and the u64 bitmasks.
        let count = data.len().div_ceil(MAX_FRAGMENT).max(1) as u8;
        let msg = OutMessage {
            channel,
            seq: *seq,
            data,
            count,
            acked: 0,
            queued: 0,
            deadline: now + config.message_timeout,
        };
        *seq = seq.wrapping_add(1);
        self.flight.get_or_insert_with(Box::default).push(id, msg);
        Ok(id)
    }

    pub(crate) fn push_unreliable(
        &mut self,
        config: &Config,
        channel: Channel,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        if data.len() > MAX_UNRELIABLE {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                limit: MAX_UNRELIABLE,
            });
        }
        let queued = self.flight.as_ref().map_or(0, |f| f.unreliable.len());
        if queued >= config.max_queued_unreliable {
            return Err(Error::SendBufferFull {
                messages: queued,
                bytes: self
                    .flight
                    .as_ref()
                    .map_or(0, |f| f.unreliable.iter().map(|(_, d)| d.len()).sum()),
            });
        }
        let f = self.flight.get_or_insert_with(Box::default);
        f.unreliable.push_back((channel, data));
        Ok(())
    }

    /// Whether anything waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        self.flight.as_ref().is_some_and(|f| {
            !f.queue.is_empty() || !f.skip_queue.is_empty() || !f.unreliable.is_empty()
        })
    }

    /// Writes frames into `w`; returns the packet to remember if it needs an ack. Reliable
    /// data goes only as the congestion window and the pacer allow; unreliable messages are
    /// not held back (nothing waits for them, and they are few).
    pub(crate) fn fill(
        &mut self,
        w: &mut Writer<'_>,
        now: Instant,
        config: &Config,
        srtt: Option<Duration>,
    ) -> Option<SentPacket> {
        let sent = self.flight.as_deref_mut()?.fill(w, now, config, srtt);
        // Only unreliable messages may have left; they are not waited for.
        self.release_if_drained();
        sent
    }

    /// When the pacer lets the reliable data that waits leave, if the pacer is what holds it.
    pub(crate) fn pacing_deadline(
        &self,
        config: &Config,
        srtt: Option<Duration>,
    ) -> Option<Instant> {
        let f = self.flight.as_ref().filter(|f| f.reliable_pending())?;
        f.pacing_deadline(config, srtt)
    }

    /// Remembers a sent packet of `size` bytes with reliable data or skips; returns the bytes
    /// in flight now.
    pub(crate) fn sent(
        &mut self,
        number: u32,
        mut packet: SentPacket,
        size: usize,
        srtt: Option<Duration>,
    ) -> u32 {
        let f = self.flight.get_or_insert_with(Box::default);
        packet.size = u16::try_from(size).unwrap_or(u16::MAX);
        f.on_sent(packet.at, packet.size.into(), srtt);
        f.in_flight.insert(number, packet);
        f.bytes_in_flight
    }

    /// The congestion window and the bytes in flight; a quiet session would start a burst
    /// with the initial window.
    pub(crate) fn window(&self) -> Sending {
        let (window, in_flight) = self
            .flight
            .as_ref()
            .map_or((super::congestion::INITIAL_WINDOW, 0), |f| {
                (f.cc.window(), f.bytes_in_flight)
            });
        Sending { window, in_flight }
    }

    /// An ack-eliciting packet arrived while this side's next number is `next`: ACK frames ride
    /// on the data sent from now on until the peer acknowledges one of those packets, so a
    /// lost ack costs no retransmission while data goes the other way anyway.
    pub(crate) fn owe_ack(&mut self, next: u32) {
        if let Some(f) = self.flight.as_deref_mut() {
            f.ack_owed_from = Some(next);
        }
    }

    /// Whether ACK frames should ride on data though nothing new arrived (see `owe_ack`).
    pub(crate) fn ack_owed(&self) -> bool {
        self.flight
            .as_ref()
            .is_some_and(|f| f.ack_owed_from.is_some())
    }

    /// A packet with only a ping still needs an ack, to measure and to keep alive.
    pub(crate) fn sent_ping(&mut self, number: u32, now: Instant) {
        let f = self.flight.get_or_insert_with(Box::default);
        f.in_flight.insert(number, SentPacket::empty(now));
    }

    /// Remembers path MTU probe `number` of `size` bytes, in flight like data.
    pub(crate) fn sent_mtu_probe(
        &mut self,
        number: u32,
        size: u16,
        now: Instant,
        srtt: Option<Duration>,
    ) {
        let f = self.flight.get_or_insert_with(Box::default);
        f.on_mtu_probe_sent(number, now, size, srtt);
    }

    /// Takes in the peer's acknowledgement fields.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        largest: u32,
        bits: u32,
        ack_delay: Duration,
        max_ack_delay: Duration,
        loss: (Duration, Option<Duration>),
    ) -> AckOutcome {
        if largest == 0 {
            return AckOutcome::default();
        }
        // With nothing in flight there is nothing to acknowledge or declare lost.
        let Some(f) = self.flight.as_deref_mut() else {
            return AckOutcome::default();
        };
        let out = f.on_ack(now, (largest, bits), ack_delay.min(max_ack_delay), loss);
        self.release_if_drained();
        out
    }

    /// The peer resumed (from a new address if `new_path`): everything in flight is sent again.
    pub(crate) fn resend_all(&mut self, new_path: bool) {
        if let Some(f) = self.flight.as_deref_mut() {
            f.resend_all(new_path);
            self.release_if_drained();
        }
    }

    /// When the next of the loss timer (see `Flight::loss_deadline`) and the retransmission
    /// timer is due.
    pub(crate) fn timer(&self, rtt: &Rtt, config: &Config) -> Option<Instant> {
        let f = self.flight.as_ref()?;
        let rto = rtt.timeout(config);
        [
            self.rto_deadline(rto),
            f.loss_deadline(rtt.loss_delay(config)),
            rtt.tail_probe().and_then(|d| f.tail_deadline(d, rto)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the loss timer, the tail probe and the retransmission timer if they are due,
    /// counting what was lost; says what the connection must do.
    pub(crate) fn on_timers(
        &mut self,
        now: Instant,
        rtt: &Rtt,
        config: &Config,
        counters: &mut Counters,
    ) -> Fired {
        let Some(f) = self.flight.as_deref_mut() else {
            return Fired::Nothing;
        };
        let (loss_delay, persistent) = rtt.loss_params(config);
        if f.loss_deadline(loss_delay).is_some_and(|t| t <= now) {
            counters.add(f.detect_lost(now, loss_delay, persistent));
        }
        // The retransmission timer: everything sent longer than its timeout ago is lost.
        let rto = rtt.timeout(config);
        let fired = f
            .in_flight
            .values()
            .next()
            .is_some_and(|p| p.at + rto <= now);
        let probe = rtt
            .tail_probe()
            .and_then(|d| f.tail_deadline(d, rto))
            .is_some_and(|t| t <= now);
        if fired {
            // The retransmission timer took over: its backoff decides when to try again.
            f.tail_probes = NO_TAIL_PROBES;
        } else if probe {
            f.tail_probes = f.tail_probes.saturating_add(1).min(NO_TAIL_PROBES - 1);
        }
        if fired {
            counters.add(f.on_timeout(now, rto, persistent));
        }
        // A lost ping leaves nothing to resend.
        self.release_if_drained();
        match (fired, probe) {
            (true, _) => Fired::Retransmit,
            (false, true) => Fired::Probe,
            (false, false) => Fired::Nothing,
        }
    }

    /// When the oldest packet in flight times out.
    /// Packet numbers grow with time, so the first in flight is the oldest.
    pub(crate) fn rto_deadline(&self, rto: Duration) -> Option<Instant> {
        let f = self.flight.as_ref()?;
        f.in_flight.values().next().map(|p| p.at + rto)
    }

    /// The earliest message deadline; ids grow with time, so it is the first message's.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let f = self.flight.as_ref()?;
        f.messages.values().next().map(|m| m.deadline)
    }

    /// Gives up on messages past their deadline; tells the peer to stop waiting for them.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<MessageId> {
        // What expires leaves a skip to send, so the flight never drains here.
        self.flight
            .as_deref_mut()
            .map_or_else(Vec::new, |f| f.expire(now))
    }

    /// Drops everything unacknowledged (the session ended); returns what failed.
    pub(crate) fn abandon(&mut self) -> Vec<MessageId> {
        let ids = self
            .flight
            .take()
            .map_or_else(Vec::new, |f| f.messages.into_keys().collect());
        // Nothing is sent after this: the sequence numbers need no reset.
        ids
    }
}

#[cfg(test)]
mod tests;
