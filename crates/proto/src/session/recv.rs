//! The receiving half of a connection: which packet numbers were seen (the replay window and
//! the ack fields), and when the ack is due. What the packets carry goes to the channels
//! (`reassembly`), which put fragments back together and deliver in order.

use std::time::{Duration, Instant};

use super::time::Stamp;

use super::packet::{self, Ack, Frame, ACK_DELAY_UNIT_MICROS};
use super::reassembly::Channels;
use super::{Config, Event};

/// Ack-eliciting packets after which an ack goes out at once, mid-burst.
const ACK_EVERY: u8 = 8;

/// What the replay window says about a packet number.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    New,
    Duplicate,
    TooOld,
}

#[derive(Debug)]
pub(crate) struct RecvState {
    largest: u32,
    /// Bit `i`: packet `largest - i` was received.
    window: u64,
    /// Times are stamps from the connection's epoch: every session keeps these.
    largest_at: Option<Stamp>,
    ack_pending_since: Option<Stamp>,
    /// Ack-eliciting packets taken since the last ack went out.
    unacked: u8,
    /// Whether any packet was taken since the last ack went out: an ACK frame then rides on
    /// whatever this side sends anyway, even if nothing asked for one.
    fresh: bool,
    /// How far this side's next packet number is ahead of the newest the peer's ACK frames
    /// acknowledged (saturating): how many bytes of packet number the peer needs to rebuild
    /// ours. Kept here, in the room beside the counters above, because the number itself would
    /// add 8 bytes to every session entry; past `u16::MAX` the whole number is sent.
    peer_lag: u16,
    channels: Channels,
}

impl RecvState {
    pub(crate) fn new() -> Self {
        Self {
            largest: 0,
            window: 0,
            largest_at: None,
            ack_pending_since: None,
            unacked: 0,
            fresh: false,
            peer_lag: 1,
            channels: Channels::default(),
        }
    }

    /// Whether no channel holds a message back (so none keeps a reassembly map).
    #[cfg(test)]
    pub(crate) fn is_quiet(&self) -> bool {
        self.channels.is_quiet()
    }

    #[cfg(test)]
    pub(crate) fn channels_inline(&self) -> bool {
        self.channels.is_inline()
    }

    /// The newest packet number taken (0: none), from which truncated numbers are rebuilt.
    pub(crate) fn largest(&self) -> u32 {
        self.largest
    }

    /// The peer acknowledged packets up to `largest` of ours; `next` is our next number.
    pub(crate) fn peer_acked(&mut self, next: u32, largest: u32) {
        let lag = u16::try_from(next.saturating_sub(largest)).unwrap_or(u16::MAX);
        self.peer_lag = self.peer_lag.min(lag);
    }

    /// This side sent a data packet.
    pub(crate) fn sent_one(&mut self) {
        self.peer_lag = self.peer_lag.saturating_add(1);
    }

    /// How many bytes of packet number `number` the peer needs.
    pub(crate) fn number_len(&self, number: u32) -> u8 {
        match self.peer_lag {
            u16::MAX => 4,
            lag => packet::number_len(number, number.saturating_sub(lag.into())),
        }
    }

    pub(crate) fn seen(&self, pn: u32) -> Seen {
        if pn == 0 || (pn <= self.largest && self.largest - pn >= 64) {
            Seen::TooOld
        } else if pn <= self.largest && self.window >> (self.largest - pn) & 1 == 1 {
            Seen::Duplicate
        } else {
            Seen::New
        }
    }

    /// Records a packet that was taken, and whether it asks for an ack.
    pub(crate) fn record(&mut self, pn: u32, now: Stamp, ack_eliciting: bool) {
        if pn > self.largest {
            let shift = pn - self.largest;
            self.window = if shift >= 64 { 0 } else { self.window << shift };
            self.window |= 1;
            self.largest = pn;
            self.largest_at = Some(now);
        } else {
            self.window |= 1 << (self.largest - pn);
        }
        self.fresh = true;
        if ack_eliciting {
            self.ack_pending_since.get_or_insert(now);
            self.unacked = self.unacked.saturating_add(1);
        }
    }

    /// A duplicate still deserves an ack: the sender may have missed the first one.
    pub(crate) fn request_ack(&mut self, now: Stamp) {
        self.ack_pending_since.get_or_insert(now);
    }

    pub(crate) fn ack_due(&self, config: &Config, epoch: Instant) -> Option<Instant> {
        self.ack_pending_since
            .map(|t| t.at(epoch) + config.max_ack_delay)
    }

    pub(crate) fn ack_pending(&self) -> bool {
        self.ack_pending_since.is_some()
    }

    /// Whether so many packets await their ack that one should go out before the rest of a
    /// burst is read: one ack per burst would leave packets outside its 32-bit window, and
    /// losing that one ack would stall the sender until its timer fires.
    pub(crate) fn ack_overdue(&self) -> bool {
        self.unacked >= ACK_EVERY
    }

    /// The ACK frame to send with the next packet, if there is anything new to acknowledge, an
    /// ack is owed, or the caller wants the last one `repeat`ed; nothing changes until
    /// [`RecvState::ack_sent`].
    pub(crate) fn ack(&self, now: Stamp, repeat: bool) -> Option<Ack> {
        if self.largest == 0 || !(repeat || self.fresh || self.ack_pending()) {
            return None;
        }
        let delay = self
            .largest_at
            .map_or(Duration::ZERO, |t| now.since_stamp(t));
        let units = (delay.as_micros() / u128::from(ACK_DELAY_UNIT_MICROS)).min(u32::MAX.into());
        Some(Ack {
            largest: self.largest,
            bits: (self.window >> 1) as u32,
            delay: units as u32,
        })
    }

    /// The ack from [`RecvState::ack`] went out: nothing is pending until the next packet.
    pub(crate) fn ack_sent(&mut self) {
        self.ack_pending_since = None;
        self.unacked = 0;
        self.fresh = false;
    }

    /// Checks that every frame of a packet can be held, before any is applied.
    pub(crate) fn can_take(&self, frames: &[Frame<'_>], config: &Config) -> bool {
        self.channels.can_take(frames, config)
    }

    /// Applies a packet's frames (its ACK frame went to the sending half); messages that
    /// complete their channel's prefix become events.
    pub(crate) fn take(&mut self, frames: &[Frame<'_>], events: &mut Vec<Event>) {
        self.channels.take(frames, events);
    }
}
