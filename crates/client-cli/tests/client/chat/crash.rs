//! The line client across a real crash of its server: the server process is killed with
//! SIGKILL (no goodbye, nothing flushed beyond what it committed) and started again on the
//! same port and data directory. What was typed meanwhile (before the client noticed, and
//! after) is sent once a session is back, each message ends in one final state on the screen
//! (none "not delivered"), and the room's history holds each exactly once.
//!
//! The server runs in a process of its own: this test binary started again with only
//! [`server_process`] selected, which serves until it is killed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tty::{Tty, CHOOSE};
use super::{Home, Listener};

/// Where the server process listens (`127.0.0.1:0` for any port) and keeps its state.
const LISTEN_VAR: &str = "DGRAM_TEST_CHAT_LISTEN";
const DATA_VAR: &str = "DGRAM_TEST_CHAT_DATA";

/// What the server process prints once it listens, before its address.
const LISTENING: &str = "dgram test chat server listening on ";

/// How long the client may take to notice a dead server (8 s of silence while a message
/// waits) and to come back after the restart, with slack for a loaded machine.
const CRASH_WAIT: Duration = Duration::from_secs(30);

/// Not a test of its own: the chat server process [`a_line_typed_around_a_crash_goes_once`]
/// starts (this binary again, with this test selected and the variables set) and kills.
/// Without the variables (a run of every ignored test) it has nothing to serve and returns.
#[test]
#[ignore = "the crash test's server process; run only by that test"]
fn server_process() {
    let (Ok(listen), Ok(data)) = (std::env::var(LISTEN_VAR), std::env::var(DATA_VAR)) else {
        return;
    };
    let socket = std::net::UdpSocket::bind(listen.as_str()).expect("bind the chat server");
    socket.set_nonblocking(true).expect("non-blocking socket");
    let addr = socket.local_addr().expect("local address");
    let settings = chat_server::Settings {
        data_dir: Some(data.into()),
        ..chat_server::Settings::default()
    };
    // The socket is bound: whatever the parent sends once it reads this waits in its queue.
    println!("{LISTENING}{addr}");
    super::serve(socket, tokio_util::sync::CancellationToken::new(), settings);
}

/// The server process, killed with SIGKILL when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(listen: &str, data: &Path) -> Self {
        let exe = std::env::current_exe().expect("the test binary");
        let mut child = Command::new(exe)
            .args(["--ignored", "--exact", "chat::crash::server_process"])
            .args(["--nocapture", "--test-threads", "1"])
            .env(LISTEN_VAR, listen)
            .env(DATA_VAR, data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().expect("the server says where it listens");
            let line = line.expect("its output");
            // After libtest's own `test … ` on the same line.
            if let Some((_, addr)) = line.split_once(LISTENING) {
                break addr.trim().parse().expect("an address");
            }
        };
        // Keep reading, so that a full pipe never stops the server.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    /// SIGKILL: no goodbye to the clients, no clean shutdown of the store.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to [`CRASH_WAIT`] for `text` on the screen.
fn wait_long(tty: &Tty, text: &str) {
    let deadline = Instant::now() + CRASH_WAIT;
    while !tty.rows().0.iter().any(|r| r.contains(text)) {
        assert!(
            Instant::now() < deadline,
            "the screen never showed {text:?}:\n{}",
            tty.rows().0.join("\n").trim_end()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rows_with(tty: &Tty, text: &str) -> Vec<String> {
    let rows = tty.rows().0.into_iter().filter(|r| r.contains(text));
    rows.map(|r| r.trim_end().to_owned()).collect()
}

#[test]
fn a_line_typed_around_a_crash_goes_once() {
    let data = Home::new("crash-data");
    let server = ServerProcess::start("127.0.0.1:0", data.path());
    let addr = server.addr;
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let newcomer_home = Home::new("newcomer");
    let tty = Tty::start(addr, "egon", &egon_home);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("#lobby\r");
    tty.wait_for_text("joined #lobby");
    tty.wait_for_input_line("to #lobby> ");
    // The server has the first message (a member of the room got it) before it dies.
    let mut alex = Listener::start(addr, "alex", &alex_home, &["--json", "--join", "lobby"]);
    alex.wait_json("its join", |v| v["event"] == "joined");
    tty.type_keys("before the crash\r");
    alex.wait_json("the first message", |v| v["text"] == "before the crash");
    alex.stop();

    server.kill();
    // Typed before the client can know: it goes out into the silence, and waits.
    tty.type_keys("typed unnoticed\r");
    wait_long(&tty, "disconnected from");
    // Once the client knows, it says that the line waits.
    tty.wait_for_text("\"typed unnoticed\": queued until connected");
    // Typed once the client knows the server is gone.
    tty.type_keys("typed while down\r");
    tty.wait_for_text("typed while down  (queued until connected)");

    let _server = ServerProcess::start(&addr.to_string(), data.path());
    wait_long(&tty, "joining #lobby again");
    // Each says once that it went out after all: `→ #lobby "TEXT" #ID: accepted`.
    for text in ["typed unnoticed", "typed while down"] {
        wait_long(&tty, &format!("\"{text}\" #"));
    }
    // Let any second answer or resend show itself before counting.
    std::thread::sleep(Duration::from_secs(2));
    let (rows, _) = tty.rows();
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("not delivered") || r.contains("before the crash\"")),
        "nothing is lost:\n{}",
        rows.join("\n").trim_end()
    );
    for text in ["typed unnoticed", "typed while down"] {
        let finals = rows_with(&tty, &format!("\"{text}\" #"));
        assert_eq!(finals.len(), 1, "one final state for {text:?}: {rows:#?}");
        let waits = rows_with(&tty, &format!("{text}  (queued until connected)"));
        let waits = waits.len() + rows_with(&tty, &format!("\"{text}\": queued")).len();
        assert_eq!(waits, 1, "said to wait once, {text:?}: {rows:#?}");
    }

    // The room's history has each message once: a newcomer's join replays it.
    let mut newcomer = Listener::start(
        addr,
        "newcomer",
        &newcomer_home,
        &["--json", "--join", "lobby"],
    );
    newcomer.wait_json("the replay's end", |v| v["text"] == "typed while down");
    let texts: Vec<String> = newcomer
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    newcomer.stop();
    for text in ["before the crash", "typed unnoticed", "typed while down"] {
        let n = texts.iter().filter(|t| *t == text).count();
        assert_eq!(n, 1, "{text:?} is in the history once: {texts:?}");
    }
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
}
