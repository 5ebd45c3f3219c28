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

use super::flight::{AckOutcome, Flight, OutMessage, SentPacket};
use super::gate::LossOutcome;
use super::packet::Writer;
use super::{Channel, ChannelMap, Config, MessageId, MAX_FRAGMENT, MAX_MESSAGE, MAX_UNRELIABLE};
use crate::Error;

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
        // At most 64 KiB in fragments of MAX_FRAGMENT: 57 fit a u8 and the u64 bitmasks.
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
        let f = self.flight.as_deref_mut()?;
        let sent = f.fill(w, now, config, srtt);
        f.note_limit(now, config, srtt);
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
        // A datagram is at most MAX_DATAGRAM bytes.
        packet.size = u16::try_from(size).unwrap_or(u16::MAX);
        f.on_sent(packet.at, packet.size.into(), srtt);
        f.in_flight.insert(number, packet);
        f.bytes_in_flight
    }

    /// The congestion window and the bytes in flight; a quiet session would start a burst
    /// with the initial window.
    pub(crate) fn window(&self) -> (u32, u32) {
        self.flight
            .as_ref()
            .map_or((super::congestion::INITIAL_WINDOW, 0), |f| {
                (f.cc.window(), f.bytes_in_flight)
            })
    }

    /// A packet with only a ping still needs an ack, to measure and to keep alive.
    pub(crate) fn sent_ping(&mut self, number: u32, now: Instant) {
        let f = self.flight.get_or_insert_with(Box::default);
        f.in_flight.insert(number, SentPacket::empty(now));
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

    /// The retransmission timer fired: everything sent longer than `rto` ago is lost.
    /// `persistent` is the span of losses that is persistent congestion.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        rto: Duration,
        persistent: Option<Duration>,
    ) -> LossOutcome {
        let Some(f) = self.flight.as_deref_mut() else {
            return LossOutcome::default();
        };
        let out = f.on_timeout(now, rto, persistent);
        // A lost ping leaves nothing to resend.
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
mod tests {
    use super::*;
    use crate::MAX_DATAGRAM;

    /// Sends whatever is queued, a packet at a time; returns the packet numbers used.
    fn send_all(send: &mut SendState, now: Instant, config: &Config, pn: &mut u32) -> Vec<u32> {
        let mut numbers = Vec::new();
        loop {
            let mut buf = [0u8; MAX_DATAGRAM];
            let mut w = Writer::new(&mut buf);
            let Some(sent) = send.fill(&mut w, now, config, None) else {
                return numbers;
            };
            send.sent(*pn, sent, w.len(), None);
            numbers.push(*pn);
            *pn += 1;
        }
    }

    /// An ack for every packet in `numbers` (consecutive, at most 33).
    fn ack_all(send: &mut SendState, now: Instant, config: &Config, numbers: &[u32]) -> AckOutcome {
        let largest = *numbers.last().expect("something was sent");
        let bits = (1u64 << (numbers.len() - 1)) as u32 - 1;
        let loss_delay = Duration::from_millis(100);
        send.on_ack(
            now,
            largest,
            bits,
            Duration::ZERO,
            config.max_ack_delay,
            (loss_delay, None),
        )
    }

    #[test]
    fn an_acknowledged_burst_leaves_no_send_buffers_behind() {
        let config = Config::default();
        let now = Instant::now();
        let mut send = SendState::default();
        let mut pn = 1;
        // A long welcome: several fragments, several packets.
        let id = send
            .push(now, &config, 3, vec![7; 5 * MAX_FRAGMENT])
            .expect("fits");
        let numbers = send_all(&mut send, now, &config, &mut pn);
        assert_eq!(numbers.len(), 5);
        assert!(send.flight.is_some());

        let out = ack_all(&mut send, now, &config, &numbers);
        assert_eq!(out.delivered, vec![id]);
        assert!(
            send.flight.is_none(),
            "nothing unacknowledged, nothing held"
        );
        assert!(!send.has_pending());
        assert_eq!(send.rto_deadline(Duration::from_secs(1)), None);
        assert_eq!(send.next_deadline(), None);

        // What outlives the burst: message ids and the channel's sequence.
        assert!(
            send.next_seq.is_inline(),
            "one channel's sequence is kept inline"
        );
        let next = send.push(now, &config, 3, b"next".to_vec()).expect("fits");
        assert_eq!(next, id + 1);
        let flight = send.flight.as_ref().expect("busy again");
        assert_eq!(flight.messages.get(&next).map(|m| m.seq), Some(1));
    }

    #[test]
    fn unreliable_messages_and_expired_ones_are_let_go_too() {
        let config = Config::default();
        let now = Instant::now();
        let mut send = SendState::default();
        let mut pn = 1;
        send.push_unreliable(&config, 0, b"typing".to_vec())
            .expect("fits");
        assert!(send.flight.is_some());
        assert!(send_all(&mut send, now, &config, &mut pn).is_empty());
        assert!(
            send.flight.is_none(),
            "unreliable messages are not waited for"
        );

        // A message that times out leaves a skip to deliver; once that is acknowledged the
        // send half is quiet again.
        let id = send.push(now, &config, 0, b"lost".to_vec()).expect("fits");
        let first = send_all(&mut send, now, &config, &mut pn);
        let later = now + config.message_timeout;
        assert_eq!(send.expire(later), vec![id]);
        send.on_timeout(later, Duration::ZERO, None);
        let skip = send_all(&mut send, later, &config, &mut pn);
        assert_eq!(first.len() + skip.len(), 2);
        assert!(send.flight.is_some(), "the skip is not yet acknowledged");
        let out = ack_all(&mut send, later, &config, &skip);
        assert!(out.delivered.is_empty());
        assert!(send.flight.is_none());
    }
}
