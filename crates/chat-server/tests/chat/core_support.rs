//! Helpers for the tests of the chat core alone (no sockets, the clock in the test's hands).

use dgram_proto::Name;

pub(crate) fn name(s: &str) -> Name {
    Name::new(s).expect("a valid name")
}
