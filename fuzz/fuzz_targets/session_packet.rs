//! Feeds arbitrary datagrams to the session packet parser (`parse`) and arbitrary bytes to the
//! data-packet frame parser (`parse_frames`).
//!
//! Checks that neither panics; that whatever parses writes back to bytes that parse to the same
//! packet (the short data header included); and that parsed frames (ACK, compact reliable,
//! NEXT, SHORT NEXT) write back in their shortest form to bytes that parse to the same frames
//! (see `dgram_proto::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dgram_proto::fuzzing::session_packet(data);
    dgram_proto::fuzzing::data_frames(data);
});
