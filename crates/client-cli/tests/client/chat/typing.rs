//! What the user types at `client-cli chat`, in a pseudo-terminal: lines typed faster than the
//! prompt comes back, and a paste of several lines without bracketed paste, are all sent, in
//! order; `/say` sends the origin's words as text; the input history outlives the run; Ctrl-C
//! says how to leave; an unknown name at the picker is said at once; a DM to someone away
//! gets their away message back, and DM partners hear each other go offline.

use super::tty::{Tty, CHOOSE};
use super::{ChatServer, Home, Listener};

/// egon at the prompt, talking to alex (who has claimed the name and listens).
fn talking_to_alex(server: &ChatServer, egon: &Home, alex: &Home) -> (Tty, Listener) {
    let mut listener = Listener::start(server.addr(), "alex", alex, &["--json"]);
    listener.wait_json("its welcome", |v| v["event"] == "welcome");
    let tty = Tty::start(server.addr(), "egon", egon);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("alex\r");
    tty.wait_for_input_line("to alex> ");
    (tty, listener)
}

/// The texts of the next `n` messages alex gets from egon.
fn received(alex: &mut Listener, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let v = alex.wait_json(&format!("message {i}"), |v| {
                v["event"] == "message" && v["from"] == "egon"
            });
            v["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn lines_typed_faster_than_the_prompt_are_all_sent_in_order() {
    let server = ChatServer::start();
    let (egon, alex) = (Home::new("egon"), Home::new("alex"));
    let (tty, mut listener) = talking_to_alex(&server, &egon, &alex);
    // As `tmux send-keys "fast a" Enter "fast b" Enter "fast c" Enter` does: one write.
    tty.type_keys("fast a\rfast b\rfast c\r");
    assert_eq!(received(&mut listener, 3), ["fast a", "fast b", "fast c"]);
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    listener.stop();
}

#[test]
fn a_paste_without_bracketed_paste_sends_every_line() {
    let server = ChatServer::start();
    let (egon, alex) = (Home::new("egon"), Home::new("alex"));
    let (tty, mut listener) = talking_to_alex(&server, &egon, &alex);
    // A terminal that does not bracket pastes hands over the text as it is, line feeds and all.
    tty.type_keys("pasted one\npasted two\r\npasted three\n");
    assert_eq!(
        received(&mut listener, 3),
        ["pasted one", "pasted two", "pasted three"]
    );
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    listener.stop();
}

#[test]
fn the_origins_words_can_be_sent_as_text() {
    let server = ChatServer::start();
    let (egon, alex) = (Home::new("egon"), Home::new("alex"));
    let (tty, mut listener) = talking_to_alex(&server, &egon, &alex);
    tty.type_keys("/say q\r");
    tty.type_keys("/say quit\r");
    assert_eq!(received(&mut listener, 2), ["q", "quit"]);
    // Still talking to alex: neither left nor went back to choosing.
    tty.wait_for_input_line("to alex> ");
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    listener.stop();
}

#[test]
fn an_unknown_name_at_the_picker_is_said_at_once() {
    let server = ChatServer::start();
    let (egon, alex) = (Home::new("egon"), Home::new("alex"));
    let mut listener = Listener::start(server.addr(), "alex", &alex, &["--json"]);
    listener.wait_json("its welcome", |v| v["event"] == "welcome");
    let tty = Tty::start(server.addr(), "egon", &egon);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("nobody\r");
    tty.wait_for_text("no user named nobody; online now: alex; choose again");
    tty.wait_for_input_line(CHOOSE);
    // A real partner is chosen, and their lines say where they are, as the origin's did.
    tty.type_keys("alex\r");
    tty.wait_for_input_line("to alex> ");
    let out = super::send(
        server.addr(),
        "alex",
        &alex,
        &["--to", "egon", "where am i"],
    );
    assert!(out.status.success(), "{out:?}");
    tty.wait_for("the sender's address", |rows, _| {
        rows.iter().any(|r| {
            r.contains("[DM] alex 来自[127.0.0.1:") && r.trim_end().ends_with("where am i")
        })
    });
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);
    listener.stop();
}

#[test]
fn the_input_history_outlives_the_run_and_ctrl_c_says_how_to_leave() {
    let server = ChatServer::start();
    let egon = Home::new("egon");
    let tty = Tty::start(server.addr(), "egon", &egon);
    tty.wait_for_input_line(CHOOSE);
    tty.type_keys("#lobby\r");
    tty.wait_for_input_line("to #lobby> ");
    tty.type_keys("remember me\r");
    // Wait for the next prompt: a Ctrl-C that lands between two prompts meets the terminal in
    // cooked mode, where the kernel turns it into SIGINT and flushes what was typed ahead.
    tty.wait_for_text("remember me");
    tty.wait_for_input_line("to #lobby> ");
    tty.type_keys("half typed\x03");
    tty.wait_for_text("(Ctrl-C clears the line; q or Ctrl-D leaves, quit goes back to choosing)");
    tty.wait_for_input_line("to #lobby> ");
    tty.type_keys("q\r");
    assert_eq!(tty.exit_code(), 0);

    let tty = Tty::start(server.addr(), "egon", &egon);
    tty.wait_for_input_line(CHOOSE);
    // Up twice: past the q that ended the last run, to the line before it.
    tty.type_keys("\x1b[A\x1b[A");
    tty.wait_for_input_line(&format!("{CHOOSE}remember me"));
    tty.type_keys("\x15q\r");
    assert_eq!(tty.exit_code(), 0);
}

#[test]
fn dm_partners_see_away_notices_and_each_other_leave() {
    let server = ChatServer::start();
    let (egon_home, alex_home) = (Home::new("egon"), Home::new("alex"));
    let egon = Tty::start(server.addr(), "egon", &egon_home);
    egon.wait_for_input_line(CHOOSE);
    let alex = Tty::start(server.addr(), "alex", &alex_home);
    alex.wait_for_input_line(CHOOSE);
    alex.type_keys("/away lunch\r");
    alex.wait_for_text("you are away: lunch");
    egon.type_keys("alex\r");
    egon.wait_for_input_line("to alex> ");
    egon.type_keys("are you there\r");
    // As IRC's RPL_AWAY: the DM goes, and its answer says why none will come soon.
    egon.wait_for_text("* alex is away: lunch");
    alex.wait_for_text("are you there");
    // No room in common, only the DM: egon still hears alex go.
    alex.type_keys("q\r");
    assert_eq!(alex.exit_code(), 0);
    egon.wait_for_text("* alex went offline");
    egon.type_keys("q\r");
    assert_eq!(egon.exit_code(), 0);
}
