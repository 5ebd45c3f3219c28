//! `client-cli chat --tui` in a pseudo-terminal against a real chat server: buffers opened by
//! commands and by incoming messages, a message's mark, and the terminal given back on `/quit`
//! and on SIGTERM; the mouse wheel, and a long paste that waits for a yes.

use super::tty::Tty;
use super::{send, ChatServer, Home, Listener};

const COLS: u16 = 100;

fn start(server: &ChatServer, home: &Home) -> Tty {
    let tty = Tty::start_with(server.addr(), "egon", home, COLS, &["--tui"]);
    tty.wait_for_text("1 server");
    tty.wait_for_text("connected");
    assert!(tty.alternate_screen(), "full screen");
    tty
}

#[test]
fn buffers_open_marks_show_and_the_terminal_comes_back() {
    let server = ChatServer::start();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let tty = start(&server, &egon_home);
    tty.type_keys("/join lobby\r");
    tty.wait_for_text("2 #lobby");
    tty.type_keys("hello room\r");
    tty.wait_for_text("egon: hello room ✓");
    // A DM opens a buffer of its own, counted unread while another is shown.
    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "egon", "psst egon"],
    );
    assert!(out.status.success(), "{out:?}");
    tty.wait_for_text("3 alex 1!");
    tty.type_keys("\x1b3");
    tty.wait_for_text("alex: psst egon");
    tty.type_keys("/quit\r");
    tty.wait_for("the terminal given back", |_, _| !tty.alternate_screen());
    assert_eq!(tty.exit_code(), 0);
}

#[test]
fn sigterm_gives_the_terminal_back() {
    let server = ChatServer::start();
    let egon_home = Home::new("egon");
    let tty = start(&server, &egon_home);
    tty.terminate();
    tty.wait_for("the terminal given back", |_, _| !tty.alternate_screen());
    assert_eq!(tty.exit_code(), 0);
}

#[test]
fn what_is_typed_across_a_server_restart_is_sent() {
    let server = ChatServer::start();
    let addr = server.addr();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let mut alex = Listener::start(addr, "alex", &alex_home, &["--json", "--join", "lobby"]);
    alex.wait_json("its join", |v| v["event"] == "joined");
    let tty = start(&server, &egon_home);
    tty.type_keys("/join lobby\r");
    tty.wait_for_text("2 #lobby");
    tty.type_keys("to the room\r");
    alex.wait_json("the room message", |v| v["text"] == "to the room");
    tty.type_keys("/query alex\r");
    tty.wait_for_text("3 alex");
    tty.type_keys("a dm\r");
    alex.wait_json("the DM", |v| v["text"] == "a dm" && v["kind"] == "dm");

    server.stop();
    tty.wait_for_text("reconnecting…");
    tty.type_keys("typed while away\r");
    tty.wait_for_text("egon: typed while away ⧗");
    let _server = ChatServer::start_on(addr);
    alex.wait_json("what waited", |v| v["text"] == "typed while away");
    tty.wait_for_text("egon: typed while away ✓");
    tty.type_keys("\x04");
    tty.wait_for("the terminal given back", |_, _| !tty.alternate_screen());
    assert_eq!(tty.exit_code(), 0);
    alex.stop();
}

#[test]
fn the_wheel_scrolls_and_a_long_paste_waits_for_a_yes() {
    // Fifty lines typed at once are over the default rate limits, which are not what is tested.
    let unlimited = chat_server::Settings {
        rate: None,
        name_rate: None,
        network_rate: None,
        ..chat_server::Settings::default()
    };
    let server = ChatServer::start_with("127.0.0.1:0".parse().expect("literal"), unlimited);
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let tty = start(&server, &egon_home);
    tty.type_keys("/join lobby\r");
    tty.wait_for_text("2 #lobby");
    let lines: String = (0..50).map(|i| format!("line {i:02}\r")).collect();
    tty.type_keys(&lines);
    tty.wait_for_text("egon: line 49 ✓");
    // The wheel as an xterm reports it (SGR mouse): five turns up, twelve rows back.
    tty.type_keys(&"\x1b[<64;40;10M".repeat(5));
    tty.wait_for("line 49 scrolled away", |rows, _| {
        !rows.iter().any(|r| r.contains("line 49")) && rows.iter().any(|r| r.contains("line 30"))
    });
    tty.type_keys(&"\x1b[<65;40;10M".repeat(5));
    tty.wait_for_text("egon: line 49 ✓");

    // A bracketed paste over the limit: the count first, and nothing sent before the yes.
    let text = "paste ".repeat(1000);
    tty.type_keys(&format!("\x1b[200~{text}\x1b[201~\r"));
    tty.wait_for_text("[send as 2 messages? y/n]");
    tty.wait_for_text("6000 bytes is over the limit of 4096");
    let mut alex = Listener::start(
        server.addr(),
        "alex",
        &alex_home,
        &["--json", "--join", "lobby"],
    );
    alex.wait_json("its join", |v| v["event"] == "joined");
    tty.type_keys("y\r");
    let mut words = 0;
    for part in 1..=2 {
        let got = alex.wait_json(&format!("part {part}"), |v| {
            v["event"] == "message" && v["text"].as_str().is_some_and(|t| t.contains("paste"))
        });
        let text = got["text"].as_str().unwrap_or_default();
        assert!(text.len() <= 4096, "part {part}: {} bytes", text.len());
        words += text.split_whitespace().count();
    }
    assert_eq!(words, 1000, "every word of the paste, once");
    alex.stop();
    tty.type_keys("/quit\r");
    tty.wait_for("the terminal given back", |_, _| !tty.alternate_screen());
    assert_eq!(tty.exit_code(), 0);
}
