//! A server binary as a container runs it: started with JSON logs on stderr, its address read
//! from its start line (so tests can ask for port 0), probed with its own `healthcheck`, and
//! stopped with SIGTERM.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A server binary: where it is (`env!("CARGO_BIN_EXE_…")`) and the message of the log line
/// it writes once it listens.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    path: &'static str,
    listening: &'static str,
}

/// A started binary.
#[derive(Debug)]
pub struct Started {
    /// The process.
    pub child: Child,
    /// The address from its start line.
    pub addr: SocketAddr,
    /// How many log lines came before the start line.
    pub logged_before: usize,
}

impl Binary {
    /// The binary at `path`, which logs `listening` (with its address in `local`) once ready.
    pub const fn new(path: &'static str, listening: &'static str) -> Self {
        Self { path, listening }
    }

    /// Starts the binary with `args` after `--log-format json` and waits for its start line.
    /// Its stderr is drained from then on, so that it never blocks on a full pipe.
    pub fn spawn<I>(&self, args: I) -> Started
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        let mut child = Command::new(self.path)
            .args(["--log-format", "json"])
            .args(args)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.path));
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut logged_before = 0;
        let start = loop {
            let line = lines.next().expect("a start line").expect("utf-8");
            let entry: serde_json::Value = serde_json::from_str(&line).expect("json log line");
            if entry["message"] == self.listening {
                break entry;
            }
            logged_before += 1;
        };
        let addr = start["local"]
            .as_str()
            .expect("local field")
            .parse()
            .expect("an address");
        std::thread::spawn(move || lines.for_each(drop));
        Started {
            child,
            addr,
            logged_before,
        }
    }

    /// Runs `healthcheck --server addr`: whether it passed, and how long it took.
    pub fn healthcheck(&self, addr: SocketAddr) -> (bool, Duration) {
        let start = Instant::now();
        let status = Command::new(self.path)
            .args(["healthcheck", "--server", &addr.to_string()])
            .stderr(Stdio::null())
            .status()
            .expect("run healthcheck");
        (status.success(), start.elapsed())
    }
}

/// Sends SIGTERM to `child` and waits for it to exit; panics if it is still running after
/// `within`. The exit status is the caller's to judge.
pub fn sigterm_and_wait(child: &mut Child, within: Duration) -> ExitStatus {
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(kill.success(), "kill -TERM {}: {kill}", child.id());
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(sent.elapsed() < within, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigterm_ends_a_process_and_hands_back_its_status() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let status = sigterm_and_wait(&mut child, Duration::from_secs(1));
        assert!(!status.success(), "killed by the signal: {status}");
    }

    #[test]
    fn a_process_that_ignores_sigterm_fails_the_bound() {
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 2"])
            .spawn()
            .expect("spawn sh");
        // Let the shell set its trap before the signal comes.
        std::thread::sleep(Duration::from_millis(200));
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sigterm_and_wait(&mut child, Duration::from_millis(100))
        }));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let message = waited.expect_err("still running past the bound");
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(message.contains("still running after"), "{message}");
    }
}
