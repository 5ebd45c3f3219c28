//! Feeds arbitrary bytes to the session handshake's decoders: a Join's Noise first message to a
//! server, a Welcome's second message to a client mid-handshake, the join request inside the
//! first message, and a sealed data packet to a session's keys.
//!
//! Checks that none panics and that none accepts what it should not: a made-up Noise message
//! or a made-up sealed packet never authenticates (see `dgram_proto::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dgram_proto::fuzzing::handshake(data);
    dgram_proto::fuzzing::sealed_packet(data);
});
