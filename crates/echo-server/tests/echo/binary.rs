//! The `echo-server` binary as a container runs it: health checks, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_echo-server");

/// Starts the binary on a free loopback port and reads the port from its JSON start line.
fn spawn() -> (Child, SocketAddr) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echo-server");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let line = lines.next().expect("a start line").expect("utf-8");
    let start: serde_json::Value = serde_json::from_str(&line).expect("json log line");
    assert_eq!(start["message"], "echo server listening", "{line}");
    let addr = start["local"]
        .as_str()
        .expect("local field")
        .parse()
        .expect("an address");
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn healthcheck(addr: SocketAddr) -> (bool, Duration) {
    let start = Instant::now();
    let status = Command::new(BIN)
        .args(["healthcheck", "--server", &addr.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("run healthcheck");
    (status.success(), start.elapsed())
}

#[test]
fn healthcheck_passes_against_a_server_and_fails_without_one() {
    let (mut child, addr) = spawn();
    assert!(healthcheck(addr).0, "healthy server");
    child.kill().expect("kill");
    child.wait().expect("reap");
    let (ok, took) = healthcheck(addr);
    assert!(!ok, "no server: unhealthy");
    assert!(took < Duration::from_millis(2500), "within 2 s: {took:?}");
}

#[test]
fn sigterm_exits_cleanly_within_a_second() {
    let (mut child, addr) = spawn();
    assert!(healthcheck(addr).0);
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(kill.success());
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "clean exit: {status}");
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "still running after 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
