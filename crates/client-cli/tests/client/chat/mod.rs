//! `client-cli chat`, `send` and `listen` against the real chat server, run in-process on a
//! free loopback port: scripting round trips, name claims, offline delivery, receipts and
//! reconnects ([`scripting`]), the identity and its export to another device ([`identity`]),
//! and the interactive client in a pseudo-terminal ([`tty`]).
//!
//! Every wait is bounded; each test has its own server and its own key directories.

mod crash;
mod identity;
mod pinning;
mod resume;
mod scripting;
mod status;
mod tty;
mod tui;
mod typing;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// The longest any single step may take before a test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A chat server on loopback, in a thread of its own; stopped when dropped.
pub(crate) struct ChatServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl ChatServer {
    /// On a free port.
    pub(crate) fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("literal"))
    }

    /// On `addr` (to come back on the port of one that stopped).
    /// Every in-memory server here has the same key: one that comes back is the same server
    /// to a client that pinned it (a real one keeps its key in its data directory).
    pub(crate) fn start_on(addr: SocketAddr) -> Self {
        let settings = chat_server::Settings {
            identity: Some(dgram_proto::session::Keypair::from_seed([0xC1; 32])),
            ..chat_server::Settings::default()
        };
        Self::start_with(addr, settings)
    }

    /// On `addr`, in memory, with the long-term key `identity`.
    pub(crate) fn start_keyed(addr: SocketAddr, identity: dgram_proto::session::Keypair) -> Self {
        let settings = chat_server::Settings {
            identity: Some(identity),
            ..chat_server::Settings::default()
        };
        Self::start_with(addr, settings)
    }

    /// On `addr`, keeping its state in `dir` (to come back with it after a restart).
    pub(crate) fn start_durable(addr: SocketAddr, dir: &Path) -> Self {
        let settings = chat_server::Settings {
            data_dir: Some(dir.to_owned()),
            ..chat_server::Settings::default()
        };
        Self::start_with(addr, settings)
    }

    fn start_with(addr: SocketAddr, settings: chat_server::Settings) -> Self {
        let socket = std::net::UdpSocket::bind(addr).expect("bind the chat server");
        socket.set_nonblocking(true).expect("non-blocking socket");
        let addr = socket.local_addr().expect("local address");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || serve(socket, stop, settings));
        Self {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server (its goodbye reaches every client) and waits for it.
    pub(crate) fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A directory for one client's claim keys, removed when dropped.
pub(crate) struct Home(tempfile::TempDir);

impl Home {
    pub(crate) fn new(tag: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("dgram-chat-test-{tag}-"))
            .tempdir()
            .expect("a temporary directory");
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }

    pub(crate) fn arg(&self) -> String {
        self.path().display().to_string()
    }
}

/// `client-cli` with an environment that leaks nothing of the developer's.
pub(crate) fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_client-cli"));
    command
        .args(args)
        .env_remove("CHAT_SERVER")
        .env_remove("DGRAM_NAME")
        .env_remove("XDG_CONFIG_HOME")
        .env("NO_COLOR", "1")
        .env("USER", "tester");
    command
}

/// Runs `client-cli send` to completion (bounded by its own --timeout).
pub(crate) fn send(server: SocketAddr, name: &str, home: &Home, extra: &[&str]) -> Output {
    let server = server.to_string();
    let home = home.arg();
    let mut args = vec!["send", "--server", &server, "--name", name, "--home", &home];
    if !extra.contains(&"--timeout") {
        args.extend(["--timeout", "5s"]);
    }
    args.extend_from_slice(extra);
    command(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run client-cli send")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A running `client-cli listen`, its stdout read line by line; stopped with SIGTERM.
pub(crate) struct Listener {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Listener {
    pub(crate) fn start(server: SocketAddr, name: &str, home: &Home, extra: &[&str]) -> Self {
        let server = server.to_string();
        let home = home.arg();
        let mut args = vec![
            "listen", "--server", &server, "--name", name, "--home", &home,
        ];
        args.extend_from_slice(extra);
        let mut child = command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start client-cli listen");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line that satisfies `want`, and returns it.
    pub(crate) fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("listen never printed {what}; it printed {:#?}", self.seen),
            }
        }
    }

    /// Waits for a JSON event for which `want` holds.
    pub(crate) fn wait_json(
        &mut self,
        what: &str,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let line = self.wait_for(what, |line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| want(&v))
        });
        serde_json::from_str(&line).expect("JSON")
    }

    /// Stops it as a service manager would, and returns how it exited and its stderr.
    pub(crate) fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for listen") {
                break status;
            }
            assert!(Instant::now() < deadline, "listen ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        (status, stderr)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a chat server on `socket` (bound, non-blocking) on this thread until `stop`: in a
/// thread of the test, or in a child process that a test kills.
pub(crate) fn serve(
    socket: std::net::UdpSocket,
    stop: CancellationToken,
    settings: chat_server::Settings,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the server");
    runtime.block_on(async move {
        let socket = tokio::net::UdpSocket::from_std(socket).expect("tokio socket");
        chat_server::run(socket, stop, settings)
            .await
            .expect("the chat server runs");
    });
}
