//! `client-cli chat` across a restart of a server that keeps its state: the room it was in
//! is picked up where it left off, so what was already shown is not replayed again.

use super::tty::{Tty, CHOOSE};
use super::{send, ChatServer, Home};

/// How many rows of the screen contain `text`.
fn count(tty: &Tty, text: &str) -> usize {
    tty.rows().0.iter().filter(|r| r.contains(text)).count()
}

#[test]
fn a_restart_does_not_replay_the_room_again() {
    let data = Home::new("server-data");
    let server = ChatServer::start_durable("127.0.0.1:0".parse().expect("literal"), data.path());
    let addr = server.addr();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    for text in ["said before one", "said before two"] {
        let out = send(addr, "alex", &alex_home, &["--to", "#lobby", text]);
        assert!(out.status.success(), "{out:?}");
    }
    let tty = Tty::start(addr, "egon", &egon_home);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("#lobby\r");
    tty.wait_for_text("(earlier) alex: said before two");
    tty.wait_for_input_line("to #lobby> ");

    server.stop();
    tty.wait_for_text("disconnected from");
    let server = ChatServer::start_durable(addr, data.path());
    tty.wait_for_text("joining #lobby again");
    // Something said after the rejoin arrives, so the rejoin and its catch-up are done.
    let out = send(addr, "alex", &alex_home, &["--to", "#lobby", "said after"]);
    assert!(out.status.success(), "{out:?}");
    tty.wait_for_text("alex: said after");
    assert_eq!(count(&tty, "said before one"), 1, "{:#?}", tty.rows().0);
    assert_eq!(count(&tty, "said before two"), 1, "{:#?}", tty.rows().0);

    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    drop(server);
}
