//! The interactive `client-cli chat` in a pseudo-terminal, read through a terminal emulator
//! (vt100) so that the tests see the screen a person would: a half-typed line survives an
//! incoming message, and the origin's flow (choose, send, `quit` back to choosing, `q` out).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, PtySize};

use super::{send, ChatServer, Home, Listener, WAIT};

const ROWS: u16 = 40;
const COLS: u16 = 120;

/// The origin's question at the prompt.
pub(super) const CHOOSE: &str = "请选择聊天对象 / chat with: ";

/// `client-cli chat` on a pseudo-terminal.
pub(super) struct Tty {
    child: Box<dyn Child + Send + Sync>,
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    cols: u16,
}

impl Tty {
    pub(super) fn start(server: SocketAddr, name: &str, home: &Home) -> Self {
        Self::start_sized(server, name, home, COLS)
    }

    /// On a terminal `cols` columns wide.
    pub(super) fn start_sized(server: SocketAddr, name: &str, home: &Home, cols: u16) -> Self {
        Self::start_with(server, name, home, cols, &[])
    }

    /// On a terminal `cols` columns wide, with more arguments for `chat`.
    pub(super) fn start_with(
        server: SocketAddr,
        name: &str,
        home: &Home,
        cols: u16,
        extra: &[&str],
    ) -> Self {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_client-cli"));
        let server = server.to_string();
        let home = home.arg();
        cmd.args(["chat", "--server", &server, "--name", name, "--home", &home]);
        cmd.args(extra);
        for var in ["CHAT_SERVER", "DGRAM_NAME", "XDG_CONFIG_HOME", "NO_COLOR"] {
            cmd.env_remove(var);
        }
        cmd.env("TERM", "xterm-256color");
        let child = pty.slave.spawn_command(cmd).expect("start client-cli chat");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer = Arc::new(Mutex::new(pty.master.take_writer().expect("pty writer")));
        let size = |n| std::num::NonZeroU16::new(n).expect("a screen size");
        let parser = vt100::Parser::new(size(ROWS), size(cols), 0);
        let screen = Arc::new(Mutex::new(parser));
        // The reader thread keeps the emulator's screen current, and answers the editor's
        // cursor-position query the way a terminal does.
        std::thread::spawn({
            let (screen, writer) = (Arc::clone(&screen), Arc::clone(&writer));
            let master = pty.master;
            move || {
                let _keep_open = master;
                let mut buf = [0u8; 4096];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut parser = screen.lock().expect("screen lock");
                    parser.process(&buf[..n]);
                    if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                        let (row, col) = parser.screen().cursor_position();
                        let answer = format!("\x1b[{};{}R", row + 1, col + 1);
                        let mut w = writer.lock().expect("writer lock");
                        let _ = w.write_all(answer.as_bytes()).and_then(|()| w.flush());
                    }
                }
            }
        });
        Self {
            child,
            screen,
            writer,
            cols,
        }
    }

    /// Whether the program has the alternate screen up (a full-screen program does).
    pub(super) fn alternate_screen(&self) -> bool {
        self.screen
            .lock()
            .expect("screen lock")
            .screen()
            .alternate_screen()
    }

    /// Sends SIGTERM, as a service manager or `kill` would.
    pub(super) fn terminate(&self) {
        let pid = self
            .child
            .process_id()
            .expect("a running child")
            .to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
    }

    pub(super) fn type_keys(&self, keys: &str) {
        let mut w = self.writer.lock().expect("writer lock");
        w.write_all(keys.as_bytes()).expect("type into the pty");
        w.flush().expect("flush the pty");
    }

    /// The screen's rows, and the row the cursor is on.
    pub(super) fn rows(&self) -> (Vec<String>, usize) {
        let parser = self.screen.lock().expect("screen lock");
        let screen = parser.screen();
        let rows = screen.rows(0, self.cols).collect();
        (rows, usize::from(screen.cursor_position().0))
    }

    /// Waits until `want` holds for the screen (its rows and the cursor's row).
    pub(super) fn wait_for(&self, what: &str, want: impl Fn(&[String], usize) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (rows, cursor) = self.rows();
            if want(&rows, cursor) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}:\n{}",
                rows.join("\n").trim_end()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the cursor's row reads `line`: the prompt and what is typed after it.
    pub(super) fn wait_for_input_line(&self, line: &str) {
        self.wait_for(&format!("the input line {line:?}"), |rows, cursor| {
            rows[cursor].trim_end() == line.trim_end()
        });
    }

    pub(super) fn wait_for_text(&self, text: &str) {
        self.wait_for(text, |rows, _| rows.iter().any(|r| r.contains(text)));
    }

    /// Waits for the process to end, and returns its exit code.
    pub(super) fn exit_code(mut self) -> u32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for chat") {
                return status.exit_code();
            }
            assert!(Instant::now() < deadline, "chat did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

#[test]
fn a_half_typed_line_survives_an_incoming_message() {
    let server = ChatServer::start();
    let (li_home, alex_home) = (Home::new("li"), Home::new("alex"));
    // alex claims the name first, so that 黎诗 can choose them.
    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "alex", "hi me"],
    );
    assert!(out.status.success(), "{out:?}");

    let tty = Tty::start(server.addr(), "黎诗", &li_home);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("alex\r");
    tty.wait_for_input_line("to alex> ");
    tty.type_keys("half a li");
    tty.wait_for_input_line("to alex> half a li");

    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "黎诗", "incoming while typing"],
    );
    assert!(out.status.success(), "{out:?}");
    tty.wait_for("the DM above the intact input line", |rows, cursor| {
        let shown = rows[..cursor]
            .iter()
            .any(|r| r.contains("[DM] alex: incoming while typing"));
        shown && rows[cursor].trim_end() == "to alex> half a li"
    });

    // Finishing the line sends all of it: alex, offline now, finds it on return.
    tty.type_keys("ne\r");
    tty.wait_for_text("\"half a line\"");
    let mut alex = Listener::start(server.addr(), "alex", &alex_home, &["--json"]);
    // (The "hi me" alex's own script sent earlier waits for alex's reader too.)
    let got = alex.wait_json("the finished line", |v| {
        v["event"] == "message" && v["text"] == "half a line"
    });
    assert_eq!(
        (got["from"].as_str(), got["text"].as_str()),
        (Some("黎诗"), Some("half a line"))
    );
    alex.stop();

    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
}

#[test]
fn the_origins_flow_choose_send_quit_leave() {
    let server = ChatServer::start();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let mut alex = Listener::start(server.addr(), "alex", &alex_home, &["--json"]);
    alex.wait_json("its welcome", |v| v["event"] == "welcome");

    let tty = Tty::start(server.addr(), "egon", &egon_home);
    // The chooser lists who is online.
    tty.wait_for("the online list", |rows, _| {
        rows.iter()
            .any(|r| r.contains("在线 / online (2)") && r.contains("alex") && r.contains("egon"))
    });
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("alex\r");
    tty.wait_for_input_line("to alex> ");
    tty.type_keys("hello from the prompt\r");
    let got = alex.wait_json("egon's message", |v| v["event"] == "message");
    assert_eq!(got["text"], "hello from the prompt");

    // quit goes back to choosing, and the list comes again.
    tty.type_keys("quit\r");
    tty.wait_for_input_line(CHOOSE);
    tty.wait_for("the list again", |rows, _| {
        rows.iter()
            .filter(|r| r.contains("在线 / online (2)"))
            .count()
            >= 2
    });
    // Tab completes a name seen online; /whois shows the address, the origin's way too.
    tty.type_keys("/whois al\t");
    tty.wait_for_input_line(&format!("{CHOOSE}/whois alex"));
    tty.type_keys("\r");
    tty.wait_for_text("来自[127.0.0.1:");
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    alex.stop();
}

#[test]
fn what_is_typed_while_the_server_is_away_goes_once_it_is_back() {
    let server = ChatServer::start();
    let addr = server.addr();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let tty = Tty::start(addr, "egon", &egon_home);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("#lobby\r");
    tty.wait_for_text("joined #lobby");
    tty.wait_for_input_line("to #lobby> ");

    server.stop();
    tty.wait_for_text("disconnected from");
    tty.type_keys("typed while away\r");
    tty.wait_for_text("typed while away  (queued until connected)");

    let _server = ChatServer::start_on(addr);
    tty.wait_for_text("reconnected as egon");
    tty.wait_for_text("joining #lobby again");
    tty.wait_for_text("\"typed while away\" #");
    // The room has it: a newcomer's join replays it.
    let mut alex = Listener::start(addr, "alex", &alex_home, &["--json", "--join", "lobby"]);
    let got = alex.wait_json("the message", |v| v["event"] == "message");
    assert_eq!(
        (got["from"].as_str(), got["text"].as_str()),
        (Some("egon"), Some("typed while away"))
    );
    alex.stop();

    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
}

#[test]
fn a_message_over_the_limit_is_offered_in_parts() {
    let server = ChatServer::start();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "alex", "claim"],
    );
    assert!(out.status.success(), "{out:?}");
    let tty = Tty::start(server.addr(), "egon", &egon_home);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("alex\r");
    tty.wait_for_input_line("to alex> ");
    let long = "word ".repeat(1000);
    // Pasted (bracketed paste), as a long text would be.
    tty.type_keys(&format!("\x1b[200~{long}\x1b[201~\r"));
    tty.wait_for_text("that message is 5000 bytes, over the limit of 4096");
    tty.wait_for_input_line("send it as 2 messages? [y/N] ");
    tty.type_keys("y\r");
    // alex is offline: both parts are held for them, and said to be.
    tty.wait_for("both parts held for alex", |rows, _| {
        let held = rows
            .iter()
            .filter(|r| r.contains("queued until they return"));
        held.count() == 2
    });
    let mut alex = Listener::start(server.addr(), "alex", &alex_home, &["--json"]);
    let mut got = String::new();
    for part in ["part one", "part two"] {
        let v = alex.wait_json(part, |v| v["event"] == "message" && v["from"] == "egon");
        got.push_str(v["text"].as_str().unwrap_or_default());
    }
    assert_eq!(got, long);
    alex.stop();
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
}
