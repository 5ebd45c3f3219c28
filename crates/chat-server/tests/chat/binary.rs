//! The `chat-server` binary as a container runs it: health checks, and a clean exit on SIGTERM.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use dgram_testkit::{sigterm_and_wait, Binary};

const BIN: Binary = Binary::new(env!("CARGO_BIN_EXE_chat-server"), "chat server listening");

/// Starts the binary on `listen` (port 0: a free one, read back from its JSON start line),
/// keeping its state in `data`, with `extra` flags.
pub(crate) fn spawn(data: &Path, listen: &str, extra: &[&str]) -> (Child, SocketAddr) {
    let flags = [
        OsStr::new("--listen"),
        listen.as_ref(),
        "--data-dir".as_ref(),
    ];
    let args = flags
        .into_iter()
        .chain([data.as_os_str()])
        .chain(extra.iter().map(OsStr::new));
    let started = BIN.spawn(args);
    (started.child, started.addr)
}

#[test]
fn healthcheck_and_sigterm() {
    let data = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = spawn(data.path(), "127.0.0.1:0", &[]);
    assert!(BIN.healthcheck(addr).0);
    let status = sigterm_and_wait(&mut child, Duration::from_secs(1));
    assert!(status.success(), "clean exit: {status}");
    let (healthy, took) = BIN.healthcheck(addr);
    assert!(!healthy, "nothing listens any more");
    assert!(took < Duration::from_millis(2500));
}
