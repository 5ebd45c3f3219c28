//! `client-cli echo`: one-shot and piped use, retries and giving up, late replies, JSON output,
//! bad input, server errors and the name and address options.

use std::time::Duration;

use dgram_proto::MAX_PAYLOAD;
use serde_json::Value;

use crate::{client, client_with_env, stderr, stdout, unused_addr, Behaviour, FakeServer};

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[test]
fn one_shot_prints_the_reply_and_succeeds() {
    let server = FakeServer::start(Behaviour::default());
    let addr = server.addr().to_string();
    let out = client(&["echo", "--server", &addr, "hello", "wide", "world"], "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "HELLO WIDE WORLD\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn no_server_means_no_reply_after_every_try() {
    let addr = unused_addr();
    let out = client(
        &[
            "echo",
            "--server",
            &addr.to_string(),
            "--timeout",
            "100ms",
            "hi",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!("no reply from {addr} after 3 tries\n")
    );
}

#[test]
fn a_dropped_request_is_retried() {
    let server = FakeServer::start(Behaviour {
        drop_first: 1,
        ..Behaviour::default()
    });
    let addr = server.addr().to_string();
    let out = client(
        &[
            "echo",
            "--server",
            &addr,
            "--timeout",
            "100ms",
            "--json",
            "again",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let replies = json_lines(&stdout(&out));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["reply"], "AGAIN");
    assert_eq!(replies[0]["tries"], 2);
    assert!(replies[0]["rtt_ms"].as_f64().expect("rtt_ms is a number") >= 100.0);
}

#[test]
fn piped_lines_are_answered_in_order() {
    let server = FakeServer::start(Behaviour::default());
    let addr = server.addr().to_string();
    let out = client(
        &["echo", "--server", &addr],
        "alpha\nbeta\n\n   \ngamma delta\r\nquit\nlast line without newline",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "ALPHA\nBETA\nGAMMA DELTA\nQUIT\nLAST LINE WITHOUT NEWLINE\n"
    );
}

#[test]
fn a_late_reply_never_answers_the_next_request() {
    // Line one gives up at 400 ms; line two goes out then. One's answer arrives at 550 ms,
    // while two waits; two's own answer comes at about 650 ms, well before its deadline.
    let server = FakeServer::start(Behaviour {
        delays: vec![Duration::from_millis(550), Duration::from_millis(250)],
        ..Behaviour::default()
    });
    let addr = server.addr().to_string();
    let out = client(
        &[
            "echo",
            "--server",
            &addr,
            "--timeout",
            "400ms",
            "--retries",
            "0",
            "--json",
        ],
        "one\ntwo\n",
    );
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(lines[1]["reply"], "TWO", "{lines:?}");
    assert_ne!(lines[0]["reply"], "TWO", "{lines:?}");
    let first = lines[0]["request_id"].as_u64().expect("an id");
    assert_eq!(lines[1]["request_id"].as_u64(), Some(first + 1));
    if lines[0].get("error").is_some() {
        assert_eq!(
            lines[0]["error"],
            format!("no reply from {addr} after 1 try")
        );
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn json_reports_replies_and_failures() {
    let server = FakeServer::start(Behaviour::default());
    let addr = server.addr().to_string();
    let out = client(&["echo", "--server", &addr, "--json"], "a\nb c\n");
    assert!(out.status.success(), "{out:?}");
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["reply"], "A");
    assert_eq!(lines[1]["reply"], "B C");
    for line in &lines {
        assert!(line["request_id"].is_u64());
        assert!(line["rtt_ms"].as_f64().expect("rtt_ms") >= 0.0);
        assert_eq!(line["tries"], 1);
    }

    let nobody = unused_addr();
    let out = client(
        &[
            "echo",
            "--server",
            &nobody.to_string(),
            "--json",
            "--timeout",
            "50",
            "--retries",
            "1",
        ],
        "lost\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["request_id"].is_u64());
    assert_eq!(
        lines[0]["error"],
        format!("no reply from {nobody} after 2 tries")
    );
}

#[test]
fn an_over_limit_line_is_an_error_and_the_next_line_still_works() {
    let server = FakeServer::start(Behaviour::default());
    let addr = server.addr().to_string();
    let long = "x".repeat(MAX_PAYLOAD + 1);
    let out = client(&["echo", "--server", &addr], &format!("{long}\nok\n"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stdout(&out), "OK\n");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{} bytes", MAX_PAYLOAD + 1))
            && err.contains(&format!("limit of {MAX_PAYLOAD} bytes")),
        "{err}"
    );
}

#[test]
fn a_server_error_is_shown() {
    let server = FakeServer::start(Behaviour {
        refuse_with: Some("slow down".into()),
        ..Behaviour::default()
    });
    let addr = server.addr().to_string();
    let out = client(&["echo", "--server", &addr, "hi"], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stderr(&out), "error from server: slow down\n");
}

#[test]
fn an_invalid_login_name_is_explained() {
    let server = FakeServer::start(Behaviour::default());
    let addr = server.addr().to_string();
    let out = client_with_env(&["echo", "--server", &addr, "hi"], "", &[("USER", "a b")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("login name \"a b\"") && err.contains("--name"),
        "{err}"
    );

    let out = client_with_env(
        &["echo", "--server", &addr, "hi"],
        "",
        &[("USER", "a b"), ("DGRAM_NAME", "alex")],
    );
    assert!(out.status.success(), "{out:?}");

    let out = client_with_env(&["echo", "--server", &addr, "hi"], "", &[]);
    assert!(
        out.status.success(),
        "no login name falls back to guest: {out:?}"
    );
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["echo", "--server", "not-an-address", "hi"][..],
        &["echo", "--server", "0.0.0.0:8080", "hi"],
        &["echo", "--name", "two words", "hi"],
        &["echo", "--timeout", "soon", "hi"],
    ] {
        let out = client(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(stderr(&out).contains("invalid value"), "{args:?}: {out:?}");
    }
}
