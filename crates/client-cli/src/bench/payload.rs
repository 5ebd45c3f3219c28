//! What the load generator sends and how it checks the answers: plain datagrams, which every
//! echo server (dgram's, and the C and Python baselines that upper-case raw bytes) answers, or
//! dgram EchoRequest envelopes. Either way every datagram is exactly `size` bytes, so a batch of
//! them can go out in one GSO send.

use anyhow::{bail, Context};
use dgram_proto::{Body, Echo, Envelope, Name, MAX_DATAGRAM, MAX_PAYLOAD};

use crate::Mode;

/// How many hex digits carry the sequence number in a plain datagram.
pub(crate) const SEQ_DIGITS: usize = 16;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// What an arriving datagram turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The correct answer to the request with this sequence number.
    Answer(u64),
    /// Not a correct answer; the sequence number when one could be read.
    Wrong(Option<u64>),
}

/// Builds requests and checks replies for one mode and size.
#[derive(Debug)]
pub(crate) struct Payload {
    size: usize,
    envelopes: Option<Envelopes>,
}

impl Payload {
    pub(crate) fn new(mode: Mode, size: usize) -> anyhow::Result<Self> {
        if !(SEQ_DIGITS..=MAX_DATAGRAM).contains(&size) {
            bail!("--size must be from {SEQ_DIGITS} to {MAX_DATAGRAM} bytes, not {size}");
        }
        let envelopes = match mode {
            Mode::Plain => None,
            Mode::Envelope => {
                let mut envelopes = Envelopes::new(size);
                // Fails now, with a clear message, if the size cannot hold an envelope at all.
                envelopes.template(0)?;
                Some(envelopes)
            }
        };
        Ok(Self { size, envelopes })
    }

    /// Writes the request with sequence number `seq` into `out`, which is `size` bytes.
    pub(crate) fn write(&mut self, seq: u64, out: &mut [u8]) -> anyhow::Result<()> {
        match &mut self.envelopes {
            None => {
                let (digits, padding) = out.split_at_mut(SEQ_DIGITS);
                for (i, d) in digits.iter_mut().enumerate() {
                    *d = HEX[((seq >> (4 * (SEQ_DIGITS - 1 - i))) & 0xF) as usize];
                }
                padding.fill(b'x');
                Ok(())
            }
            Some(envelopes) => {
                let len = envelopes
                    .template(seq)?
                    .encode_into(out)
                    .with_context(|| format!("encoding request {seq}"))?;
                if len != self.size {
                    bail!(
                        "request {seq} encoded to {len} bytes instead of {}",
                        self.size
                    );
                }
                Ok(())
            }
        }
    }

    /// Judges one arriving datagram.
    pub(crate) fn check(&self, reply: &[u8]) -> Verdict {
        if self.envelopes.is_some() {
            return check_envelope(reply, self.size);
        }
        let Some(seq) = reply.get(..SEQ_DIGITS).and_then(parse_hex) else {
            return Verdict::Wrong(None);
        };
        if reply.len() == self.size && reply[SEQ_DIGITS..].iter().all(|&b| b == b'X') {
            Verdict::Answer(seq)
        } else {
            Verdict::Wrong(Some(seq))
        }
    }
}

/// Reads 16 uppercase hex digits; an upper-cased request's digits are unchanged.
fn parse_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        Some((acc << 4) | u64::from(d))
    })
}

fn check_envelope(reply: &[u8], size: usize) -> Verdict {
    match Envelope::decode(reply) {
        Ok(Envelope {
            body: Body::EchoReply(echo),
            ..
        }) => {
            if reply.len() == size && echo.text.bytes().all(|b| b == b'X') {
                Verdict::Answer(echo.request_id)
            } else {
                Verdict::Wrong(Some(echo.request_id))
            }
        }
        Ok(env) => Verdict::Wrong(env.body.request_id()),
        Err(_) => Verdict::Wrong(None),
    }
}

/// Padded EchoRequest templates, one per width of the request id on the wire.
///
/// bincode writes integers as varints, so the id takes 1, 3, 5 or 9 bytes, and the text's
/// length prefix 1 or 3: the padding that makes exactly `size` bytes depends on both. The
/// templates are built once per width; sending then only changes the id and encodes.
#[derive(Debug)]
struct Envelopes {
    size: usize,
    templates: [Option<Envelope>; 4],
}

/// Sender names to try, in order. When one name leaves a size unreachable (the text's length
/// prefix grows by two bytes at 251, skipping two sizes), a name of another length fills it;
/// the short one fits the smallest sizes.
const SENDERS: [&str; 3] = ["bench", "b", "bench.pad"];

impl Envelopes {
    fn new(size: usize) -> Self {
        Self {
            size,
            templates: [None, None, None, None],
        }
    }

    fn template(&mut self, id: u64) -> anyhow::Result<&mut Envelope> {
        let slot = &mut self.templates[varint_class(id)];
        if slot.is_none() {
            *slot = Some(padded(id, self.size)?);
        }
        let Some(env) = slot.as_mut() else {
            bail!("no envelope template for request {id}");
        };
        if let Body::EchoRequest(echo) = &mut env.body {
            echo.request_id = id;
        }
        Ok(env)
    }
}

/// Which of bincode's varint widths `id` takes: 1, 3, 5 or 9 bytes.
fn varint_class(id: u64) -> usize {
    match id {
        0..=250 => 0,
        251..=0xFFFF => 1,
        0x1_0000..=0xFFFF_FFFF => 2,
        _ => 3,
    }
}

/// An EchoRequest for `id` whose encoding is exactly `size` bytes.
fn padded(id: u64, size: usize) -> anyhow::Result<Envelope> {
    let mut buf = [0u8; MAX_DATAGRAM];
    for sender in SENDERS {
        let name = Name::new(sender).with_context(|| format!("bench sender name {sender:?}"))?;
        let mut env = Envelope::new(
            name,
            Body::EchoRequest(Echo {
                request_id: id,
                text: String::new(),
            }),
        );
        let bare = env
            .encode_into(&mut buf)
            .context("encoding an empty request")?;
        let Some(room) = size.checked_sub(bare) else {
            continue;
        };
        // The text fills the room, less two bytes if its length prefix grows to three.
        for text_len in [room, room.saturating_sub(2)] {
            if let Body::EchoRequest(echo) = &mut env.body {
                echo.text = "x".repeat(text_len);
            }
            if env.encode_into(&mut buf).ok() == Some(size) {
                return Ok(env);
            }
        }
    }
    let largest = Envelope::new(
        Name::new(SENDERS[SENDERS.len() - 1]).context("bench sender name")?,
        Body::EchoRequest(Echo {
            request_id: id,
            text: "x".repeat(MAX_PAYLOAD),
        }),
    );
    let most = largest
        .encode_into(&mut buf)
        .context("encoding the largest request")?;
    if size > most {
        bail!(
            "an EchoRequest envelope carries at most {MAX_PAYLOAD} bytes of text, {most} bytes \
             in all; --size {size} needs --mode plain or a size of at most {most}"
        );
    }
    bail!(
        "a datagram of {size} bytes is too small for an EchoRequest envelope with id {id}; \
         use a larger --size"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dgram_proto::echo::{upper, EchoServer};
    use std::net::SocketAddr;

    fn server_answer(request: &[u8]) -> Vec<u8> {
        let local: SocketAddr = "127.0.0.1:7".parse().expect("literal");
        let server = EchoServer::new(Name::new("srv").expect("valid"), local);
        let peer: SocketAddr = "127.0.0.1:40000".parse().expect("literal");
        let mut out = [0u8; MAX_DATAGRAM];
        match server.answer(peer, request, &mut out) {
            dgram_proto::echo::Answer::Reply { len, .. } => out[..len].to_vec(),
            other => panic!("server did not answer: {other:?}"),
        }
    }

    #[test]
    fn plain_requests_look_as_documented() {
        let mut p = Payload::new(Mode::Plain, 20).expect("valid size");
        let mut buf = [0u8; 20];
        p.write(0xAB, &mut buf).expect("plain never fails");
        assert_eq!(&buf, b"00000000000000ABxxxx");
        let reply = upper(std::str::from_utf8(&buf).expect("ASCII"));
        assert_eq!(p.check(reply.as_bytes()), Verdict::Answer(0xAB));
        assert_eq!(p.check(&buf), Verdict::Wrong(Some(0xAB)));
        assert_eq!(p.check(b"00000000000000ABXXX"), Verdict::Wrong(Some(0xAB)));
        assert_eq!(p.check(b"short"), Verdict::Wrong(None));
        assert_eq!(p.check(b"zz000000000000ABXXXX"), Verdict::Wrong(None));
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert!(Payload::new(Mode::Plain, 15).is_err());
        assert!(Payload::new(Mode::Plain, MAX_DATAGRAM + 1).is_err());
    }

    #[test]
    fn envelopes_hit_every_size_for_every_id_width() {
        let ids = [0, 250, 251, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, 1 << 40];
        let mut largest = SEQ_DIGITS - 1;
        for size in 16..=MAX_DATAGRAM {
            let mut p = match Payload::new(Mode::Envelope, size) {
                Ok(p) => p,
                Err(e) => {
                    let e = format!("{e:#}");
                    assert!(e.contains("--mode plain"), "size {size}: {e}");
                    continue;
                }
            };
            assert_eq!(largest, size - 1, "every size up to the largest works");
            largest = size;
            let mut buf = vec![0u8; size];
            for id in ids {
                if size < 17 && id > 0xFFFF_FFFF {
                    continue; // 16 bytes cannot carry a 9-byte id, and no run gets that far
                }
                p.write(id, &mut buf)
                    .unwrap_or_else(|e| panic!("size {size}, id {id}: {e:#}"));
                assert_eq!(p.check(&server_answer(&buf)), Verdict::Answer(id));
            }
        }
        assert!(largest >= 1024, "envelopes stop at {largest} bytes");
    }

    #[test]
    fn envelope_replies_are_checked() {
        let mut p = Payload::new(Mode::Envelope, 64).expect("valid size");
        let mut buf = [0u8; 64];
        p.write(7, &mut buf).expect("fits");
        // An unanswered request (lowercase padding, request kind) is not an answer.
        assert_eq!(p.check(&buf), Verdict::Wrong(Some(7)));
        assert_eq!(p.check(b"plain text"), Verdict::Wrong(None));
    }
}
