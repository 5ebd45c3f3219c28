//! Reassembly's receive budget (floods of empty fragments and skips stay bounded, and a full
//! budget still takes the message that fills the gap) and what a quiet channel keeps.

use super::*;

#[test]
fn empty_fragments_and_skips_cannot_fill_memory_for_free() {
    let config = Config::default();
    let mut recv = Channels::default();
    let mut events = Vec::new();
    let mut taken = 0u32;
    // Slot after slot of empty fragments that never complete and skips ahead of a gap
    // (seq 0 stays missing).
    'outer: for channel in 0..64u16 {
        for seq in 1..CHANNEL_WINDOW {
            let frames = if seq % 2 == 0 {
                vec![Frame::Skip { channel, seq }]
            } else {
                vec![Frame::Reliable {
                    channel,
                    seq,
                    index: 0,
                    count: 57,
                    data: &[],
                }]
            };
            if !recv.can_take(&frames, &config) {
                break 'outer;
            }
            recv.take(&frames, &mut events);
            taken += 1;
        }
    }
    assert!(recv.buffered() <= 2 * config.max_unacked_bytes);
    assert!(
        taken < 10_000,
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
        recv.take(&frames, &mut events);
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
    recv.take(&reliable(2, 0, 1, b"two"), &mut events);
    assert_eq!(events.len(), 1);
    assert!(!recv.is_quiet());
    recv.take(&reliable(1, 0, 1, b"one"), &mut events);
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

#[test]
fn at_a_full_budget_the_message_that_fills_the_gap_is_still_taken() {
    let config = Config::default();
    let mut recv = Channels::default();
    let mut events = Vec::new();
    let big = vec![7u8; MAX_FRAGMENT];
    // Messages 1, 2, ... wait behind a missing message 0 until the budget is spent.
    // Large messages first, then skips (the cheapest thing held) to the last byte.
    let mut seq = 1;
    while recv.can_take(&reliable(seq, 0, 1, &big), &config) {
        recv.take(&reliable(seq, 0, 1, &big), &mut events);
        seq += 1;
    }
    while recv.can_take(&[Frame::Skip { channel: 9, seq }], &config) {
        recv.take(&[Frame::Skip { channel: 9, seq }], &mut events);
        seq += 1;
    }
    assert!(events.is_empty());
    assert!(
        !recv.can_take(&reliable(seq, 0, 1, &[]), &config),
        "the budget is spent"
    );
    let behind_the_gap = (seq - 1) as usize;
    // The gap's own message, whole, and a skip in its place both pass straight through.
    assert!(recv.can_take(&[Frame::Skip { channel: 9, seq: 0 }], &config));
    let frames = reliable(0, 0, 1, b"zero");
    assert!(recv.can_take(&frames, &config));
    recv.take(&frames, &mut events);
    // Messages 0 and 1.. (the skips deliver nothing themselves).
    let messages = events.len();
    assert!(messages > 1 && messages <= behind_the_gap + 1, "{messages}");
    assert!(recv.is_quiet(), "everything held is released");
    assert_eq!(recv.buffered(), 0);
}
