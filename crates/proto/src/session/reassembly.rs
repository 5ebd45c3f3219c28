//! The receiving half's channels: per channel, the reassembly of fragments and in-order
//! delivery, within a byte budget.
//!
//! A packet is taken whole or not at all: if any of its frames cannot be held (past a channel's
//! window, over the byte budget, one channel too many), the packet is neither processed nor
//! acknowledged, so the sender resends it and nothing acknowledged is ever dropped.
//!
//! A quiet channel holds only its next sequence number: a message that arrives whole and in
//! order is handed over without being buffered, and what is held back (for every channel, in
//! one map) is let go once it empties, so a burst of fragments (a long welcome) leaves nothing
//! behind, and a session that receives on one channel keeps that number inline.

use std::collections::btree_map::{BTreeMap, Entry};

use super::packet::Frame;
use super::{Channel, ChannelMap, Config, Delivery, Event, MAX_FRAGMENT, MAX_MESSAGE};

/// How far ahead of the next expected message a channel buffers.
const CHANNEL_WINDOW: u32 = 4096;

#[derive(Debug)]
enum Slot {
    Partial {
        count: u8,
        got: u64,
        parts: Vec<Vec<u8>>,
    },
    Done(Vec<u8>),
    Skipped,
}

impl Slot {
    /// What the slot costs against the receive budget: its bytes and its own bookkeeping, so
    /// that empty fragments and skips cannot fill memory for free.
    fn cost(&self) -> usize {
        match self {
            Slot::Partial { parts, .. } => {
                parts.iter().map(Vec::len).sum::<usize>() + slot_overhead(parts.len())
            }
            Slot::Done(d) => d.len() + slot_overhead(0),
            Slot::Skipped => slot_overhead(0),
        }
    }
}

/// The bookkeeping of a slot for a message of `fragments` fragments.
fn slot_overhead(fragments: usize) -> usize {
    64 + 24 * fragments
}

/// Messages ahead of their channel's next, or in pieces.
#[derive(Debug, Default)]
struct Held {
    slots: BTreeMap<(Channel, u32), Slot>,
    /// What the slots cost against the receive budget ([`Slot::cost`]).
    bytes: usize,
}

/// Every channel a session has received on, and what they hold back.
#[derive(Debug, Default)]
pub(crate) struct Channels {
    /// The next sequence number to deliver, per channel.
    next: ChannelMap<u32>,
    /// `None` while no channel holds anything back.
    held: Option<Box<Held>>,
}

impl Channels {
    /// Whether no channel holds a message back (so there is no reassembly map).
    #[cfg(test)]
    pub(crate) fn is_quiet(&self) -> bool {
        self.held.is_none()
    }

    /// Whether the channels' sequence numbers are held without an allocation of their own.
    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        self.next.is_inline()
    }

    fn buffered(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.bytes)
    }

    /// Checks that every frame of a packet can be held, before any is applied.
    pub(crate) fn can_take(&self, frames: &[Frame<'_>], config: &Config) -> bool {
        let mut new_channels = 0;
        let mut bytes = 0;
        for f in frames {
            let (channel, seq, len) = match f {
                Frame::Reliable {
                    channel,
                    seq,
                    count,
                    data,
                    ..
                } => {
                    if usize::from(*count) * MAX_FRAGMENT < data.len()
                        || data.len() > MAX_FRAGMENT
                        || usize::from(*count) > MAX_MESSAGE.div_ceil(MAX_FRAGMENT)
                    {
                        return false;
                    }
                    (
                        *channel,
                        *seq,
                        data.len() + slot_overhead(usize::from(*count)),
                    )
                }
                Frame::Skip { channel, seq } => (*channel, *seq, slot_overhead(0)),
                _ => continue,
            };
            let next = match self.next.get(channel) {
                Some(&next) => {
                    if seq.wrapping_sub(next) >= CHANNEL_WINDOW
                        && seq.wrapping_sub(next) < u32::MAX / 2
                    {
                        return false;
                    }
                    next
                }
                None => {
                    new_channels += 1;
                    if seq >= CHANNEL_WINDOW {
                        return false;
                    }
                    0
                }
            };
            // Only what will be held counts. A duplicate is dropped, and a whole message or a
            // skip that is next in line passes straight through; charging those would refuse,
            // at a full budget, the very packet that fills the gap and empties it.
            let passes = match f {
                Frame::Skip { .. } => true,
                Frame::Reliable { count, .. } => *count == 1,
                _ => false,
            };
            if !is_ahead(seq, next) || (seq == next && passes) {
                continue;
            }
            bytes += len;
        }
        self.next.len() + new_channels <= config.max_channels
            && self.buffered() + bytes <= 2 * config.max_unacked_bytes
    }

    /// Applies a packet's frames; messages that complete their channel's prefix become events.
    pub(crate) fn take(&mut self, frames: &[Frame<'_>], events: &mut Vec<Event>) {
        for &f in frames {
            match f {
                Frame::Reliable {
                    channel,
                    seq,
                    index,
                    count,
                    data,
                } => self.fragment(channel, seq, index, count, data, events),
                Frame::Skip { channel, seq } => {
                    let next = *self.next.get_or_insert_with(channel, || 0);
                    if is_ahead(seq, next) {
                        let held = self.held.get_or_insert_with(Box::default);
                        held.bytes += Slot::Skipped.cost();
                        if let Some(old) = held.slots.insert((channel, seq), Slot::Skipped) {
                            held.bytes = held.bytes.saturating_sub(old.cost());
                        }
                        self.deliver(channel, events);
                    }
                }
                Frame::Unreliable { channel, data } => events.push(Event::Message {
                    channel,
                    data: data.to_vec(),
                    delivery: Delivery::Unreliable,
                }),
                Frame::Ping | Frame::Close { .. } | Frame::Ack(_) => {}
            }
        }
    }

    fn fragment(
        &mut self,
        channel: Channel,
        seq: u32,
        index: u8,
        count: u8,
        data: &[u8],
        events: &mut Vec<Event>,
    ) {
        let next = self.next.get_or_insert_with(channel, || 0);
        if !is_ahead(seq, *next) {
            return; // delivered or skipped already: a duplicate
        }
        let key = (channel, seq);
        if seq == *next
            && count == 1
            && !self
                .held
                .as_ref()
                .is_some_and(|h| h.slots.contains_key(&key))
        {
            // Whole and next in line: what buffering would do, without the buffer.
            events.push(Event::Message {
                channel,
                data: data.to_vec(),
                delivery: Delivery::Reliable,
            });
            *next = next.wrapping_add(1);
            if self.held.is_some() {
                self.deliver(channel, events);
            }
            return;
        }
        let Held { slots, bytes } = &mut **self.held.get_or_insert_with(Box::default);
        let slot = slots.entry(key).or_insert_with(|| {
            *bytes += slot_overhead(usize::from(count));
            Slot::Partial {
                count,
                got: 0,
                parts: vec![Vec::new(); usize::from(count)],
            }
        });
        let Slot::Partial {
            count: expected,
            got,
            parts,
        } = slot
        else {
            return; // complete or skipped: a duplicate
        };
        let bit = 1u64 << index;
        // A fragment count that disagrees with the first one seen is a broken sender.
        if *expected != count || *got & bit != 0 {
            return;
        }
        *got |= bit;
        parts[usize::from(index)] = data.to_vec();
        *bytes += data.len();
        if got.count_ones() == u32::from(count) {
            let whole = parts.concat();
            // A finished message keeps its bytes but sheds the fragments' bookkeeping.
            *bytes = bytes.saturating_sub(slot_overhead(usize::from(count)) - slot_overhead(0));
            *slot = Slot::Done(whole);
            self.deliver(channel, events);
        }
    }

    /// Hands over the channel's contiguous prefix of finished (or skipped) messages.
    fn deliver(&mut self, channel: Channel, events: &mut Vec<Event>) {
        let (Some(held), Some(next)) = (self.held.as_mut(), self.next.get_mut(channel)) else {
            return;
        };
        loop {
            let removed = match held.slots.entry((channel, *next)) {
                Entry::Occupied(slot) if !matches!(slot.get(), Slot::Partial { .. }) => {
                    slot.remove()
                }
                _ => break,
            };
            held.bytes = held.bytes.saturating_sub(removed.cost());
            match removed {
                Slot::Done(data) => {
                    events.push(Event::Message {
                        channel,
                        data,
                        delivery: Delivery::Reliable,
                    });
                }
                Slot::Skipped | Slot::Partial { .. } => {}
            }
            *next = next.wrapping_add(1);
        }
        if held.slots.is_empty() {
            // Quiet channels hold nothing (an emptied map would keep its last node).
            self.held = None;
        }
    }
}

/// Whether `seq` is at or after `next`, in wrapping sequence arithmetic.
fn is_ahead(seq: u32, next: u32) -> bool {
    seq.wrapping_sub(next) < u32::MAX / 2
}

#[cfg(test)]
mod tests;
