//! The receiving half of a connection: which packet numbers were seen (the replay window and
//! the ack fields), and when the ack is due. What the packets carry goes to the channels
//! (`reassembly`), which put fragments back together and deliver in order.

use std::time::{Duration, Instant};

use super::time::Stamp;

use super::packet::{Frame, ACK_DELAY_UNIT_MICROS};
use super::reassembly::Channels;
use super::{Config, Event};

/// Ack-eliciting packets after which an ack goes out at once, mid-burst.
const ACK_EVERY: u32 = 8;

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
    unacked: u32,
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
        if ack_eliciting {
            self.ack_pending_since.get_or_insert(now);
            self.unacked += 1;
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

    /// The header's ack fields, and the ack is then no longer pending.
    pub(crate) fn take_ack(&mut self, now: Stamp) -> (u32, u32, u8) {
        self.ack_pending_since = None;
        self.unacked = 0;
        let delay = self
            .largest_at
            .map_or(Duration::ZERO, |t| now.since_stamp(t));
        let units = (delay.as_micros() / u128::from(ACK_DELAY_UNIT_MICROS)).min(255) as u8;
        (self.largest, (self.window >> 1) as u32, units)
    }

    /// Checks that every frame of a packet can be held, before any is applied.
    pub(crate) fn can_take(&self, frames: &[Frame<'_>], config: &Config) -> bool {
        self.channels.can_take(frames, config)
    }

    /// Applies a packet's frames; messages that complete their channel's prefix become events.
    pub(crate) fn take(&mut self, frames: Vec<Frame<'_>>, events: &mut Vec<Event>) {
        self.channels.take(frames, events);
    }
}
