//! Feeds arbitrary session messages to the chat message decoders, `ClientMsg::decode` (what the
//! server reads from any client) and `ServerMsg::decode` (what a client reads from a server).
//!
//! Checks that decoding never panics, and that whatever decodes re-encodes to a message that
//! decodes to the same value and re-encodes to the same bytes.
#![no_main]

use dgram_proto::chat::{ClientMsg, ServerMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = ClientMsg::decode(data) {
        let bytes = msg
            .encode()
            .expect("a decoded client message must re-encode");
        let again = ClientMsg::decode(&bytes).expect("a re-encoded client message must decode");
        assert_eq!(again, msg);
        assert_eq!(
            again.encode().expect("re-encode"),
            bytes,
            "encoding is not stable"
        );
    }
    if let Ok(msg) = ServerMsg::decode(data) {
        let bytes = msg
            .encode()
            .expect("a decoded server message must re-encode");
        let again = ServerMsg::decode(&bytes).expect("a re-encoded server message must decode");
        assert_eq!(again, msg);
        assert_eq!(
            again.encode().expect("re-encode"),
            bytes,
            "encoding is not stable"
        );
    }
});
