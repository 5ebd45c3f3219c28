//! The frames' shortest forms, their round trip, and malformed frames refused whole.

use super::super::MAX_DATAGRAM;
use super::*;

fn write(f: impl FnOnce(&mut FrameWriter, &mut Writer<'_>)) -> Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut w = Writer::new(&mut buf);
    f(&mut FrameWriter::default(), &mut w);
    let len = w.len();
    buf[..len].to_vec()
}

#[test]
fn consecutive_messages_cost_one_byte_each_up_to_127() {
    let bytes = write(|f, w| {
        assert!(f.reliable(w, (3, 200), (0, 1), &[1; 100]));
        assert!(f.reliable(w, (3, 201), (0, 1), &[2; 100]));
        assert!(f.reliable(w, (3, 202), (0, 1), &[3; 100]));
    });
    // The first: type, channel, seq (2 bytes of varint), length; then the type byte alone,
    // holding the length.
    assert_eq!(bytes.len(), (5 + 100) + 2 * (1 + 100));
    assert_eq!(bytes[105], frame::SHORT_NEXT | 100);
    let frames = parse_frames(&bytes).expect("parses");
    let seqs: Vec<_> = frames
        .iter()
        .map(|f| match f {
            Frame::Reliable {
                channel: 3,
                seq,
                index: 0,
                count: 1,
                data,
            } => (*seq, data[0]),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, [(200, 1), (201, 2), (202, 3)]);
}

#[test]
fn a_next_message_of_128_bytes_or_more_takes_the_long_form() {
    let bytes = write(|f, w| {
        assert!(f.reliable(w, (0, 1), (0, 1), b""));
        assert!(f.reliable(w, (0, 2), (0, 1), &[7; 127]));
        assert!(f.reliable(w, (0, 3), (0, 1), &[8; 128]));
        assert!(f.reliable(w, (0, 4), (0, 1), b""));
    });
    // MESSAGE (4 + 0), SHORT NEXT of 127, NEXT with a 2-byte length of 128, SHORT NEXT of 0.
    assert_eq!(bytes[4], frame::SHORT_NEXT | 127);
    assert_eq!(bytes[4 + 128..4 + 131], [frame::NEXT, 0x80, 0x01]);
    assert_eq!(bytes[4 + 131 + 128..], [frame::SHORT_NEXT]);
    let frames = parse_frames(&bytes).expect("parses");
    let lens: Vec<_> = frames
        .iter()
        .map(|f| match f {
            Frame::Reliable { seq, data, .. } => (*seq, data.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lens, [(1, 0), (2, 127), (3, 128), (4, 0)]);
}

#[test]
fn a_gap_a_new_channel_or_a_fragment_takes_the_long_form() {
    let bytes = write(|f, w| {
        assert!(f.reliable(w, (1, 5), (0, 1), b"a"));
        assert!(f.reliable(w, (1, 7), (0, 1), b"b"));
        assert!(f.reliable(w, (2, 8), (0, 1), b"c"));
        assert!(f.reliable(w, (2, 9), (1, 3), b"d"));
        assert!(f.reliable(w, (2, 10), (0, 1), b"e"));
    });
    // Three whole messages of 5 bytes, a fragment of 7, then a SHORT NEXT of 2.
    assert_eq!(bytes.len(), 24);
    let types: Vec<u8> = [0, 5, 10, 15, 22].iter().map(|&i| bytes[i]).collect();
    assert_eq!(
        types,
        [
            frame::MESSAGE,
            frame::MESSAGE,
            frame::MESSAGE,
            frame::FRAGMENT,
            frame::SHORT_NEXT | 1
        ]
    );
    let frames = parse_frames(&bytes).expect("parses");
    assert!(matches!(
        frames[3],
        Frame::Reliable {
            channel: 2,
            seq: 9,
            index: 1,
            count: 3,
            ..
        }
    ));
    assert!(matches!(frames[4], Frame::Reliable { seq: 10, .. }));
}

#[test]
fn a_frame_that_does_not_fit_is_not_written() {
    let mut buf = [0u8; 10];
    let mut w = Writer::new(&mut buf);
    let mut f = FrameWriter::default();
    assert!(!f.reliable(&mut w, (0, 0), (0, 1), &[0; 8]));
    assert_eq!(w.len(), 0);
    assert!(f.reliable(&mut w, (0, 0), (0, 1), &[0; 6]));
    assert_eq!(w.len(), 10);
}

#[test]
fn ack_frames_round_trip_and_a_full_window_is_one_byte() {
    for ack in [
        Ack {
            largest: 1,
            bits: 0,
            delay: 0,
        },
        Ack {
            largest: 5,
            bits: 0b1011,
            delay: 100,
        },
        Ack {
            largest: 40_000,
            bits: u32::MAX,
            delay: 7,
        },
        Ack {
            largest: u32::MAX,
            bits: 0x8000_0001,
            delay: u32::MAX,
        },
    ] {
        let bytes = write(|f, w| assert!(f.ack(w, &ack)));
        assert!(bytes.len() <= frame::ACK_LEN);
        assert_eq!(
            parse_frames(&bytes).as_deref(),
            Some(&[Frame::Ack(ack)][..])
        );
    }
    let full = write(|f, w| {
        f.ack(
            w,
            &Ack {
                largest: 40_000,
                bits: u32::MAX,
                delay: 7,
            },
        );
    });
    assert_eq!(full, [frame::ACK, 0xC0, 0xB8, 0x02, 7, 0]);
}

#[test]
fn malformed_frames_drop_the_whole_packet() {
    let good = [frame::PING];
    assert!(parse_frames(&good).is_some());
    for bad in [
        // An ACK of packet 0, two ACKs, missing bits for packets before 1, a cut-off varint.
        &[frame::ACK, 0, 0, 0][..],
        &[frame::ACK, 2, 0, 0, frame::ACK, 2, 0, 0],
        &[frame::ACK, 2, 0, 2],
        &[frame::ACK, 0x80],
        // A varint over 32 bits, and one not in its shortest form.
        &[frame::ACK, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0],
        &[frame::ACK, 0x81, 0x00, 0, 0],
        // A NEXT with no reliable frame before it (an unreliable one does not count).
        &[frame::NEXT, 1, b'x'],
        &[frame::UNRELIABLE, 0, 1, b'x', frame::NEXT, 1, b'x'],
        &[frame::SHORT_NEXT | 1, b'x'],
        // A SHORT NEXT whose length runs past the end.
        &[frame::MESSAGE, 0, 0, 0, frame::SHORT_NEXT | 2, b'x'],
        // A fragment of one, an index past the count, a length past the end.
        &[frame::FRAGMENT, 0, 0, 0, 1, 1, b'x'],
        &[frame::FRAGMENT, 0, 0, 3, 3, 1, b'x'],
        &[frame::MESSAGE, 0, 0, 5, b'x'],
        // A channel over 16 bits, an unknown type.
        &[frame::SKIP, 0x80, 0x80, 0x04, 0],
        &[9],
    ] {
        assert_eq!(parse_frames(bad), None, "{bad:?}");
    }
}

#[test]
fn every_parsed_frame_writes_back_the_same() {
    let bytes = [
        frame::ACK,
        3,
        1,
        1,
        frame::MESSAGE,
        1,
        4,
        1,
        b'a',
        frame::SHORT_NEXT | 2,
        b'b',
        b'c',
        frame::UNRELIABLE,
        2,
        1,
        b'!',
        frame::SKIP,
        1,
        9,
        frame::PING,
        frame::CLOSE,
        0,
    ];
    let frames = parse_frames(&bytes).expect("parses");
    assert!(matches!(frames[2], Frame::Reliable { seq: 5, .. }));
    let again = write(|f, w| {
        for frame in &frames {
            assert!(f.any(w, frame));
        }
    });
    assert_eq!(again, bytes);
}

#[test]
fn padding_ends_a_packet_and_must_be_zeros() {
    let mut probe = vec![frame::PING, frame::PADDING];
    probe.resize(1400, 0);
    assert_eq!(parse_frames(&probe).as_deref(), Some(&[Frame::Ping][..]));
    // Padding may also follow data, and may be a single byte.
    assert_eq!(
        parse_frames(&[frame::UNRELIABLE, 1, 1, b'x', frame::PADDING]).as_deref(),
        Some(
            &[Frame::Unreliable {
                channel: 1,
                data: b"x"
            }][..]
        )
    );
    // Anything but zeros after it is a malformed packet, ignored whole.
    let mut bad = probe.clone();
    bad[900] = frame::PING;
    assert_eq!(parse_frames(&bad), None);
}
