//! Feeds arbitrary datagrams to the envelope decoder and to the echo server's rules.
//!
//! Checks that decoding never panics; that whatever decodes re-encodes, and that the re-encoded
//! bytes decode to the same envelope (including the sender's exact spelling) and re-encode to
//! the same bytes; and that the echo server never panics and never answers with more bytes than
//! it was sent (no amplification).
#![no_main]

use std::net::SocketAddr;

use dgram_proto::echo::{Answer, EchoServer};
use dgram_proto::{Envelope, Name, MAX_DATAGRAM};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode(data) {
        let bytes = env.encode().expect("a decoded envelope must re-encode");
        assert!(bytes.len() <= MAX_DATAGRAM);
        let again = Envelope::decode(&bytes).expect("a re-encoded envelope must decode");
        assert_eq!(again, env);
        assert_eq!(again.sender.as_str(), env.sender.as_str());
        assert_eq!(
            again.encode().expect("re-encode"),
            bytes,
            "encoding is not stable"
        );
    }

    let local: SocketAddr = ([127, 0, 0, 1], 7777).into();
    let peer: SocketAddr = ([127, 0, 0, 1], 40000).into();
    let server = EchoServer::new(Name::new("fuzz").expect("valid name"), local);
    let mut out = [0u8; MAX_DATAGRAM];
    if let Answer::Reply { len, .. } = server.answer(peer, data, &mut out) {
        assert!(
            len <= data.len(),
            "reply of {len} bytes to a {}-byte datagram",
            data.len()
        );
        assert!(len <= out.len());
    }
});
