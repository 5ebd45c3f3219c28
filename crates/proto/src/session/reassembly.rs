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
            match self.next.get(channel) {
                Some(&next) => {
                    if seq.wrapping_sub(next) >= CHANNEL_WINDOW
                        && seq.wrapping_sub(next) < u32::MAX / 2
                    {
                        return false;
                    }
                }
                None => {
                    new_channels += 1;
                    if seq >= CHANNEL_WINDOW {
                        return false;
                    }
                }
            }
            bytes += len;
        }
        self.next.len() + new_channels <= config.max_channels
            && self.buffered() + bytes <= 2 * config.max_unacked_bytes
    }

    /// Applies a packet's frames; messages that complete their channel's prefix become events.
    pub(crate) fn take(&mut self, frames: Vec<Frame<'_>>, events: &mut Vec<Event>) {
        for f in frames {
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
                Frame::Ping | Frame::Close { .. } => {}
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
mod tests {
    use super::*;

    #[test]
    fn empty_fragments_and_skips_cannot_fill_memory_for_free() {
        let config = Config::default();
        let mut recv = Channels::default();
        let mut events = Vec::new();
        let mut taken = 0u32;
        // Slot after slot of empty fragments that never complete (seq 0 stays missing).
        'outer: for channel in 0..64u16 {
            for seq in 1..CHANNEL_WINDOW {
                let frames = vec![Frame::Reliable {
                    channel,
                    seq,
                    index: 0,
                    count: 57,
                    data: &[],
                }];
                if !recv.can_take(&frames, &config) {
                    break 'outer;
                }
                recv.take(frames, &mut events);
                taken += 1;
            }
        }
        assert!(recv.buffered() <= 2 * config.max_unacked_bytes);
        assert!(
            taken < 2000,
            "refused after {taken} slots, not after millions"
        );
        assert!(events.is_empty());
    }

    fn reliable(seq: u32, index: u8, count: u8, data: &[u8]) -> Vec<Frame<'_>> {
        vec![Frame::Reliable {
            channel: 9,
            seq,
            index,
            count,
            data,
        }]
    }

    #[test]
    fn a_channel_holds_nothing_once_its_messages_are_delivered() {
        let config = Config::default();
        let mut recv = Channels::default();
        let mut events = Vec::new();
        let parts = [vec![1u8; MAX_FRAGMENT], vec![2; MAX_FRAGMENT], vec![3; 10]];
        // A message in three pieces, arriving out of order.
        for index in [2u8, 0, 1] {
            let frames = reliable(0, index, 3, &parts[usize::from(index)]);
            assert!(recv.can_take(&frames, &config));
            recv.take(frames, &mut events);
        }
        assert_eq!(
            events,
            vec![Event::Message {
                channel: 9,
                data: parts.concat(),
                delivery: Delivery::Reliable,
            }]
        );
        // Message 2 waits for message 1, then both go, in order.
        recv.take(reliable(2, 0, 1, b"two"), &mut events);
        assert_eq!(events.len(), 1);
        assert!(!recv.is_quiet());
        recv.take(reliable(1, 0, 1, b"one"), &mut events);
        let texts: Vec<&[u8]> = events[1..]
            .iter()
            .filter_map(|e| match e {
                Event::Message { data, .. } => Some(data.as_slice()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, [b"one".as_slice(), b"two".as_slice()]);

        assert_eq!(recv.next.get(9), Some(&3));
        assert!(
            recv.is_quiet(),
            "no reassembly map is kept for quiet channels"
        );
        assert!(
            recv.is_inline(),
            "nor a per-channel allocation for one channel"
        );
        assert_eq!(recv.buffered(), 0);
    }
}
