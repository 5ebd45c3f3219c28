//! Entry points for the cargo-fuzz targets in `fuzz/`, behind the `fuzzing` feature: they reach
//! the session packet parser, which is not public API, and check what must hold of whatever it
//! accepts. Each panics on a broken invariant, which is what a fuzzer looks for.

use crate::session::packet::{self, frame, parse, parse_frames, Frame, Header, Packet, Writer};
use crate::MAX_DATAGRAM;

/// Parses `datagram` as a session packet, and a data packet's frames too. Whatever parses must
/// write back (with the packet writers) to bytes that parse to the same packet, and a data
/// packet's frames must account for every byte after its header.
pub fn session_packet(datagram: &[u8]) {
    let Some(packet) = parse(datagram) else {
        return;
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut w = Writer::new(&mut buf);
    let frames = match &packet {
        Packet::Hello { nonce } => {
            packet::write_hello(&mut w, nonce);
            None
        }
        Packet::Cookie { nonce, cookie } => {
            packet::write_cookie(&mut w, nonce, cookie);
            None
        }
        Packet::Join {
            nonce,
            cookie,
            resume,
        } => {
            packet::write_join(&mut w, nonce, cookie, *resume);
            None
        }
        Packet::Welcome {
            nonce,
            session,
            token,
        } => {
            packet::write_welcome(&mut w, nonce, *session, token);
            None
        }
        Packet::Reject { nonce, reason } => {
            packet::write_reject(&mut w, nonce, *reason);
            None
        }
        Packet::Data { header, frames } => {
            packet::write_header(&mut w, header);
            assert!(w.put(frames), "the frames fit where they came from");
            Some(*frames)
        }
    };
    let len = w.len();
    let again = parse(&buf[..len]).expect("a written packet parses");
    assert_eq!(again, packet, "parse, write, parse is not the identity");
    if let Some(frames) = frames {
        check_frames(frames);
    }
}

/// Parses `bytes` as the frames of a data packet; if they parse, they must cover every byte.
pub fn data_frames(bytes: &[u8]) {
    check_frames(bytes);
}

fn check_frames(bytes: &[u8]) {
    let Some(frames) = parse_frames(bytes) else {
        return;
    };
    let covered: usize = frames
        .iter()
        .map(|f| match f {
            Frame::Reliable {
                data, count, index, ..
            } => {
                assert!(index < count, "fragment {index} of {count}");
                frame::RELIABLE_HEADER + data.len()
            }
            Frame::Unreliable { data, .. } => frame::UNRELIABLE_HEADER + data.len(),
            Frame::Ping => 1,
            Frame::Close { .. } => 2,
            Frame::Skip { .. } => frame::SKIP_LEN,
        })
        .sum();
    assert_eq!(covered, bytes.len(), "frames skipped or overran bytes");
}

/// Writes one packet.
type WriteFn<'a> = dyn Fn(&mut Writer<'_>) + 'a;

/// Valid session packets of every type, by name, to start the fuzzer's corpus from.
pub fn session_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let (nonce, secret) = ([0x11; packet::NONCE_LEN], [0x22; packet::SECRET_LEN]);
    let resume = packet::Resume {
        session: 7,
        counter: 1,
        proof: secret,
    };
    let header = Header {
        session: 7,
        number: 3,
        largest_acked: 2,
        ack_bits: 1,
        ack_delay: 5,
    };
    let mut frames = vec![frame::RELIABLE, 1, 0, 1, 0, 0, 0, 0, 1, 2, 0, b'h', b'i'];
    frames.extend_from_slice(&[frame::UNRELIABLE, 2, 0, 1, 0, b'!', frame::PING]);
    frames.extend_from_slice(&[frame::SKIP, 1, 0, 9, 0, 0, 0, frame::CLOSE, 0]);
    let writers: [(&str, &WriteFn<'_>); 7] = [
        ("hello", &|w| packet::write_hello(w, &nonce)),
        ("cookie", &|w| packet::write_cookie(w, &nonce, &secret)),
        ("join", &|w| packet::write_join(w, &nonce, &secret, None)),
        ("join-resume", &|w| {
            packet::write_join(w, &nonce, &secret, Some(resume))
        }),
        ("welcome", &|w| packet::write_welcome(w, &nonce, 7, &secret)),
        ("reject", &|w| {
            packet::write_reject(w, &nonce, packet::RejectReason::Busy)
        }),
        ("data", &|w| {
            packet::write_header(w, &header);
            w.put(&frames);
        }),
    ];
    writers
        .iter()
        .map(|(name, write)| {
            let mut buf = [0u8; MAX_DATAGRAM];
            let mut w = Writer::new(&mut buf);
            write(&mut w);
            let len = w.len();
            (*name, buf[..len].to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_and_hand_made_packets_pass_the_checks() {
        let mut join = vec![0xFF, b'S', 0x12];
        join.resize(MAX_DATAGRAM, 7);
        session_packet(&join);
        let mut data = vec![0xFF, b'S', 0x15];
        data.extend_from_slice(&[1; 17]);
        data.extend_from_slice(&[frame::PING, frame::CLOSE, 9, frame::UNRELIABLE, 1, 0, 2, 0]);
        data.extend_from_slice(b"hi");
        assert!(matches!(parse(&data), Some(Packet::Data { .. })));
        session_packet(&data);
        data_frames(&[frame::SKIP, 1, 0, 2, 0, 0, 0]);
        data_frames(&[frame::RELIABLE, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        data_frames(b"\x07 not a frame");
    }

    #[test]
    fn every_seed_parses() {
        for (name, seed) in session_seeds() {
            assert!(parse(&seed).is_some(), "{name}");
            session_packet(&seed);
        }
    }
}
