//! The wire format, and the only module that knows about bincode.
//!
//! A datagram is a 4-byte prefix, `0xFF 'D' 'G' VERSION`, then the body in bincode 2 (serde,
//! `config::standard()`: varint integers, length-prefixed strings). `0xFF` never occurs in
//! UTF-8, so no line of text anyone types can be mistaken for an envelope, and foreign or future
//! datagrams are turned away before any decoding. The body is decoded by borrowing from the
//! datagram, so a length field can never make the decoder allocate more than the datagram holds.

use bincode::error::{DecodeError, EncodeError};
use serde::{Deserialize, Serialize};

use crate::envelope::{Body, Echo, Envelope, ErrorCode, ErrorReply};
use crate::{Error, Name, MAX_DATAGRAM, MAX_PAYLOAD};

/// The bytes every dgram datagram starts with.
pub const MAGIC: [u8; 3] = [0xFF, b'D', b'G'];
/// The protocol version this build speaks; the fourth byte of every datagram.
pub const VERSION: u8 = 1;
/// The length of the prefix (magic and version).
pub const PREFIX_LEN: usize = MAGIC.len() + 1;

/// Whether a datagram claims to be dgram's (of any version), by its magic bytes alone.
pub fn is_envelope(datagram: &[u8]) -> bool {
    datagram.starts_with(&MAGIC)
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_DATAGRAM>()
}

/// How many variants [`Wire`] has.
const KINDS: u32 = 3;

/// The body as it is laid out on the wire. Variant order is the kind tag: append, never reorder.
#[derive(Serialize, Deserialize)]
enum Wire<'a> {
    EchoRequest {
        id: u64,
        #[serde(borrow)]
        sender: &'a str,
        #[serde(borrow)]
        text: &'a str,
    },
    EchoReply {
        id: u64,
        #[serde(borrow)]
        sender: &'a str,
        #[serde(borrow)]
        text: &'a str,
    },
    Error {
        id: Option<u64>,
        code: u16,
        #[serde(borrow)]
        sender: &'a str,
        #[serde(borrow)]
        message: &'a str,
    },
}

// The envelope's own encoding methods live here, beside the format they speak, so that the
// envelope module is plain types and nothing imports back from it into this one.
impl Envelope {
    /// The protocol version this envelope is encoded with (it travels in the prefix).
    pub fn version(&self) -> u8 {
        VERSION
    }

    /// Encodes into `buf`, returning the datagram's length. `buf` of [`crate::MAX_DATAGRAM`]
    /// bytes always suffices.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        encode_into(self, buf)
    }

    /// Encodes into a new datagram.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut buf = [0u8; crate::MAX_DATAGRAM];
        let len = encode_into(self, &mut buf)?;
        Ok(buf[..len].to_vec())
    }

    /// Decodes one datagram. Never panics, and allocates no more than the datagram holds.
    pub fn decode(datagram: &[u8]) -> Result<Self, Error> {
        decode(datagram)
    }
}

pub(crate) fn encode_into(env: &Envelope, buf: &mut [u8]) -> Result<usize, Error> {
    let payload = env.body.payload().len();
    if payload > MAX_PAYLOAD {
        return Err(Error::PayloadTooLarge {
            size: payload,
            limit: MAX_PAYLOAD,
        });
    }
    let sender = env.sender.as_str();
    let wire = match &env.body {
        Body::EchoRequest(e) => Wire::EchoRequest {
            id: e.request_id,
            sender,
            text: &e.text,
        },
        Body::EchoReply(e) => Wire::EchoReply {
            id: e.request_id,
            sender,
            text: &e.text,
        },
        Body::Error(e) => Wire::Error {
            id: e.request_id,
            code: e.code.0,
            sender,
            message: &e.message,
        },
    };
    let limit = buf.len().min(MAX_DATAGRAM);
    if limit < PREFIX_LEN {
        return Err(oversized(&wire, limit));
    }
    buf[..MAGIC.len()].copy_from_slice(&MAGIC);
    buf[MAGIC.len()] = VERSION;
    let body = match bincode::serde::encode_into_slice(&wire, &mut buf[PREFIX_LEN..limit], config())
    {
        Ok(n) => n,
        Err(EncodeError::UnexpectedEnd) => return Err(oversized(&wire, limit)),
        Err(e) => return Err(encode_error(e)),
    };
    Ok(PREFIX_LEN + body)
}

/// Cold path: measures what did not fit, so that the error can name the size.
fn oversized(wire: &Wire<'_>, limit: usize) -> Error {
    let body = bincode::serde::encode_to_vec(wire, config()).map_or(usize::MAX, |v| v.len());
    Error::Oversized {
        size: body.saturating_add(PREFIX_LEN),
        limit,
    }
}

// Every field is an integer or a string and the size was checked first, so bincode has no
// reason left to fail; should it anyway, the caller still gets an error, never a panic.
fn encode_error(e: EncodeError) -> Error {
    Error::Malformed {
        detail: e.to_string(),
    }
}

pub(crate) fn decode(datagram: &[u8]) -> Result<Envelope, Error> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Error::Oversized {
            size: datagram.len(),
            limit: MAX_DATAGRAM,
        });
    }
    if !is_envelope(datagram) {
        return Err(Error::Foreign);
    }
    let Some(&version) = datagram.get(MAGIC.len()) else {
        return Err(Error::Truncated);
    };
    if version != VERSION {
        return Err(Error::UnsupportedVersion {
            got: version,
            supported: VERSION,
        });
    }
    let body = &datagram[PREFIX_LEN..];
    // The kind tag leads the body; an unknown one is named as such rather than as malformed.
    let (tag, _): (u32, usize) =
        bincode::decode_from_slice(body, config()).map_err(decode_error)?;
    if tag >= KINDS {
        return Err(Error::UnknownKind { tag });
    }
    let (wire, used): (Wire<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(body, config()).map_err(decode_error)?;
    if used != body.len() {
        return Err(Error::TrailingBytes {
            extra: body.len() - used,
        });
    }
    let (sender, body) = match wire {
        Wire::EchoRequest { id, sender, text } => (sender, Body::EchoRequest(echo(id, text)?)),
        Wire::EchoReply { id, sender, text } => (sender, Body::EchoReply(echo(id, text)?)),
        Wire::Error {
            id,
            code,
            sender,
            message,
        } => (
            sender,
            Body::Error(ErrorReply {
                request_id: id,
                code: ErrorCode(code),
                message: payload(message)?.to_owned(),
            }),
        ),
    };
    Ok(Envelope {
        sender: Name::new(sender)?,
        body,
    })
}

fn echo(request_id: u64, text: &str) -> Result<Echo, Error> {
    Ok(Echo {
        request_id,
        text: payload(text)?.to_owned(),
    })
}

fn payload(text: &str) -> Result<&str, Error> {
    if text.len() > MAX_PAYLOAD {
        return Err(Error::PayloadTooLarge {
            size: text.len(),
            limit: MAX_PAYLOAD,
        });
    }
    Ok(text)
}

fn decode_error(e: DecodeError) -> Error {
    match e {
        DecodeError::UnexpectedEnd { .. } => Error::Truncated,
        DecodeError::Utf8 { .. } => Error::InvalidUtf8,
        other => Error::Malformed {
            detail: other.to_string(),
        },
    }
}

/// The first bytes of every chat message inside a session: `'C'` and the chat protocol version.
/// Version 2 added the client's message id (`txn`) to `Send`.
pub const CHAT_PREFIX: [u8; 2] = [b'C', 2];

/// The chat protocol versions before this one whose `ServerMsg::Error` is laid out as this
/// one's, so that a client of one of them can still be told to upgrade.
const CHAT_LEGACY: &[u8] = &[1];

/// `msg` under an older chat version's prefix: `None` for a version that cannot read it.
/// Only for an error that tells an old client to upgrade (the caller picks one whose layout
/// did not change).
pub(crate) fn encode_chat_legacy<T: Serialize>(msg: &T, version: u8) -> Option<Vec<u8>> {
    if !CHAT_LEGACY.contains(&version) {
        return None;
    }
    let mut out = encode_chat(msg).ok()?;
    out[1] = version;
    Some(out)
}

fn chat_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ crate::session::MAX_MESSAGE }>()
}

pub(crate) fn encode_chat<T: Serialize>(msg: &T) -> Result<Vec<u8>, Error> {
    // Straight into one buffer after the prefix: most messages fit the first allocation (a
    // chat message with its names, id and timestamp is about 50 bytes more than its text).
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&CHAT_PREFIX);
    bincode::serde::encode_into_std_write(msg, &mut out, chat_config()).map_err(encode_error)?;
    if out.len() > crate::session::MAX_MESSAGE {
        return Err(Error::MessageTooLarge {
            size: out.len(),
            limit: crate::session::MAX_MESSAGE,
        });
    }
    Ok(out)
}

/// Chat messages arrive whole from a session (at most 64 KiB), and every length in them is
/// checked against that limit before anything is allocated.
pub(crate) fn decode_chat<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let Some(body) = bytes.strip_prefix(&CHAT_PREFIX[..]) else {
        return Err(if bytes.first() == Some(&CHAT_PREFIX[0]) {
            Error::UnsupportedVersion {
                got: bytes.get(1).copied().unwrap_or(0),
                supported: CHAT_PREFIX[1],
            }
        } else {
            Error::Foreign
        });
    };
    let (msg, used) =
        bincode::serde::decode_from_slice(body, chat_config()).map_err(decode_error)?;
    if used != body.len() {
        return Err(Error::TrailingBytes {
            extra: body.len() - used,
        });
    }
    Ok(msg)
}
