//! The message envelope: who sent a message, what kind it is, the request id that pairs a
//! reply with its request, and the text it carries. Its bytes are the codec's business.

use crate::Name;

/// Pairs a reply with its request. Clients choose them; servers copy them into replies.
pub type RequestId = u64;

/// The most bytes an envelope spends on anything but its text payload: kind tag (1), optional
/// request id (1 + 9), error code (3), name length (1) and name ([`crate::MAX_NAME_BYTES`]),
/// text length (3), in bincode's varint encoding.
pub(crate) const MAX_HEADER: usize = 1 + 1 + 9 + 3 + 1 + crate::MAX_NAME_BYTES + 3;

/// The kind of a message, as it is tagged on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A request to echo text back, upper-cased.
    EchoRequest,
    /// The answer to an [`Kind::EchoRequest`].
    EchoReply,
    /// A request could not be served; says why.
    Error,
}

/// One message; one envelope is exactly one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Who sent it.
    pub sender: Name,
    /// What it says.
    pub body: Body,
}

/// The kind-specific part of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// Asks the echo service to answer with the text upper-cased.
    EchoRequest(Echo),
    /// The echo service's answer, with the request's id.
    EchoReply(Echo),
    /// A request failed.
    Error(ErrorReply),
}

/// The fields of an echo request or reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    /// Copied from request to reply.
    pub request_id: RequestId,
    /// The text (UTF-8, at most [`crate::MAX_PAYLOAD`] bytes).
    pub text: String,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The failed request's id, when the error answers one.
    pub request_id: Option<RequestId>,
    /// A machine-readable reason.
    pub code: ErrorCode,
    /// A human-readable explanation (UTF-8, at most [`crate::MAX_PAYLOAD`] bytes).
    pub message: String,
}

/// A machine-readable error reason. Unknown codes decode as they are, so that old clients can
/// still show the message of a newer server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// The request could not be decoded.
    pub const MALFORMED: Self = Self(1);
    /// The request or its answer would exceed a size limit.
    pub const TOO_LARGE: Self = Self(2);
    /// The sender is over its rate limit.
    pub const RATE_LIMITED: Self = Self(3);
    /// The request's protocol version is not spoken here.
    pub const UNSUPPORTED_VERSION: Self = Self(4);
}

impl Envelope {
    /// Builds an envelope.
    pub fn new(sender: Name, body: Body) -> Self {
        Self { sender, body }
    }
}

impl Body {
    /// The message kind.
    pub fn kind(&self) -> Kind {
        match self {
            Body::EchoRequest(_) => Kind::EchoRequest,
            Body::EchoReply(_) => Kind::EchoReply,
            Body::Error(_) => Kind::Error,
        }
    }

    /// The request id, for kinds that have one.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            Body::EchoRequest(e) | Body::EchoReply(e) => Some(e.request_id),
            Body::Error(e) => e.request_id,
        }
    }

    /// The text payload.
    pub fn payload(&self) -> &str {
        match self {
            Body::EchoRequest(e) | Body::EchoReply(e) => &e.text,
            Body::Error(e) => &e.message,
        }
    }
}
