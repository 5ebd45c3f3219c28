//! The `chat-server` binary as a container runs it: health checks, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chat-server");

/// Starts the binary on `listen` (port 0: a free one, read back from its JSON start line),
/// keeping its state in `data`, with `extra` flags.
pub(crate) fn spawn(data: &std::path::Path, listen: &str, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(BIN)
        .args(["--listen", listen, "--log-format", "json", "--data-dir"])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chat-server");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let start = lines
        .by_ref()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .find(|v| v["message"] == "chat server listening")
        .expect("a start line");
    let addr = start["local"]
        .as_str()
        .expect("local")
        .parse()
        .expect("addr");
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn healthy(addr: SocketAddr) -> bool {
    Command::new(BIN)
        .args(["healthcheck", "--server", &addr.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("run healthcheck")
        .success()
}

#[test]
fn healthcheck_and_sigterm() {
    let data = tempfile::tempdir().expect("tempdir");
    let (mut child, addr) = spawn(data.path(), "127.0.0.1:0", &[]);
    assert!(healthy(addr));
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
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
    let start = Instant::now();
    assert!(!healthy(addr), "nothing listens any more");
    assert!(start.elapsed() < Duration::from_millis(2500));
}
