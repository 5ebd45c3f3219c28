//! The `echo-server` binary as a container runs it: health checks, and a clean exit on SIGTERM.

use std::time::Duration;

use dgram_testkit::{sigterm_and_wait, Binary, Started};

const BIN: Binary = Binary::new(env!("CARGO_BIN_EXE_echo-server"), "echo server listening");

/// Starts the binary on a free loopback port; its start line is the first thing it logs.
fn spawn() -> Started {
    let started = BIN.spawn(["--listen", "127.0.0.1:0"]);
    assert_eq!(started.logged_before, 0, "the start line comes first");
    started
}

#[test]
fn healthcheck_passes_against_a_server_and_fails_without_one() {
    let Started {
        mut child, addr, ..
    } = spawn();
    assert!(BIN.healthcheck(addr).0, "healthy server");
    child.kill().expect("kill");
    child.wait().expect("reap");
    let (ok, took) = BIN.healthcheck(addr);
    assert!(!ok, "no server: unhealthy");
    assert!(took < Duration::from_millis(2500), "within 2 s: {took:?}");
}

#[test]
fn sigterm_exits_cleanly_within_a_second() {
    let Started {
        mut child, addr, ..
    } = spawn();
    assert!(BIN.healthcheck(addr).0);
    let status = sigterm_and_wait(&mut child, Duration::from_secs(1));
    assert!(status.success(), "clean exit: {status}");
}
