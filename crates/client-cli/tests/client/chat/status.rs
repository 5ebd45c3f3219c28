//! The line client's status is quiet and honest: a message that goes well is one line (the
//! input), a DM held for an offline user reads as queued rather than failed, and what our
//! name sends from another session is not followed by context-free receipts.

use super::tty::{Tty, CHOOSE};
use super::{send, ChatServer, Home, Listener};

/// The rows of the screen that contain `text`.
fn rows_with(tty: &Tty, text: &str) -> Vec<String> {
    let rows = tty.rows().0.into_iter().filter(|r| r.contains(text));
    rows.map(|r| r.trim_end().to_owned()).collect()
}

fn no_status_words(tty: &Tty) {
    for word in ["(sending)", "accepted", "delivered", "✗"] {
        assert!(
            rows_with(tty, word).is_empty(),
            "{word:?} on the screen:\n{}",
            tty.rows().0.join("\n").trim_end()
        );
    }
}

#[test]
fn a_message_that_goes_well_is_one_line() {
    let server = ChatServer::start();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let mut alex = Listener::start(server.addr(), "alex", &alex_home, &["--json"]);
    alex.wait_json("its welcome", |v| v["event"] == "welcome");
    let tty = Tty::start(server.addr(), "egon", &egon_home);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("alex\r");
    tty.wait_for_input_line("to alex> ");
    tty.type_keys("all is well\r");
    alex.wait_json("the message", |v| v["text"] == "all is well");
    // Said after alex has it (and so after its receipt left the server): a reply, and a
    // message from egon's own script on the side, which alex gets too.
    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "egon", "a reply"],
    );
    assert!(out.status.success(), "{out:?}");
    let out = send(
        server.addr(),
        "egon",
        &egon_home,
        &["--to", "alex", "from elsewhere"],
    );
    assert!(out.status.success(), "{out:?}");
    alex.wait_json("the other session's", |v| v["text"] == "from elsewhere");
    let out = send(server.addr(), "alex", &alex_home, &["--to", "egon", "last"]);
    assert!(out.status.success(), "{out:?}");
    tty.wait_for_text("]: last");
    assert_eq!(rows_with(&tty, "all is well"), ["to alex> all is well"]);
    assert_eq!(rows_with(&tty, "from elsewhere").len(), 1);
    no_status_words(&tty);
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    alex.stop();
}

#[test]
fn a_dm_for_someone_offline_reads_as_queued() {
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
    tty.type_keys("for later\r");
    tty.wait_for_text("alex is offline; queued until they return");
    no_status_words(&tty);
    // alex comes back: the wait is over, and said to be.
    let mut alex = Listener::start(server.addr(), "alex", &alex_home, &["--json"]);
    alex.wait_json("the held DM", |v| v["text"] == "for later");
    tty.wait_for_text("\"for later\" #");
    tty.wait_for_text("✓ delivered");
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    alex.stop();
}

#[test]
fn lines_wrap_at_word_boundaries_on_a_narrow_terminal() {
    let server = ChatServer::start();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let tty = Tty::start_sized(server.addr(), "egon", &egon_home, 40);
    tty.wait_for_text("online");
    // Past `HH:MM:SS [DM] alex: `, "dictionary" spans the 40th column.
    let said = "wrap this text dictionary keeps each word whole on its row, however narrow";
    let out = send(server.addr(), "alex", &alex_home, &["--to", "egon", said]);
    assert!(out.status.success(), "{out:?}");
    tty.wait_for_text("narrow");
    let rows = tty.rows().0;
    for word in said.split(' ') {
        assert!(
            rows.iter().any(|r| r
                .split(' ')
                .any(|w| w.trim_end_matches(',') == word.trim_end_matches(','))),
            "{word:?} was cut:\n{}",
            rows.join("\n").trim_end()
        );
    }
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
}
