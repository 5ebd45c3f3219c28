//! Shared builders for the proto tests.

use dgram_proto::{Body, Echo, Envelope, ErrorCode, ErrorReply, Name};

pub(crate) fn name(s: &str) -> Name {
    Name::new(s).expect("test names are valid")
}

pub(crate) fn echo_request(sender: &str, id: u64, text: &str) -> Envelope {
    Envelope::new(
        name(sender),
        Body::EchoRequest(Echo {
            request_id: id,
            text: text.into(),
        }),
    )
}

pub(crate) fn echo_reply(sender: &str, id: u64, text: &str) -> Envelope {
    Envelope::new(
        name(sender),
        Body::EchoReply(Echo {
            request_id: id,
            text: text.into(),
        }),
    )
}

pub(crate) fn error_reply(
    sender: &str,
    id: Option<u64>,
    code: ErrorCode,
    message: &str,
) -> Envelope {
    Envelope::new(
        name(sender),
        Body::Error(ErrorReply {
            request_id: id,
            code,
            message: message.into(),
        }),
    )
}
