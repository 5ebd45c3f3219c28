//! The session protocol's bytes: handshake packets, the short data header (`data`), and the
//! frames that follow it (sealed: see `noise`). Laid out by hand (little-endian) because every
//! field's size is part of the overhead budget; the README documents it field by field.
//!
//! Every handshake packet starts with `0xFF 'S'` and a byte holding the version (high nibble)
//! and the packet type (low nibble). `0xFF` never occurs in UTF-8, and `'S'` tells session
//! packets from echo envelopes (`0xFF 'D' 'G'`). Data packets start with one byte of `0xF8` to
//! `0xFB` instead (also never in UTF-8, and never `0xFF`), so the version travels only in the
//! handshake, as QUIC's short header does.

use crate::{MAX_DATAGRAM, MAX_PATH_DATAGRAM};

mod data;
mod frames;

pub(crate) use data::{decode_number, number_len, write_header, Header};
pub use data::{HEADER_LEN, MAX_HEADER_LEN};
pub use frames::frame_overhead_reliable;
pub(crate) use frames::{acks, frame, parse_frames, Ack, Frame, FrameWriter};

/// The session protocol's magic bytes.
pub const MAGIC: [u8; 2] = [0xFF, b'S'];
/// The session protocol version: 4 adds the SHORT NEXT frame (a message of up to 127 bytes
/// after another costs one byte of framing), which a version 3 peer would take for a malformed
/// packet; 3 has the short data header (truncated packet numbers, acks in a frame) and compact
/// frames; 2 was the first encrypted one (20-byte header); 1 was plaintext. A Reject keeps one
/// layout in every version from 2 on, so that a peer of another version can be told to
/// upgrade.
pub const VERSION: u8 = 4;
/// Client handshake packets are padded to this size, so that no server answer before a session
/// exists is larger than what caused it (and so that the path is known to carry full datagrams).
pub const CLIENT_HELLO_LEN: usize = MAX_DATAGRAM;
/// Random bytes a client picks per handshake.
pub const NONCE_LEN: usize = 16;
/// Bytes of a cookie, a resume token and a resume proof.
pub const SECRET_LEN: usize = 16;
/// The longest Noise handshake message a Join or Welcome carries.
pub(crate) const MAX_NOISE_MSG: usize = 256;

pub(crate) type Nonce = [u8; NONCE_LEN];
pub(crate) type Secret = [u8; SECRET_LEN];

/// Packet types (the low nibble of byte 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Hello = 0,
    Cookie = 1,
    Join = 2,
    Welcome = 3,
    Reject = 4,
}

impl Type {
    fn from_nibble(n: u8) -> Option<Self> {
        Some(match n {
            0 => Type::Hello,
            1 => Type::Cookie,
            2 => Type::Join,
            3 => Type::Welcome,
            4 => Type::Reject,
            _ => return None,
        })
    }
}

/// Why a server refused a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The session to resume does not exist (the server restarted, or it timed out).
    UnknownSession,
    /// The resume proof was wrong.
    BadProof,
    /// The server holds as many sessions as it may.
    Busy,
    /// The peer speaks another protocol version (the Reject's own version says which).
    Version,
}

impl RejectReason {
    fn code(self) -> u8 {
        match self {
            RejectReason::UnknownSession => 1,
            RejectReason::BadProof => 2,
            RejectReason::Busy => 3,
            RejectReason::Version => 4,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => RejectReason::UnknownSession,
            2 => RejectReason::BadProof,
            3 => RejectReason::Busy,
            4 => RejectReason::Version,
            _ => return None,
        })
    }
}

/// A client's proof that it holds a session's resume token; it travels inside the Noise
/// handshake's first message, encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    pub(crate) session: u32,
    pub(crate) counter: u32,
    pub(crate) proof: Secret,
}

/// A parsed packet; data packets keep their frames unparsed until the session takes them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    Hello {
        nonce: Nonce,
    },
    Cookie {
        nonce: Nonce,
        cookie: Secret,
        server_key: [u8; 32],
    },
    Join {
        nonce: Nonce,
        cookie: Secret,
        /// The Noise IK first message; its payload is the join or resume request.
        msg1: &'a [u8],
    },
    Welcome {
        nonce: Nonce,
        session: u32,
        /// The Noise IK second message; its payload is the resume token.
        msg2: &'a [u8],
    },
    Reject {
        nonce: Nonce,
        reason: RejectReason,
        /// The version of the peer that sent it.
        version: u8,
    },
    /// A padded client packet of another version: answered with a version Reject.
    OtherVersion {
        nonce: Nonce,
    },
    /// A data packet: its header, parsed; the frames and tag stay sealed until the session's
    /// keys open the whole datagram.
    Data {
        header: Header,
    },
}

/// The unit of an ACK frame's delay: 200 µs (the longest a receiver holds an ack, 20 ms, is
/// then one byte of varint).
pub const ACK_DELAY_UNIT_MICROS: u64 = 200;

/// A tiny cursor that never panics: every read checks what is left.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }

    /// A LEB128 varint of at most 32 bits, in its shortest form only (so that every value has
    /// one encoding, and what parses writes back the same).
    fn varint(&mut self) -> Option<u32> {
        let mut value: u64 = 0;
        for i in 0..5 {
            let b = self.u8()?;
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return None;
                }
                return u32::try_from(value).ok();
            }
        }
        None
    }
}

/// Parses a session packet; `None` for anything that is not one (never panics).
pub(crate) fn parse(datagram: &[u8]) -> Option<Packet<'_>> {
    if datagram.len() > MAX_PATH_DATAGRAM {
        return None;
    }
    if let Some(header) = data::parse_header(datagram) {
        return Some(Packet::Data { header });
    }
    if !datagram.starts_with(&MAGIC) {
        return None;
    }
    let mut r = Reader(&datagram[MAGIC.len()..]);
    let vt = r.u8()?;
    let client_sized = datagram.len() >= CLIENT_HELLO_LEN;
    if vt >> 4 != VERSION {
        // Only the layouts every version shares: a padded client packet's nonce, and Reject.
        return match vt & 0x0F {
            _ if client_sized => Some(Packet::OtherVersion { nonce: r.array()? }),
            n if n == Type::Reject as u8 => Some(Packet::Reject {
                nonce: r.array()?,
                reason: RejectReason::from_code(r.u8()?)?,
                version: vt >> 4,
            }),
            _ => None,
        };
    }
    let ty = Type::from_nibble(vt & 0x0F)?;
    Some(match ty {
        Type::Hello if client_sized => Packet::Hello { nonce: r.array()? },
        Type::Cookie => Packet::Cookie {
            nonce: r.array()?,
            cookie: r.array()?,
            server_key: r.array()?,
        },
        Type::Join if client_sized => Packet::Join {
            nonce: r.array()?,
            cookie: r.array()?,
            msg1: noise_msg(&mut r)?,
        },
        Type::Welcome => Packet::Welcome {
            nonce: r.array()?,
            session: r.u32()?,
            msg2: noise_msg(&mut r)?,
        },
        Type::Reject => Packet::Reject {
            nonce: r.array()?,
            reason: RejectReason::from_code(r.u8()?)?,
            version: VERSION,
        },
        // Unpadded client handshakes are dropped: answering them could amplify.
        Type::Hello | Type::Join => return None,
    })
}

/// A Noise message: a u16 length, then its bytes.
fn noise_msg<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let len = usize::from(r.u16()?);
    if len > MAX_NOISE_MSG {
        return None;
    }
    r.take(len)
}

/// The join request inside a Join's first Noise message: `0` for a new session, or `1`, the
/// session id, the resume counter and the proof.
pub(crate) fn join_payload(resume: Option<Resume>) -> Vec<u8> {
    match resume {
        None => vec![0],
        Some(r) => {
            let mut out = vec![1];
            out.extend_from_slice(&r.session.to_le_bytes());
            out.extend_from_slice(&r.counter.to_le_bytes());
            out.extend_from_slice(&r.proof);
            out
        }
    }
}

/// Reads [`join_payload`] back; `None` if malformed, `Some(None)` for a new session.
pub(crate) fn parse_join_payload(bytes: &[u8]) -> Option<Option<Resume>> {
    let mut r = Reader(bytes);
    let resume = match r.u8()? {
        0 => None,
        1 => Some(Resume {
            session: r.u32()?,
            counter: r.u32()?,
            proof: r.array()?,
        }),
        _ => return None,
    };
    r.0.is_empty().then_some(resume)
}

/// Appends to a buffer; the caller sizes packets so that nothing passes [`MAX_DATAGRAM`].
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().min(MAX_PATH_DATAGRAM) - self.len
    }

    /// Writes `bytes`; returns `false`, writing nothing, if they do not fit.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.remaining() {
            return false;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    fn start(&mut self, ty: Type) {
        self.put(&MAGIC);
        self.put(&[(VERSION << 4) | ty as u8]);
    }

    pub(crate) fn pad_to(&mut self, len: usize) {
        let target = len.min(self.buf.len()).min(MAX_PATH_DATAGRAM);
        if target > self.len {
            self.buf[self.len..target].fill(0);
            self.len = target;
        }
    }
}

pub(crate) fn write_hello(w: &mut Writer<'_>, nonce: &Nonce) {
    w.start(Type::Hello);
    w.put(nonce);
    w.pad_to(CLIENT_HELLO_LEN);
}

pub(crate) fn write_cookie(w: &mut Writer<'_>, nonce: &Nonce, cookie: &Secret, key: &[u8; 32]) {
    w.start(Type::Cookie);
    w.put(nonce);
    w.put(cookie);
    w.put(key);
}

fn put_noise(w: &mut Writer<'_>, msg: &[u8]) {
    let len = msg.len().min(MAX_NOISE_MSG);
    w.put(&(len as u16).to_le_bytes());
    w.put(&msg[..len]);
}

pub(crate) fn write_join(w: &mut Writer<'_>, nonce: &Nonce, cookie: &Secret, msg1: &[u8]) {
    w.start(Type::Join);
    w.put(nonce);
    w.put(cookie);
    put_noise(w, msg1);
    w.pad_to(CLIENT_HELLO_LEN);
}

pub(crate) fn write_welcome(w: &mut Writer<'_>, nonce: &Nonce, session: u32, msg2: &[u8]) {
    w.start(Type::Welcome);
    w.put(nonce);
    w.put(&session.to_le_bytes());
    put_noise(w, msg2);
}

pub(crate) fn write_reject(w: &mut Writer<'_>, nonce: &Nonce, reason: RejectReason) {
    w.start(Type::Reject);
    w.put(nonce);
    w.put(&[reason.code()]);
}
