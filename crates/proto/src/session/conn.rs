//! One established session, either side: it ties the sending and receiving halves to the
//! packet numbers (truncated in the header, rebuilt here) and the ACK frames; its timers
//! (retransmission, ack, keepalive, idle, message deadlines), goodbye and migration are in
//! `conn/timers.rs`.
//!
//! Events go straight into the endpoint's list (`out`) rather than a list of the session's
//! own, which would keep the room its busiest moment needed for as long as the session lives.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::congestion::Counters;
use super::mtu::{self, Mtu};
use super::packet::{self, frame, Ack, Frame, FrameWriter, Header, Writer, ACK_DELAY_UNIT_MICROS};
use super::recv::{RecvState, Seen};
use super::rtt::Rtt;
use super::send::SendState;
use super::time::Stamp;
use super::{
    Channel, CloseReason, Config, Delivery, Event, MessageId, PathStats, SessionId, TAG_LEN,
};
use crate::Error;

mod probe;
mod timers;

/// How many times a closing side sends its goodbye: it is not acknowledged, so it is repeated.
const CLOSE_REPEATS: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// A data packet written by [`Connection::poll_transmit`], to be sealed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    pub(crate) len: usize,
    /// Bytes of its header (the associated data).
    pub(crate) header_len: usize,
    /// Its full packet number (the nonce).
    pub(crate) number: u32,
}

#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: SessionId,
    pub(crate) peer: SocketAddr,
    role: Role,
    send: SendState,
    recv: RecvState,
    rtt: Rtt,
    /// What congestion control counted (the controller lives with the packets in flight).
    counters: Counters,
    /// How large a datagram the path carries (kept across bursts, unlike what is in flight).
    mtu: Mtu,
    next_pn: u32,
    /// What the times kept below count from (see `time`): a server keeps them for every
    /// session, and `Instant`s would take twice the room.
    epoch: Instant,
    last_recv: Stamp,
    last_send: Stamp,
    ping_pending: bool,
    /// Ack-only packets snapshotted mid-burst, sent before anything else; `None` between
    /// bursts (a pointer where an empty `VecDeque` takes 32 bytes).
    #[allow(
        clippy::box_collection,
        reason = "8 bytes in every session where the queue takes 32; one more allocation a burst"
    )]
    early_acks: Option<Box<VecDeque<Ack>>>,
    waiting_since: Option<Stamp>,
    closes_left: u8,
    closed: Option<CloseReason>,
}

impl Connection {
    pub(crate) fn new(id: SessionId, peer: SocketAddr, role: Role, now: Instant) -> Self {
        let start = Stamp::since(now, now);
        Self {
            id,
            peer,
            role,
            send: SendState::default(),
            recv: RecvState::new(),
            rtt: Rtt::default(),
            counters: Counters::default(),
            mtu: Mtu::new(peer),
            next_pn: 1,
            epoch: now,
            last_recv: start,
            last_send: start,
            ping_pending: false,
            early_acks: None,
            waiting_since: None,
            closes_left: 0,
            closed: None,
        }
    }

    /// Skips ahead to packet number `to`, so that a test can reach the end of the number space.
    #[cfg(test)]
    pub(crate) fn jump_packet_numbers(&mut self, to: u32) {
        self.next_pn = to;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_some() && self.closes_left == 0
    }

    pub(crate) fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    fn stamp(&self, at: Instant) -> Stamp {
        Stamp::since(self.epoch, at)
    }

    fn idle_deadline(&self, config: &Config) -> Instant {
        self.last_recv.at(self.epoch) + config.idle_timeout
    }

    fn heard(&mut self, now: Instant) {
        self.last_recv = self.stamp(now);
        self.waiting_since = None;
    }

    /// Whether the session holds no buffers beyond its fixed state.
    #[cfg(test)]
    pub(crate) fn is_quiet(&self) -> bool {
        self.send.is_quiet() && self.recv.is_quiet() && self.early_acks.is_none()
    }

    /// Whether its per-channel sequence numbers take no allocation (one channel each way).
    #[cfg(test)]
    pub(crate) fn channels_inline(&self) -> bool {
        self.send.channels_inline() && self.recv.channels_inline()
    }

    pub(crate) fn smoothed_rtt(&self) -> Option<Duration> {
        self.rtt.smoothed()
    }

    /// The congestion window, the RTT, the datagram size and what was counted.
    pub(crate) fn path_stats(&self) -> PathStats {
        self.counters
            .stats(self.send.window(), self.rtt.smoothed(), self.mtu.current())
    }

    /// Since when this side has been waiting for an answer that has not come: the first packet
    /// that asked for an ack since the peer was last heard from. Retransmissions do not move it.
    pub(crate) fn unanswered_since(&self) -> Option<Instant> {
        self.waiting_since.map(|t| t.at(self.epoch))
    }

    pub(crate) fn send(
        &mut self,
        now: Instant,
        config: &Config,
        channel: Channel,
        data: Vec<u8>,
        delivery: Delivery,
    ) -> Result<Option<MessageId>, Error> {
        if !self.is_open() {
            return Err(Error::NotConnected);
        }
        match delivery {
            Delivery::Reliable => self.send.push(now, config, channel, data).map(Some),
            Delivery::Unreliable => self
                .send
                .push_unreliable(config, channel, data)
                .map(|()| None),
        }
    }

    /// The full packet number of a header that matched this session (RFC 9000 A.3).
    pub(crate) fn packet_number(&self, header: &Header) -> Option<u32> {
        packet::decode_number(self.recv.largest(), header)
    }

    /// Takes data packet `number` that the endpoint matched and opened; whether its number
    /// was new.
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        config: &Config,
        number: u32,
        frames: &[u8],
        out: &mut Vec<Event>,
    ) -> Seen {
        let seen = self.recv.seen(number);
        let Some(frames) = (self.closed.is_none().then(|| packet::parse_frames(frames))).flatten()
        else {
            return seen;
        };
        match seen {
            Seen::TooOld => return seen,
            Seen::Duplicate => {
                self.recv.request_ack(self.stamp(now));
                self.heard(now);
                return seen;
            }
            Seen::New => {}
        }
        if !self.recv.can_take(&frames, config) {
            return seen;
        }
        self.heard(now);
        let ack_eliciting = frames.iter().any(|f| {
            !matches!(
                f,
                Frame::Unreliable { .. } | Frame::Close { .. } | Frame::Ack(_)
            )
        });
        let peer_closed = frames.iter().any(|f| matches!(f, Frame::Close { .. }));
        self.recv.record(number, self.stamp(now), ack_eliciting);
        if ack_eliciting {
            self.send.owe_ack(self.next_pn);
        }
        let ack = frames.iter().find_map(|f| match f {
            Frame::Ack(ack) => Some(*ack),
            _ => None,
        });
        // An ack for a packet never sent is a broken or hostile peer: ignore it rather than
        // declare everything in flight lost.
        if let Some(ack) = ack.filter(|a| a.largest < self.next_pn) {
            self.on_ack(now, config, &ack, out);
        }
        self.recv.take(&frames, out);
        if self.recv.ack_overdue() {
            if let Some(ack) = self.recv.ack(self.stamp(now), false) {
                self.recv.ack_sent();
                self.early_acks
                    .get_or_insert_with(Box::default)
                    .push_back(ack);
            }
        }
        if peer_closed {
            self.finish(CloseReason::Peer, 0, out);
        }
        seen
    }

    fn on_ack(&mut self, now: Instant, config: &Config, ack: &Ack, out: &mut Vec<Event>) {
        self.recv.peer_acked(self.next_pn, ack.largest);
        let ack_delay = Duration::from_micros(u64::from(ack.delay) * ACK_DELAY_UNIT_MICROS);
        let outcome = self.send.on_ack(
            now,
            ack.largest,
            ack.bits,
            ack_delay,
            config.max_ack_delay,
            self.rtt.loss_params(config),
        );
        if outcome.loss.persistent {
            self.mtu.reset(self.peer);
        }
        self.counters.add(outcome.loss);
        self.mtu.on_ack(ack.largest, ack.bits, self.stamp(now));
        if let Some(sample) = outcome.rtt_sample {
            self.rtt.sample(sample);
        }
        if outcome.progress {
            // The path works again, sample or not: stop backing off.
            self.rtt.reset_backoff();
        }
        out.extend(
            outcome
                .delivered
                .into_iter()
                .map(|id| Event::Delivered { id }),
        );
    }

    fn next_number(&mut self) {
        self.next_pn = self.next_pn.saturating_add(1);
        self.recv.sent_one();
    }

    /// Starts the next packet in `w`: its header, truncated as the peer's acks allow.
    fn start_packet(&mut self, w: &mut Writer<'_>) -> (u32, usize) {
        let number = self.next_pn;
        let number_len = self.recv.number_len(number);
        packet::write_header(w, self.id, number, number_len);
        (number, w.len())
    }

    /// Writes the next packet to send into `buf`, if there is one.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        config: &Config,
        buf: &mut [u8],
        out: &mut Vec<Event>,
    ) -> Option<Written> {
        if self.closed.is_none() && self.next_pn > u32::MAX - 16 {
            // Packet numbers are about to run out (after four billion packets): end the
            // session cleanly; the client joins again with a new one.
            self.finish(CloseReason::Local, CLOSE_REPEATS, out);
        }
        let closing = self.closes_left > 0;
        if self.closed.is_some() && !closing {
            return None;
        }
        let limit = buf.len().min(usize::from(self.mtu.current()) - TAG_LEN);
        if let Some(probe) = self.poll_probe(now, config, buf) {
            return Some(probe);
        }
        let buf = &mut buf[..limit];
        if let Some(ack) = self.early_acks.as_mut().and_then(|q| q.pop_front()) {
            if self.early_acks.as_ref().is_some_and(|q| q.is_empty()) {
                // A burst's worth of room is not kept for the next burst.
                self.early_acks = None;
            }
            let mut w = Writer::new(buf);
            let (number, header_len) = self.start_packet(&mut w);
            FrameWriter::default().ack(&mut w, &ack);
            self.next_number();
            return Some(Written {
                len: w.len(),
                header_len,
                number,
            });
        }
        let wants_ack = self.recv.ack_pending();
        if !closing && !wants_ack && !self.ping_pending && !self.send.has_pending() {
            return None;
        }
        let mut w = Writer::new(buf);
        let now_stamp = self.stamp(now);
        let (number, header_len) = self.start_packet(&mut w);
        // Acks ride on whatever goes anyway; the ACK frame is only written here, and counts as
        // sent only if the packet leaves.
        let ack = self.recv.ack(now_stamp, self.send.ack_owed());
        if let Some(ack) = &ack {
            FrameWriter::default().ack(&mut w, ack);
        }
        let body = w.len();
        if closing {
            w.put(&[frame::CLOSE, 0]);
            self.closes_left -= 1;
        } else {
            let srtt = self.rtt.pacing();
            let sent = self.send.fill(&mut w, now, config, srtt);
            if let Some(mut sent) = sent {
                if w.remaining() < mtu::CUT_SHORT {
                    self.mtu.cut_short();
                }
                sent.carried_ack = ack.is_some();
                let in_flight = self.send.sent(number, sent, w.len(), srtt);
                self.counters.on_sent(in_flight);
                self.ping_pending = false;
                self.waiting_since.get_or_insert(now_stamp);
            } else if self.ping_pending {
                w.put(&[frame::PING]);
                self.send.sent_ping(number, now);
                self.ping_pending = false;
                self.waiting_since.get_or_insert(now_stamp);
            }
        }
        if w.len() == body && !wants_ack {
            // Nothing fitted or the window, pacer or in-flight bound held it; no ack is owed.
            return None;
        }
        if ack.is_some() {
            self.recv.ack_sent();
        }
        self.next_number();
        self.last_send = now_stamp;
        Some(Written {
            len: w.len(),
            header_len,
            number,
        })
    }
}
