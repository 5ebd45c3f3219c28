//! The one error type of `dgram-proto`: everything that can be wrong with a datagram, a name or
//! a message that someone asked to encode.

/// What went wrong while encoding, decoding or validating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram does not start with dgram's magic bytes: it is someone else's (or plain
    /// text, which the echo service answers the origin's way).
    #[error("not a dgram datagram (no magic prefix)")]
    Foreign,
    /// The prefix names a protocol version this build does not speak.
    #[error("unsupported protocol version {got} (this build speaks {supported})")]
    UnsupportedVersion {
        /// The version byte the datagram carried.
        got: u8,
        /// The version this build speaks.
        supported: u8,
    },
    /// A datagram is larger than dgram ever sends, or an envelope would encode to one.
    #[error("datagram of {size} bytes exceeds the limit of {limit} bytes")]
    Oversized {
        /// The size in bytes.
        size: usize,
        /// The limit in bytes ([`crate::MAX_DATAGRAM`]).
        limit: usize,
    },
    /// A text payload is longer than [`crate::MAX_PAYLOAD`].
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The datagram ended before the envelope did.
    #[error("datagram ends in the middle of the envelope")]
    Truncated,
    /// The envelope is complete but bytes follow it; one datagram is exactly one envelope.
    #[error("{extra} unexpected bytes after the envelope")]
    TrailingBytes {
        /// How many bytes follow the envelope.
        extra: usize,
    },
    /// The message kind is not one this build knows.
    #[error("unknown message kind {tag}")]
    UnknownKind {
        /// The kind's tag on the wire.
        tag: u32,
    },
    /// A text field is not valid UTF-8; dgram never converts lossily.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// The body could not be decoded for another reason (an overlong integer, say).
    #[error("malformed envelope: {detail}")]
    Malformed {
        /// What the decoder reported.
        detail: String,
    },
    /// A name is empty.
    #[error("name is empty")]
    EmptyName,
    /// A name has more than [`crate::MAX_NAME_CHARS`] characters after normalization.
    #[error("name has {chars} characters, more than the limit of {limit}")]
    NameTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// A name holds a character other than letters, digits, `_`, `-` and `.`.
    #[error("name may not contain {ch:?} (U+{code:04X}): only letters, digits, '_', '-' and '.'", code = u32::from(*ch))]
    NameCharacter {
        /// The first offending character.
        ch: char,
    },
    /// A message is larger than its delivery mode allows.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The message's size in bytes.
        size: usize,
        /// The limit for its delivery mode.
        limit: usize,
    },
    /// The session holds as much unacknowledged data as it may; try again once some is
    /// acknowledged.
    #[error("send buffer full: {messages} messages ({bytes} bytes) await acknowledgement")]
    SendBufferFull {
        /// Unacknowledged messages (or queued unreliable ones).
        messages: usize,
        /// Their bytes.
        bytes: usize,
    },
    /// The session already uses as many channels as it may.
    #[error("too many channels (limit {limit})")]
    TooManyChannels {
        /// The limit.
        limit: usize,
    },
    /// There is no session to send on (not yet connected, or no such session).
    #[error("not connected")]
    NotConnected,
}
