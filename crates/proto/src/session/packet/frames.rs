//! The frames inside a data packet, after its header: acks, reliable messages and fragments,
//! unreliable messages, pings, goodbyes and skips; the parser that reads them all or none, and
//! the writer that picks each frame's shortest form.
//!
//! Lengths, channels and sequence numbers are varints (LEB128, shortest form only). A whole
//! reliable message that follows another reliable frame of the same packet, on the same channel
//! with the next sequence number, is a NEXT frame: its type and length only. Up to 127 bytes
//! (a chat line, a receipt) the length rides in the type byte itself, a SHORT NEXT: one byte
//! per message where version 3 spent two and version 2 eleven. On a link that charges by the
//! byte, a full packet of 100-byte messages is 13 bytes (0.9 %) shorter for it.

use super::{Reader, Writer};

/// Frame types inside a data packet.
pub(crate) mod frame {
    /// A whole reliable message: channel, seq, length (varints), bytes.
    pub(crate) const MESSAGE: u8 = 1;
    /// An unreliable message: channel, length (varints), bytes.
    pub(crate) const UNRELIABLE: u8 = 2;
    /// Asks for an ack; keeps NAT bindings and the peer's idle timer alive.
    pub(crate) const PING: u8 = 3;
    /// The sender is leaving: reason u8.
    pub(crate) const CLOSE: u8 = 4;
    /// The sender gave up on a reliable message: channel, seq (varints). The receiver stops
    /// waiting for it.
    pub(crate) const SKIP: u8 = 5;
    /// A fragment of a reliable message: channel, seq (varints), index u8, count u8 (2 or
    /// more), length (varint), bytes.
    pub(crate) const FRAGMENT: u8 = 6;
    /// A whole reliable message on the channel of the packet's previous reliable frame, with
    /// the sequence number after that frame's: length (varint), bytes.
    pub(crate) const NEXT: u8 = 7;
    /// An acknowledgement: largest, delay (in 200 µs units), missing (varints); bit `i` of
    /// missing set = packet `largest - 1 - i` was NOT received.
    pub(crate) const ACK: u8 = 8;
    /// Padding to the end of the packet, all zero bytes: a path MTU probe's size.
    pub(crate) const PADDING: u8 = 0;
    /// A NEXT frame whose length (0 to 127) is the type byte's low 7 bits: `SHORT_NEXT | len`,
    /// then the bytes. Every type byte with the high bit set is one.
    pub(crate) const SHORT_NEXT: u8 = 0x80;

    /// The longest fragment frame header: type, channel (3), seq (5), index, count, length
    /// (2: fragments are under 16 KiB).
    pub(crate) const RELIABLE_HEADER: usize = 1 + 3 + 5 + 1 + 1 + 2;
    /// The longest unreliable frame header.
    pub(crate) const UNRELIABLE_HEADER: usize = 1 + 3 + 2;
    /// The longest skip frame.
    pub(crate) const SKIP_LEN: usize = 1 + 3 + 5;
    /// The longest ACK frame.
    pub(crate) const ACK_LEN: usize = 1 + 5 + 5 + 5;
}

/// An acknowledgement of the packets received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ack {
    /// The newest packet number received (never 0).
    pub(crate) largest: u32,
    /// Bit `i` set: packet `largest - 1 - i` was received too.
    pub(crate) bits: u32,
    /// How long the receiver held the ack, in units of `ACK_DELAY_UNIT_MICROS`.
    pub(crate) delay: u32,
}

/// Whether packet `pn` is among those an ACK frame of (`largest`, `bits`) acknowledges: the
/// largest itself, and bit `i` for `largest - 1 - i`.
pub(crate) fn acks(largest: u32, bits: u32, pn: u32) -> bool {
    pn == largest || (pn < largest && largest - pn <= 32 && bits >> (largest - pn - 1) & 1 == 1)
}

impl Ack {
    /// The bits that name real packets (numbers from 1): missing ones outside them are not
    /// sent, so a full window is one byte.
    fn valid(largest: u32) -> u32 {
        match largest.saturating_sub(1) {
            n if n >= 32 => u32::MAX,
            n => (1u32 << n) - 1,
        }
    }
}

/// One parsed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    Reliable {
        channel: u16,
        seq: u32,
        index: u8,
        count: u8,
        data: &'a [u8],
    },
    Unreliable {
        channel: u16,
        data: &'a [u8],
    },
    Ping,
    Close {
        reason: u8,
    },
    Skip {
        channel: u16,
        seq: u32,
    },
    Ack(Ack),
}

impl<'a> Reader<'a> {
    fn channel(&mut self) -> Option<u16> {
        self.varint().and_then(|c| u16::try_from(c).ok())
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }
}

/// A packet's frames, parsed. Nearly every packet has a few (an ack and a message or two), so
/// they stay on the stack: parsing is on the path of every datagram received.
pub(crate) type Frames<'a> = smallvec::SmallVec<[Frame<'a>; 4]>;

/// Parses every frame of a data packet, or `None` if any is malformed (the packet is then
/// ignored whole, and not acknowledged). At most one ACK frame; a NEXT frame needs a reliable
/// frame before it; padding ends the packet (and is no frame of its own).
pub(crate) fn parse_frames(bytes: &[u8]) -> Option<Frames<'_>> {
    let mut frames = Frames::new();
    let mut r = Reader(bytes);
    let mut last: Option<(u16, u32)> = None;
    let mut acked = false;
    while !r.0.is_empty() {
        let frame = match r.u8()? {
            frame::MESSAGE => {
                let (channel, seq) = (r.channel()?, r.varint()?);
                let data = r.bytes()?;
                reliable(channel, seq, 0, 1, data)
            }
            frame::FRAGMENT => {
                let (channel, seq, index, count) = (r.channel()?, r.varint()?, r.u8()?, r.u8()?);
                if count < 2 || index >= count {
                    return None;
                }
                reliable(channel, seq, index, count, r.bytes()?)
            }
            frame::NEXT => {
                let (channel, seq) = last?;
                reliable(channel, seq.wrapping_add(1), 0, 1, r.bytes()?)
            }
            frame::UNRELIABLE => Frame::Unreliable {
                channel: r.channel()?,
                data: r.bytes()?,
            },
            frame::PING => Frame::Ping,
            frame::CLOSE => Frame::Close { reason: r.u8()? },
            frame::SKIP => Frame::Skip {
                channel: r.channel()?,
                seq: r.varint()?,
            },
            frame::ACK if !acked => {
                acked = true;
                let (largest, delay, missing) = (r.varint()?, r.varint()?, r.varint()?);
                let valid = Ack::valid(largest);
                if largest == 0 || missing & !valid != 0 {
                    return None;
                }
                Frame::Ack(Ack {
                    largest,
                    bits: !missing & valid,
                    delay,
                })
            }
            frame::PADDING if r.0.iter().all(|&b| b == 0) => break,
            ty if ty & frame::SHORT_NEXT != 0 => {
                let (channel, seq) = last?;
                let data = r.take(usize::from(ty & !frame::SHORT_NEXT))?;
                reliable(channel, seq.wrapping_add(1), 0, 1, data)
            }
            _ => return None,
        };
        if let Frame::Reliable { channel, seq, .. } = frame {
            last = Some((channel, seq));
        }
        frames.push(frame);
    }
    Some(frames)
}

fn reliable(channel: u16, seq: u32, index: u8, count: u8, data: &[u8]) -> Frame<'_> {
    Frame::Reliable {
        channel,
        seq,
        index,
        count,
        data,
    }
}

/// Frames as they go into one packet: remembers the packet's last reliable frame, so that the
/// message after it can be a NEXT frame.
#[derive(Debug, Default)]
pub(crate) struct FrameWriter {
    last: Option<(u16, u32)>,
}

/// A frame's fields, written in order once the whole frame is known to fit.
struct Fields {
    buf: [u8; frame::ACK_LEN],
    len: usize,
}

impl Fields {
    fn new(ty: u8) -> Self {
        let mut f = Self {
            buf: [0; frame::ACK_LEN],
            len: 0,
        };
        f.byte(ty);
        f
    }

    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.byte((v as u8 & 0x7F) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    /// Writes the fields and then `data`; nothing at all if both do not fit.
    fn put(&self, w: &mut Writer<'_>, data: &[u8]) -> bool {
        if w.remaining() < self.len + data.len() {
            return false;
        }
        w.put(&self.buf[..self.len]) && w.put(data)
    }
}

impl FrameWriter {
    /// Writes fragment `index` of `count` of message `seq` on `channel` in its shortest form;
    /// `false`, writing nothing, if it does not fit.
    pub(crate) fn reliable(
        &mut self,
        w: &mut Writer<'_>,
        (channel, seq): (u16, u32),
        (index, count): (u8, u8),
        data: &[u8],
    ) -> bool {
        let whole = count == 1;
        let next = whole && self.last == Some((channel, seq.wrapping_sub(1)));
        let f = if next && data.len() < usize::from(frame::SHORT_NEXT) {
            // The length is the type byte's low bits; no varint follows.
            Fields::new(frame::SHORT_NEXT | data.len() as u8)
        } else if next {
            let mut f = Fields::new(frame::NEXT);
            f.varint(data.len() as u32);
            f
        } else {
            let mut f = Fields::new(if whole {
                frame::MESSAGE
            } else {
                frame::FRAGMENT
            });
            f.varint(channel.into());
            f.varint(seq);
            if !whole {
                f.byte(index);
                f.byte(count);
            }
            f.varint(data.len() as u32);
            f
        };
        let written = f.put(w, data);
        if written {
            self.last = Some((channel, seq));
        }
        written
    }

    pub(crate) fn unreliable(&mut self, w: &mut Writer<'_>, channel: u16, data: &[u8]) -> bool {
        let mut f = Fields::new(frame::UNRELIABLE);
        f.varint(channel.into());
        f.varint(data.len() as u32);
        f.put(w, data)
    }

    pub(crate) fn skip(&mut self, w: &mut Writer<'_>, channel: u16, seq: u32) -> bool {
        let mut f = Fields::new(frame::SKIP);
        f.varint(channel.into());
        f.varint(seq);
        f.put(w, &[])
    }

    pub(crate) fn ack(&mut self, w: &mut Writer<'_>, ack: &Ack) -> bool {
        let mut f = Fields::new(frame::ACK);
        f.varint(ack.largest);
        f.varint(ack.delay);
        f.varint(!ack.bits & Ack::valid(ack.largest));
        f.put(w, &[])
    }

    /// Writes any parsed frame back (the fuzz targets' round trip).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn any(&mut self, w: &mut Writer<'_>, frame: &Frame<'_>) -> bool {
        match *frame {
            Frame::Reliable {
                channel,
                seq,
                index,
                count,
                data,
            } => self.reliable(w, (channel, seq), (index, count), data),
            Frame::Unreliable { channel, data } => self.unreliable(w, channel, data),
            Frame::Ping => w.put(&[frame::PING]),
            Frame::Close { reason } => w.put(&[frame::CLOSE, reason]),
            Frame::Skip { channel, seq } => self.skip(w, channel, seq),
            Frame::Ack(ack) => self.ack(w, &ack),
        }
    }
}

/// The bytes a reliable message adds to its data when it follows another in its packet (a
/// SHORT NEXT frame: up to 127 bytes), for overhead reports.
pub const fn frame_overhead_reliable() -> usize {
    1
}

#[cfg(test)]
mod tests;
