//! The frames inside a data packet, after its 20-byte header: reliable fragments, unreliable
//! messages, pings, goodbyes and skips, and the parser that reads them all or none.

use super::Reader;

/// Frame types inside a data packet.
pub(crate) mod frame {
    /// A fragment of a reliable message: channel u16, seq u32, index u8, count u8, len u16.
    pub(crate) const RELIABLE: u8 = 1;
    /// An unreliable message: channel u16, len u16.
    pub(crate) const UNRELIABLE: u8 = 2;
    /// Asks for an ack; keeps NAT bindings and the peer's idle timer alive.
    pub(crate) const PING: u8 = 3;
    /// The sender is leaving: reason u8.
    pub(crate) const CLOSE: u8 = 4;
    /// The sender gave up on a reliable message: channel u16, seq u32. The receiver stops
    /// waiting for it.
    pub(crate) const SKIP: u8 = 5;

    pub(crate) const RELIABLE_HEADER: usize = 1 + 2 + 4 + 1 + 1 + 2;
    pub(crate) const UNRELIABLE_HEADER: usize = 1 + 2 + 2;
    pub(crate) const SKIP_LEN: usize = 1 + 2 + 4;
}

/// One parsed frame.
#[derive(Debug, PartialEq, Eq)]
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
}

/// Parses every frame of a data packet, or `None` if any is malformed (the packet is then
/// ignored whole, and not acknowledged).
pub(crate) fn parse_frames(mut bytes: &[u8]) -> Option<Vec<Frame<'_>>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let mut r = Reader(bytes);
        let frame = match r.u8()? {
            frame::RELIABLE => {
                let (channel, seq, index, count) = (r.u16()?, r.u32()?, r.u8()?, r.u8()?);
                let len = usize::from(r.u16()?);
                if count == 0 || index >= count {
                    return None;
                }
                Frame::Reliable {
                    channel,
                    seq,
                    index,
                    count,
                    data: r.take(len)?,
                }
            }
            frame::UNRELIABLE => {
                let channel = r.u16()?;
                let len = usize::from(r.u16()?);
                Frame::Unreliable {
                    channel,
                    data: r.take(len)?,
                }
            }
            frame::PING => Frame::Ping,
            frame::CLOSE => Frame::Close { reason: r.u8()? },
            frame::SKIP => Frame::Skip {
                channel: r.u16()?,
                seq: r.u32()?,
            },
            _ => return None,
        };
        frames.push(frame);
        bytes = r.0;
    }
    Some(frames)
}

/// The bytes a reliable fragment adds to its data, for overhead reports.
pub const fn frame_overhead_reliable() -> usize {
    frame::RELIABLE_HEADER
}
