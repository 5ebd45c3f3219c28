//! The receiving half's channels: per channel, the reassembly of fragments and in-order
//! delivery, within a byte budget.
//!
//! A packet is taken whole or not at all: if any of its frames cannot be held (past a channel's
//! window, over the byte budget, one channel too many), the packet is neither processed nor
//! acknowledged, so the sender resends it and nothing acknowledged is ever dropped.
//!
//! A quiet channel holds only its next sequence number: a message that arrives whole and in
//! order is handed over without being buffered, and a channel's reassembly map is let go once
//! it empties, so a burst of fragments (a long welcome) leaves nothing behind.

use std::collections::BTreeMap;

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

#[derive(Debug, Default)]
struct InChannel {
    next: u32,
    /// Messages ahead of `next` or in pieces; `None` when there are none.
    slots: Option<BTreeMap<u32, Slot>>,
}

impl InChannel {
    fn slots(&mut self) -> &mut BTreeMap<u32, Slot> {
        self.slots.get_or_insert_with(BTreeMap::new)
    }
}

/// Every channel a session has received on, and the bytes they hold back.
#[derive(Debug, Default)]
pub(crate) struct Channels {
    map: ChannelMap<InChannel>,
    buffered: usize,
}

impl Channels {
    /// Whether no channel holds a message back (so none keeps a reassembly map).
    #[cfg(test)]
    pub(crate) fn is_quiet(&self) -> bool {
        self.map.values().all(|ch| ch.slots.is_none())
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
            match self.map.get(channel) {
                Some(ch) => {
                    if seq.wrapping_sub(ch.next) >= CHANNEL_WINDOW
                        && seq.wrapping_sub(ch.next) < u32::MAX / 2
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
        self.map.len() + new_channels <= config.max_channels
            && self.buffered + bytes <= 2 * config.max_unacked_bytes
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
                    let ch = self.map.get_or_insert_with(channel, InChannel::default);
                    if is_ahead(seq, ch.next) {
                        self.buffered += Slot::Skipped.cost();
                        if let Some(old) = ch.slots().insert(seq, Slot::Skipped) {
                            self.buffered = self.buffered.saturating_sub(old.cost());
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
        let ch = self.map.get_or_insert_with(channel, InChannel::default);
        if !is_ahead(seq, ch.next) {
            return; // delivered or skipped already: a duplicate
        }
        if seq == ch.next && count == 1 && !ch.slots.as_ref().is_some_and(|s| s.contains_key(&seq))
        {
            // Whole and next in line: what buffering would do, without the buffer.
            events.push(Event::Message {
                channel,
                data: data.to_vec(),
                delivery: Delivery::Reliable,
            });
            ch.next = ch.next.wrapping_add(1);
            if ch.slots.is_some() {
                self.deliver(channel, events);
            }
            return;
        }
        let buffered = &mut self.buffered;
        let slot = ch.slots().entry(seq).or_insert_with(|| {
            *buffered += slot_overhead(usize::from(count));
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
        self.buffered += data.len();
        if got.count_ones() == u32::from(count) {
            let whole = parts.concat();
            // A finished message keeps its bytes but sheds the fragments' bookkeeping.
            self.buffered = self
                .buffered
                .saturating_sub(slot_overhead(usize::from(count)) - slot_overhead(0));
            *slot = Slot::Done(whole);
            self.deliver(channel, events);
        }
    }

    /// Hands over the channel's contiguous prefix of finished (or skipped) messages.
    fn deliver(&mut self, channel: Channel, events: &mut Vec<Event>) {
        let Some(ch) = self.map.get_mut(channel) else {
            return;
        };
        let Some(slots) = ch.slots.as_mut() else {
            return;
        };
        while let Some(slot) = slots.first_entry() {
            if *slot.key() != ch.next || matches!(slot.get(), Slot::Partial { .. }) {
                break;
            }
            let removed = slot.remove();
            self.buffered = self.buffered.saturating_sub(removed.cost());
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
            ch.next = ch.next.wrapping_add(1);
        }
        if slots.is_empty() {
            // A quiet channel holds nothing (an emptied map would keep its last node).
            ch.slots = None;
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
        assert!(recv.buffered <= 2 * config.max_unacked_bytes);
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
        assert!(recv.map.get(9).is_some_and(|ch| ch.slots.is_some()));
        recv.take(reliable(1, 0, 1, b"one"), &mut events);
        let texts: Vec<&[u8]> = events[1..]
            .iter()
            .filter_map(|e| match e {
                Event::Message { data, .. } => Some(data.as_slice()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, [b"one".as_slice(), b"two".as_slice()]);

        let ch = recv.map.get(9).expect("channel 9 is known");
        assert_eq!(ch.next, 3);
        assert!(
            ch.slots.is_none(),
            "no reassembly map is kept for a quiet channel"
        );
        assert_eq!(recv.buffered, 0);
    }
}
