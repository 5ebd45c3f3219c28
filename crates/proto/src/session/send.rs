//! The sending half of a connection: reliable messages cut into fragments, packets in flight,
//! acknowledgements, loss detection (fast retransmit and timeout), and giving up.
//!
//! Messages are resent, not packets: a lost packet's fragments go back on the queue and leave
//! under new packet numbers, so an ack always names exactly one transmission and RTT samples
//! stay honest.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::packet::{frame, Writer};
use super::{Channel, Config, MessageId, MAX_FRAGMENT, MAX_MESSAGE, MAX_UNRELIABLE};
use crate::Error;

/// Packets acknowledged after a packet this many times over declare it lost.
const REORDER_THRESHOLD: u32 = 3;

#[derive(Debug)]
struct OutMessage {
    channel: Channel,
    seq: u32,
    data: Vec<u8>,
    count: u8,
    acked: u64,
    queued: u64,
    deadline: Instant,
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
    at: Instant,
    fragments: Vec<(MessageId, u8)>,
    skips: Vec<(Channel, u32)>,
}

/// What an acknowledgement taught.
#[derive(Debug, Default)]
pub(crate) struct AckOutcome {
    pub(crate) rtt_sample: Option<Duration>,
    pub(crate) delivered: Vec<MessageId>,
    pub(crate) progress: bool,
}

#[derive(Debug, Default)]
pub(crate) struct SendState {
    next_id: MessageId,
    next_seq: HashMap<Channel, u32>,
    messages: BTreeMap<MessageId, OutMessage>,
    unacked_bytes: usize,
    queue: VecDeque<(MessageId, u8)>,
    skips: HashSet<(Channel, u32)>,
    skip_queue: VecDeque<(Channel, u32)>,
    in_flight: BTreeMap<u32, SentPacket>,
    largest_acked: u32,
    unreliable: VecDeque<(Channel, Vec<u8>)>,
}

impl SendState {
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
        if self.messages.len() >= config.max_unacked_messages
            || self.unacked_bytes + data.len() > config.max_unacked_bytes
        {
            return Err(Error::SendBufferFull {
                messages: self.messages.len(),
                bytes: self.unacked_bytes,
            });
        }
        if !self.next_seq.contains_key(&channel) && self.next_seq.len() >= config.max_channels {
            return Err(Error::TooManyChannels {
                limit: config.max_channels,
            });
        }
        let seq = self.next_seq.entry(channel).or_insert(0);
        let id = self.next_id;
        self.next_id += 1;
        // At most 64 KiB in fragments of MAX_FRAGMENT: 57 fit a u8 and the u64 bitmasks.
        let count = data.len().div_ceil(MAX_FRAGMENT).max(1) as u8;
        let mut msg = OutMessage {
            channel,
            seq: *seq,
            data,
            count,
            acked: 0,
            queued: 0,
            deadline: now + config.message_timeout,
        };
        *seq = seq.wrapping_add(1);
        for index in 0..count {
            self.queue.push_back((id, index));
            msg.queued |= 1 << index;
        }
        self.unacked_bytes += msg.data.len();
        self.messages.insert(id, msg);
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
        if self.unreliable.len() >= config.max_queued_unreliable {
            return Err(Error::SendBufferFull {
                messages: self.unreliable.len(),
                bytes: self.unreliable.iter().map(|(_, d)| d.len()).sum(),
            });
        }
        self.unreliable.push_back((channel, data));
        Ok(())
    }

    /// Whether anything waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.queue.is_empty() || !self.skip_queue.is_empty() || !self.unreliable.is_empty()
    }

    /// Writes frames into `w`; returns the packet to remember if it needs an ack.
    pub(crate) fn fill(
        &mut self,
        w: &mut Writer<'_>,
        now: Instant,
        config: &Config,
    ) -> Option<SentPacket> {
        let mut sent = SentPacket {
            at: now,
            fragments: Vec::new(),
            skips: Vec::new(),
        };
        let room_for_reliable = self.in_flight.len() < config.max_in_flight;
        // A skip leaves the queue only when it is written: dropping one would leave the
        // receiver waiting for the abandoned message forever.
        while room_for_reliable && w.remaining() >= frame::SKIP_LEN {
            let Some(skip) = self.skip_queue.pop_front() else {
                break;
            };
            if !self.skips.contains(&skip) {
                continue;
            }
            let mut f = [0u8; frame::SKIP_LEN];
            f[0] = frame::SKIP;
            f[1..3].copy_from_slice(&skip.0.to_le_bytes());
            f[3..7].copy_from_slice(&skip.1.to_le_bytes());
            w.put(&f);
            sent.skips.push(skip);
        }
        while let Some((channel, data)) = self.unreliable.front() {
            if w.remaining() < frame::UNRELIABLE_HEADER + data.len() {
                break;
            }
            let mut h = [0u8; frame::UNRELIABLE_HEADER];
            h[0] = frame::UNRELIABLE;
            h[1..3].copy_from_slice(&channel.to_le_bytes());
            // MAX_UNRELIABLE keeps the length within u16.
            h[3..5].copy_from_slice(&(data.len() as u16).to_le_bytes());
            w.put(&h);
            w.put(data);
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
            if w.remaining() < frame::RELIABLE_HEADER + data.len() {
                break;
            }
            let mut h = [0u8; frame::RELIABLE_HEADER];
            h[0] = frame::RELIABLE;
            h[1..3].copy_from_slice(&msg.channel.to_le_bytes());
            h[3..7].copy_from_slice(&msg.seq.to_le_bytes());
            h[7] = index;
            h[8] = msg.count;
            h[9..11].copy_from_slice(&(data.len() as u16).to_le_bytes());
            w.put(&h);
            w.put(data);
            msg.queued &= !(1 << index);
            self.queue.pop_front();
            sent.fragments.push((id, index));
        }
        (!sent.fragments.is_empty() || !sent.skips.is_empty()).then_some(sent)
    }

    /// Remembers a sent packet that needs an ack (reliable data, skips or a ping).
    pub(crate) fn sent(&mut self, number: u32, packet: SentPacket) {
        self.in_flight.insert(number, packet);
    }

    /// A packet with only a ping still needs an ack, to measure and to keep alive.
    pub(crate) fn sent_ping(&mut self, number: u32, now: Instant) {
        self.sent(
            number,
            SentPacket {
                at: now,
                fragments: Vec::new(),
                skips: Vec::new(),
            },
        );
    }

    /// Takes in the peer's acknowledgement fields.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        largest: u32,
        bits: u32,
        ack_delay: Duration,
        max_ack_delay: Duration,
        loss_delay: Duration,
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        if largest == 0 {
            return out;
        }
        let acked = |pn: u32| {
            pn == largest
                || (pn < largest && largest - pn <= 32 && bits >> (largest - pn - 1) & 1 == 1)
        };
        let lowest = largest.saturating_sub(32);
        let newly: Vec<u32> = self
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
            if pn == largest {
                // Karn's rule holds by construction: every packet number is sent once.
                let elapsed = now.saturating_duration_since(packet.at);
                out.rtt_sample = Some(elapsed.saturating_sub(ack_delay.min(max_ack_delay)));
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
        self.largest_acked = self.largest_acked.max(largest);
        // Fast retransmit: three later packets acknowledged and this one not; or a later one
        // acknowledged and this one older than a round trip and a bit (RFC 9002's time
        // threshold), which catches the last packets of a burst without waiting for the timer.
        let threshold = self.largest_acked.saturating_sub(REORDER_THRESHOLD);
        let lost: Vec<u32> = self
            .in_flight
            .range(..self.largest_acked)
            .filter(|(&pn, p)| pn < threshold || p.at + loss_delay <= now)
            .map(|(&pn, _)| pn)
            .collect();
        self.requeue(lost);
        out
    }

    /// The retransmission timer fired: everything sent longer than `rto` ago is lost.
    pub(crate) fn on_timeout(&mut self, now: Instant, rto: Duration) {
        let lost: Vec<u32> = self
            .in_flight
            .iter()
            .take_while(|(_, p)| p.at + rto <= now)
            .map(|(&pn, _)| pn)
            .collect();
        self.requeue(lost);
    }

    fn requeue(&mut self, lost: Vec<u32>) {
        for pn in lost.into_iter().rev() {
            let Some(packet) = self.in_flight.remove(&pn) else {
                continue;
            };
            for skip in packet.skips.into_iter().rev() {
                if self.skips.contains(&skip) {
                    self.skip_queue.push_front(skip);
                }
            }
            for (id, index) in packet.fragments.into_iter().rev() {
                if let Some(msg) = self.messages.get_mut(&id) {
                    let bit = 1 << index;
                    if msg.acked & bit == 0 && msg.queued & bit == 0 {
                        msg.queued |= bit;
                        self.queue.push_front((id, index));
                    }
                }
            }
        }
    }

    /// When the oldest packet in flight times out.
    /// Packet numbers grow with time, so the first in flight is the oldest.
    pub(crate) fn rto_deadline(&self, rto: Duration) -> Option<Instant> {
        self.in_flight.values().next().map(|p| p.at + rto)
    }

    /// The earliest message deadline; ids grow with time, so it is the first message's.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.messages.values().next().map(|m| m.deadline)
    }

    /// Gives up on messages past their deadline; tells the peer to stop waiting for them.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<MessageId> {
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

    /// Drops everything unacknowledged (the session ended); returns what failed.
    pub(crate) fn abandon(&mut self) -> Vec<MessageId> {
        let ids = self.messages.keys().copied().collect();
        *self = SendState {
            next_id: self.next_id,
            ..SendState::default()
        };
        ids
    }
}
