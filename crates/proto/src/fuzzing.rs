//! Entry points for the cargo-fuzz targets in `fuzz/`, behind the `fuzzing` feature: they reach
//! the session packet parser, which is not public API, and check what must hold of whatever it
//! accepts. Each panics on a broken invariant, which is what a fuzzer looks for.

use crate::session::noise::{prologue, Initiator, Responder};
use crate::session::packet::{
    self, frame, parse, parse_frames, Ack, Frame, FrameWriter, Packet, Writer,
};
use crate::session::Keypair;
use crate::{MAX_DATAGRAM, MAX_PATH_DATAGRAM};

/// Parses `datagram` as a session packet. Whatever parses must write back (with the packet
/// writers) to bytes that parse to the same packet; a data packet's sealed body is carried
/// over as it was.
pub fn session_packet(datagram: &[u8]) {
    let Some(packet) = parse(datagram) else {
        return;
    };
    let mut buf = [0u8; MAX_PATH_DATAGRAM];
    let mut w = Writer::new(&mut buf);
    match &packet {
        Packet::Hello { nonce } => packet::write_hello(&mut w, nonce),
        Packet::Cookie {
            nonce,
            cookie,
            server_key,
        } => packet::write_cookie(&mut w, nonce, cookie, server_key),
        Packet::Join {
            nonce,
            cookie,
            msg1,
        } => packet::write_join(&mut w, nonce, cookie, msg1),
        Packet::Welcome {
            nonce,
            session,
            msg2,
        } => packet::write_welcome(&mut w, nonce, *session, msg2),
        Packet::Reject {
            nonce,
            reason,
            version,
        } if *version == packet::VERSION => packet::write_reject(&mut w, nonce, *reason),
        // Another version's packets: only parsed, never written by this version.
        Packet::Reject { .. } | Packet::OtherVersion { .. } => return,
        Packet::Data { header } => {
            packet::write_header(&mut w, header.session, header.truncated, header.number_len);
            assert_eq!(w.len(), header.len(), "the header's length");
            let body = &datagram[header.len()..];
            assert!(w.put(body), "the sealed body fits where it came from");
        }
    }
    let len = w.len();
    let again = parse(&buf[..len]).expect("a written packet parses");
    assert_eq!(again, packet, "parse, write, parse is not the identity");
}

/// Feeds `bytes` to the handshake's decoders: as a Join's first Noise message to a server, as
/// a Welcome's second message to a client mid-handshake, and as the join request inside the
/// first message. None may panic, and none may accept bytes that are not an answer to this
/// very handshake (a fuzzer cannot forge a Noise message).
pub fn handshake(bytes: &[u8]) {
    let server = Keypair::from_seed([1; 32]);
    let client = Keypair::from_seed([2; 32]);
    let prologue = prologue(&[3; 16], &[4; 16]);
    assert!(
        Responder::read(&server, &prologue, [5; 32], bytes).is_none(),
        "a made-up first message was accepted"
    );
    if let Some(init) = Initiator::start(&client, &server.public, &prologue, [8; 32], &[0]) {
        assert!(
            init.finish(bytes).is_none(),
            "a made-up answer was accepted"
        );
    }
    if let Some(request) = packet::parse_join_payload(bytes) {
        assert_eq!(
            packet::join_payload(request),
            bytes,
            "join request round trip"
        );
    }
}

/// Opens `bytes` as a sealed data packet with a session's keys: never panics, and only the
/// packet those keys sealed opens (here: none, as the fuzzer does not hold the keys). The
/// packet number is rebuilt as a session would, from a largest seen taken from the bytes.
pub fn sealed_packet(bytes: &[u8]) {
    let Some(Packet::Data { header }) = parse(bytes) else {
        return;
    };
    let largest = bytes
        .get(bytes.len().saturating_sub(4)..)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes);
    let Some(number) = packet::decode_number(largest, &header) else {
        return;
    };
    let server = Keypair::from_seed([1; 32]);
    let client = Keypair::from_seed([2; 32]);
    let prologue = prologue(&[3; 16], &[4; 16]);
    let payload = packet::join_payload(None);
    let Some(init) = Initiator::start(&client, &server.public, &prologue, [8; 32], &payload) else {
        return;
    };
    let Some(responder) = Responder::read(&server, &prologue, [9; 32], &init.msg1) else {
        panic!("a real first message was refused");
    };
    let Some((_, keys)) = responder.reply(&[7; 16]) else {
        panic!("no answer");
    };
    let mut out = [0u8; MAX_PATH_DATAGRAM];
    assert!(
        keys.open(bytes, header.len(), number, &mut out).is_none(),
        "a made-up packet opened"
    );
}

/// Parses `bytes` as the frames of a data packet; what parses must write back (each frame in
/// its shortest form) to bytes that parse to the same frames, no longer than the input.
pub fn data_frames(bytes: &[u8]) {
    if bytes.len() > MAX_PATH_DATAGRAM {
        return;
    }
    // Before the frames, which borrow it in the comparison at the end and must drop first.
    let mut buf = vec![0u8; bytes.len()];
    let Some(frames) = parse_frames(bytes) else {
        return;
    };
    for f in &frames {
        if let Frame::Reliable { index, count, .. } = f {
            assert!(index < count, "fragment {index} of {count}");
        }
    }
    let mut w = Writer::new(&mut buf);
    let mut writer = FrameWriter::default();
    for f in &frames {
        assert!(
            writer.any(&mut w, f),
            "a frame does not fit where it came from"
        );
    }
    let len = w.len();
    assert_eq!(
        parse_frames(&buf[..len]).as_ref(),
        Some(&frames),
        "frame round trip"
    );
}

/// Writes one packet.
type WriteFn<'a> = dyn Fn(&mut Writer<'_>) + 'a;

/// Valid session packets of every type, by name, to start the fuzzer's corpus from: a real
/// handshake's messages, and a data packet that a session's keys sealed.
pub fn session_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let (nonce, cookie) = ([0x11; packet::NONCE_LEN], [0x22; packet::SECRET_LEN]);
    let server = Keypair::from_seed([1; 32]);
    let client = Keypair::from_seed([2; 32]);
    let prologue = prologue(&nonce, &cookie);
    let resume = packet::Resume {
        session: 7,
        counter: 1,
        proof: [0x33; 16],
    };
    let new = packet::join_payload(None);
    let again = packet::join_payload(Some(resume));
    let first = |payload: &[u8]| {
        Initiator::start(&client, &server.public, &prologue, [6; 32], payload)
            .expect("a first message")
    };
    let (join, join_resume) = (first(&new), first(&again));
    let responder = Responder::read(&server, &prologue, [5; 32], &join.msg1).expect("read");
    let (msg2, keys) = responder.reply(&[0x44; 16]).expect("answer");
    let number = 3;
    let mut frames = Vec::new();
    {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        let mut f = FrameWriter::default();
        let ack = Ack {
            largest: 2,
            bits: 1,
            delay: 5,
        };
        f.ack(&mut w, &ack);
        f.reliable(&mut w, (1, 0), (0, 1), b"hi");
        f.reliable(&mut w, (1, 1), (0, 1), b"next");
        f.reliable(&mut w, (1, 2), (1, 2), b"part");
        f.unreliable(&mut w, 2, b"!");
        w.put(&[frame::PING]);
        f.skip(&mut w, 1, 9);
        w.put(&[frame::CLOSE, 0]);
        let len = w.len();
        frames.extend_from_slice(&buf[..len]);
    }
    let writers: [(&str, &WriteFn<'_>); 7] = [
        ("hello", &|w| packet::write_hello(w, &nonce)),
        ("cookie", &|w| {
            packet::write_cookie(w, &nonce, &cookie, &server.public)
        }),
        ("join", &|w| {
            packet::write_join(w, &nonce, &cookie, &join.msg1)
        }),
        ("join-resume", &|w| {
            packet::write_join(w, &nonce, &cookie, &join_resume.msg1)
        }),
        ("welcome", &|w| packet::write_welcome(w, &nonce, 7, &msg2)),
        ("reject", &|w| {
            packet::write_reject(w, &nonce, packet::RejectReason::Busy)
        }),
        ("data", &|w| {
            packet::write_header(w, 7, number, 2);
            w.put(&frames);
        }),
    ];
    writers
        .iter()
        .map(|(name, write)| {
            let mut buf = [0u8; MAX_DATAGRAM];
            let mut w = Writer::new(&mut buf);
            write(&mut w);
            let mut len = w.len();
            if *name == "data" {
                len = keys
                    .seal(&mut buf, len, packet::HEADER_LEN, number)
                    .expect("room for the tag");
            }
            (*name, buf[..len].to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_and_hand_made_packets_pass_the_checks() {
        let mut join = vec![0xFF, b'S', 0x22];
        join.resize(MAX_DATAGRAM, 7);
        session_packet(&join);
        handshake(&join[3..]);
        let mut old = vec![0xFF, b'S', 0x10];
        old.resize(MAX_DATAGRAM, 0);
        assert!(matches!(parse(&old), Some(Packet::OtherVersion { .. })));
        session_packet(&old);
        let mut data = vec![0xFA];
        data.extend_from_slice(&[1; 7]);
        data.extend_from_slice(&[frame::PING, frame::CLOSE, 9, frame::UNRELIABLE, 1, 2, 0, 0]);
        data.extend_from_slice(&[0; 16]);
        assert!(matches!(parse(&data), Some(Packet::Data { .. })));
        session_packet(&data);
        sealed_packet(&data);
        // A v2 data packet is nothing to v3 and later.
        let mut old_data = vec![0xFF, b'S', 0x25];
        old_data.extend_from_slice(&[1; 40]);
        assert!(parse(&old_data).is_none());
        data_frames(&[frame::SKIP, 1, 2]);
        data_frames(&[frame::MESSAGE, 0, 0, 1, 0, frame::NEXT, 0]);
        data_frames(&[frame::MESSAGE, 0, 0, 1, 0, frame::SHORT_NEXT | 1, 7]);
        data_frames(&[frame::ACK, 3, 0, 1, frame::FRAGMENT, 0, 0, 1, 2, 0]);
        data_frames(b"\x09 not a frame");
    }

    #[test]
    fn every_seed_parses() {
        for (name, seed) in session_seeds() {
            assert!(parse(&seed).is_some(), "{name}");
            session_packet(&seed);
            sealed_packet(&seed);
        }
    }
}
