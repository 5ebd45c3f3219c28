//! `client-cli chat --tui` in a pseudo-terminal against a real chat server: buffers opened by
//! commands and by incoming messages, a message's mark, and the terminal given back on `/quit`
//! and on SIGTERM.

use super::tty::Tty;
use super::{send, ChatServer, Home};

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
