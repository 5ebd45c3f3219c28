//! The data packet's short header (version 3): one flags byte, the session id and the packet
//! number truncated to 2 to 4 bytes, 7 to 9 bytes in all where version 2 took 20. The receiver
//! rebuilds the full number from the largest it has seen, as RFC 9000's appendix A.3 does for
//! QUIC; the full number stays the AEAD nonce, and the header as sent is the associated data.
//! Acks left the header for an ACK frame (see `frames`), sent only when there is something new
//! to acknowledge.

use super::{Reader, Writer};

/// The flags byte of a data packet is `DATA_FLAGS | (number bytes - 1)`: `0xF8` to `0xFB`,
/// bytes that never occur in UTF-8 and are not the handshake's `0xFF`.
const DATA_FLAGS: u8 = 0xF8;
/// The bits of the flags byte that hold the number's length.
const LEN_MASK: u8 = 0x03;
/// The fewest bytes of packet number a sender writes: one byte would leave a window of 128
/// packets, which a burst reordered by the network could cross.
const MIN_NUMBER_LEN: u8 = 2;

/// Bytes of a data packet's header with the usual 2-byte packet number.
pub const HEADER_LEN: usize = 1 + 4 + MIN_NUMBER_LEN as usize;
/// Bytes of the longest data packet header (a 4-byte packet number).
pub const MAX_HEADER_LEN: usize = 1 + 4 + 4;

/// A data packet's header as it travels: the packet number truncated to `number_len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) session: u32,
    /// The low `number_len` bytes of the packet number.
    pub(crate) truncated: u32,
    pub(crate) number_len: u8,
}

impl Header {
    /// The header's bytes on the wire, which are the AEAD's associated data.
    pub(crate) fn len(&self) -> usize {
        1 + 4 + usize::from(self.number_len)
    }
}

/// Reads a data packet's header, or `None` if the datagram is not a data packet.
pub(super) fn parse_header(datagram: &[u8]) -> Option<Header> {
    let mut r = Reader(datagram);
    let flags = r.u8()?;
    if flags & !LEN_MASK != DATA_FLAGS {
        return None;
    }
    let number_len = (flags & LEN_MASK) + 1;
    let session = r.u32()?;
    let mut number = [0u8; 4];
    number[..usize::from(number_len)].copy_from_slice(r.take(usize::from(number_len))?);
    Some(Header {
        session,
        truncated: u32::from_le_bytes(number),
        number_len,
    })
}

/// Writes the header of packet `number`, truncated to `number_len` bytes (1 to 4).
pub(crate) fn write_header(w: &mut Writer<'_>, session: u32, number: u32, number_len: u8) {
    let number_len = number_len.clamp(1, 4);
    w.put(&[DATA_FLAGS | (number_len - 1)]);
    w.put(&session.to_le_bytes());
    w.put(&number.to_le_bytes()[..usize::from(number_len)]);
}

/// How many bytes of packet number to send so that the peer rebuilds it (RFC 9000 A.2): twice
/// the distance from the newest number the peer acknowledged must fit, so that anything the
/// peer may still take for its largest lies within half the window.
pub(crate) fn number_len(number: u32, largest_acked: u32) -> u8 {
    let unacked = u64::from(number.saturating_sub(largest_acked)).max(1);
    let bits_needed = 64 - (2 * unacked).leading_zeros();
    (bits_needed.div_ceil(8) as u8).clamp(MIN_NUMBER_LEN, 4)
}

/// The full packet number of a header (RFC 9000 A.3): the number closest to the one after
/// `largest` (the newest received, 0 if none) whose low bytes are the header's. `None` if that
/// falls outside the numbers a session uses (0, or beyond 32 bits).
pub(crate) fn decode_number(largest: u32, header: &Header) -> Option<u32> {
    let bits = 8 * u32::from(header.number_len);
    let expected = u64::from(largest) + 1;
    let window = 1u64 << bits;
    let half = window / 2;
    let candidate = (expected & !(window - 1)) | u64::from(header.truncated);
    let number = if candidate + half <= expected {
        candidate + window
    } else if candidate > expected + half && candidate >= window {
        candidate - window
    } else {
        candidate
    };
    u32::try_from(number).ok().filter(|&n| n != 0)
}

#[cfg(test)]
mod tests {
    use super::super::MAX_DATAGRAM;
    use super::*;

    fn header(number: u32, number_len: u8) -> Header {
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut w = Writer::new(&mut buf);
        write_header(&mut w, 7, number, number_len);
        let len = w.len();
        let h = parse_header(&buf[..len]).expect("parses");
        assert_eq!(h.len(), len);
        assert_eq!(h.session, 7);
        h
    }

    #[test]
    fn the_rfc_9000_example_decodes() {
        // RFC 9000 A.3: largest 0xa82f30ea, a 2-byte 0x9b32 decodes to 0xa82f9b32.
        let h = header(0xa82f_9b32, 2);
        assert_eq!(h.truncated, 0x9b32);
        assert_eq!(decode_number(0xa82f_30ea, &h), Some(0xa82f_9b32));
    }

    #[test]
    fn numbers_decode_across_every_wrap_of_their_truncation() {
        for len in 2..=4u8 {
            let window = 1u64 << (8 * len);
            // Around each wrap of the truncated field: just before, at and after it, with the
            // receiver's largest behind by up to just under half the window, or ahead of it
            // (a late packet).
            for wrap in [window, 2 * window, 5 * window] {
                let Ok(wrap) = u32::try_from(wrap) else {
                    continue;
                };
                for number in [wrap - 2, wrap - 1, wrap, wrap + 1, wrap + 3] {
                    let h = header(number, len);
                    let max_behind = (window / 2 - 1) as u32;
                    for largest in [
                        number - 1,
                        number.saturating_sub(max_behind),
                        number + 5,
                        number + 100,
                    ] {
                        assert_eq!(
                            decode_number(largest, &h),
                            Some(number),
                            "len {len} number {number:#x} largest {largest:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_first_and_the_last_numbers_decode() {
        assert_eq!(decode_number(0, &header(1, 2)), Some(1));
        assert_eq!(decode_number(0, &header(300, 2)), Some(300));
        let last = u32::MAX - 16;
        assert_eq!(decode_number(last - 1, &header(last, 2)), Some(last));
        assert_eq!(decode_number(last - 1, &header(last, 4)), Some(last));
        // Past 32 bits, and 0, are no packet of a session.
        assert_eq!(decode_number(u32::MAX, &header(0, 2)), None);
        assert_eq!(decode_number(0, &header(0, 2)), None);
    }

    #[test]
    fn the_sender_widens_the_number_as_acks_lag() {
        assert_eq!(number_len(1, 0), 2);
        assert_eq!(number_len(40_000, 39_000), 2);
        assert_eq!(number_len(40_000, 40_000 - 32_767), 2);
        assert_eq!(number_len(40_000, 40_000 - 32_768), 3);
        assert_eq!(number_len(9_000_000, 0), 4);
        // What the sender picks always decodes at a receiver as far behind as its acks say.
        for (number, acked) in [
            (70_000u32, 70_000 - 32_767),
            (9_000_000, 1),
            (u32::MAX - 16, 0),
        ] {
            let h = header(number, number_len(number, acked));
            assert_eq!(decode_number(acked, &h), Some(number), "{number} {acked}");
        }
    }

    #[test]
    fn handshake_bytes_are_no_data_header() {
        assert!(parse_header(&[0xFF, b'S', 0x35, 0, 0, 0, 0]).is_none());
        assert!(parse_header(&[0xF8, 1, 2, 3]).is_none());
        assert!(parse_header(&[0xF7, 1, 2, 3, 4, 5, 6]).is_none());
    }
}
