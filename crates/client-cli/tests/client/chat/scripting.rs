//! `client-cli send` and `listen` against the real chat server: a DM round trip between alex
//! and 黎诗 (JSON and plain), name claims, delivery to a user who was offline, receipts with
//! --wait-delivered, rooms, refusals, too-long text, no server, and a server restart.

use std::time::Duration;

use dgram_proto::chat::MAX_TEXT;

use super::{command, send, text, ChatServer, Home, Listener};

#[test]
fn dm_round_trip_between_alex_and_黎诗() {
    let server = ChatServer::start();
    let (alex_home, li_home) = (Home::new("alex"), Home::new("li"));
    let mut li = Listener::start(server.addr(), "黎诗", &li_home, &["--json"]);
    let welcome = li.wait_json("its welcome", |v| v["event"] == "welcome");
    assert_eq!(welcome["name"], "黎诗");
    // Names belong to keys: the server hands out no claim key to save.
    assert_eq!(welcome["claimed"], false);

    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "黎诗", "你好", "黎诗"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).starts_with("accepted #"), "{out:?}");
    let dm = li.wait_json("alex's DM", |v| v["event"] == "message");
    assert_eq!(dm["from"], "alex");
    assert_eq!(dm["to"], "黎诗");
    assert_eq!(dm["kind"], "dm");
    assert_eq!(dm["text"], "你好 黎诗");

    // 黎诗 answers from a second session of the same name (same key directory), while
    // alex listens in plain lines.
    let mut alex = Listener::start(server.addr(), "alex", &alex_home, &[]);
    alex.wait_for("its welcome", |l| l.starts_with("welcome, alex"));
    let out = send(server.addr(), "黎诗", &li_home, &["--to", "alex", "收到"]);
    assert!(out.status.success(), "{out:?}");
    let line = alex.wait_for("黎诗's answer", |l| l.contains("[DM] 黎诗: 收到"));
    assert_eq!(line.as_bytes()[2], b':', "starts with the time: {line}");
    // The sender's other session sees what it sent.
    li.wait_json("the copy of its own DM", |v| {
        v["event"] == "message" && v["from"] == "黎诗" && v["text"] == "收到"
    });

    for listener in [li, alex] {
        let (status, stderr) = listener.stop();
        assert!(
            status.success(),
            "listen exits 0 on SIGTERM: {status:?} {stderr}"
        );
    }
}

#[test]
fn a_claimed_name_stays_with_its_key() {
    let server = ChatServer::start();
    let (mine, theirs) = (Home::new("mine"), Home::new("theirs"));
    let out = send(
        server.addr(),
        "alex",
        &mine,
        &["--to", "alex", "note to self"],
    );
    assert!(out.status.success(), "{out:?}");
    let identity = mine.path().join("identity.key");
    assert!(identity.exists(), "the identity is kept under --home");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&identity)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let out = send(server.addr(), "alex", &theirs, &["--to", "alex", "it's me"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("the name alex belongs to another key"),
        "{err}"
    );
    assert_eq!(text(&out.stdout), "");

    // However the server is written, one home is one user: no spelling locks it out.
    let port = server.addr().port();
    for spelled in [format!("localhost:{port}"), format!("LOCALHOST:0{port}")] {
        let home = mine.arg();
        let out = command(&[
            "send",
            "--server",
            &spelled,
            "--name",
            "alex",
            "--home",
            &home,
            "--timeout",
            "5s",
            "--to",
            "alex",
            "same me",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run client-cli send");
        assert!(out.status.success(), "{spelled}: {out:?}");
    }

    // Case does not make another name, and the owner still gets in.
    let out = send(server.addr(), "ALEX", &theirs, &["--to", "alex", "x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = send(
        server.addr(),
        "Alex",
        &mine,
        &["--to", "alex", "still mine"],
    );
    assert!(out.status.success(), "{out:?}");

    let out = send(server.addr(), "admin", &theirs, &["--to", "alex", "x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("reserved"), "{out:?}");
}

#[test]
fn an_offline_user_gets_the_message_on_return() {
    let server = ChatServer::start();
    let (alex_home, li_home) = (Home::new("alex"), Home::new("li"));
    // 黎诗 claims the name, then leaves.
    let li = Listener::start(server.addr(), "黎诗", &li_home, &["--json"]);
    let mut li = li;
    li.wait_json("its welcome", |v| v["event"] == "welcome");
    li.stop();

    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "黎诗", "while you were out"],
    );
    assert!(out.status.success(), "accepted is enough: {out:?}");
    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &[
            "--to",
            "黎诗",
            "--wait-delivered",
            "--timeout",
            "700ms",
            "second",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("accepted but not delivered") && err.contains("offline"),
        "{err}"
    );

    let mut li = Listener::start(server.addr(), "黎诗", &li_home, &["--json"]);
    let first = li.wait_json("the first queued DM", |v| v["event"] == "message");
    assert_eq!(first["text"], "while you were out");
    let second = li.wait_json("the second queued DM", |v| v["event"] == "message");
    assert_eq!(second["text"], "second");
    li.stop();
}

#[test]
fn wait_delivered_waits_for_the_receipt() {
    let server = ChatServer::start();
    let (alex_home, li_home) = (Home::new("alex"), Home::new("li"));
    let mut li = Listener::start(server.addr(), "黎诗", &li_home, &[]);
    li.wait_for("its welcome", |l| l.starts_with("welcome, 黎诗"));
    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "黎诗", "--wait-delivered", "ping"],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("delivered #") && stdout.trim_end().ends_with("to 黎诗"),
        "{stdout}"
    );
    li.wait_for("the DM", |l| l.contains("[DM] alex: ping"));
}

#[test]
fn rooms_refusals_and_long_text() {
    let server = ChatServer::start();
    let (alex_home, li_home) = (Home::new("alex"), Home::new("li"));
    let mut li = Listener::start(
        server.addr(),
        "黎诗",
        &li_home,
        &["--json", "--join", "lobby"],
    );
    li.wait_json("the join", |v| {
        v["event"] == "joined" && v["room"] == "lobby"
    });

    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "#lobby", "hello room"],
    );
    assert!(out.status.success(), "{out:?}");
    let said = li.wait_json("the room message", |v| v["event"] == "message");
    assert_eq!(
        (said["kind"].as_str(), said["room"].as_str()),
        (Some("room"), Some("lobby"))
    );
    assert_eq!(said["text"], "hello room");

    let out = send(server.addr(), "alex", &alex_home, &["--to", "nobody", "hi"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("no user named nobody"),
        "{out:?}"
    );

    let long = "长".repeat(MAX_TEXT / 3 + 10);
    let out = send(server.addr(), "alex", &alex_home, &["--to", "黎诗", &long]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("over the limit of 4096 bytes") && err.contains("--split"),
        "{err}"
    );

    let out = send(
        server.addr(),
        "alex",
        &alex_home,
        &["--to", "黎诗", "--split", &long],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout).lines().count(), 2, "{out:?}");
    let one = li.wait_json("part one", |v| v["event"] == "message" && v["kind"] == "dm");
    let two = li.wait_json("part two", |v| v["event"] == "message" && v["kind"] == "dm");
    let joined = format!(
        "{}{}",
        one["text"].as_str().unwrap_or_default(),
        two["text"].as_str().unwrap_or_default()
    );
    assert_eq!(joined, long);
}

#[test]
fn no_server_is_a_clear_timeout() {
    let nowhere = crate::unused_addr();
    let home = Home::new("nowhere");
    let out = send(
        nowhere,
        "alex",
        &home,
        &["--to", "黎诗", "--timeout", "300ms", "hi"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains(&format!("no answer from the chat server at {nowhere}")),
        "{out:?}"
    );
}

#[test]
fn listen_rejoins_after_the_server_comes_back() {
    let server = ChatServer::start();
    let addr = server.addr();
    let (alex_home, li_home) = (Home::new("alex"), Home::new("li"));
    let mut li = Listener::start(addr, "黎诗", &li_home, &["--json", "--join", "lobby"]);
    li.wait_json("the join", |v| v["event"] == "joined");

    server.stop();
    li.wait_json("the disconnect", |v| v["event"] == "disconnected");
    std::thread::sleep(Duration::from_millis(200));
    let _server = ChatServer::start_on(addr);
    let again = li.wait_json("the welcome again", |v| v["event"] == "welcome");
    assert_eq!(again["again"], true);
    assert_eq!(again["rejoining"], serde_json::json!(["lobby"]));
    let joined = li.wait_json("the rejoin", |v| v["event"] == "joined");
    assert_eq!(joined["auto"], true);

    let out = send(addr, "alex", &alex_home, &["--to", "#lobby", "back again"]);
    assert!(out.status.success(), "{out:?}");
    let said = li.wait_json("the room message", |v| v["event"] == "message");
    assert_eq!(said["text"], "back again");
    let (status, _) = li.stop();
    assert!(status.success());
}

#[test]
fn a_server_name_that_cannot_be_looked_up_yet_is_not_fatal() {
    let home = Home::new("alex");
    // `.invalid` never resolves (RFC 6761); the client starts anyway and keeps looking.
    let out = command(&[
        "send",
        "--server",
        "nosuch.invalid:8081",
        "--name",
        "alex",
        "--home",
        &home.arg(),
        "--to",
        "alex",
        "--timeout",
        "300ms",
        "hi",
    ])
    .stdin(std::process::Stdio::null())
    .output()
    .expect("run client-cli send");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("could not look nosuch.invalid:8081 up yet; looking again every 3 s"),
        "{err}"
    );
    assert!(
        err.contains("no chat server within 300ms: nosuch.invalid:8081 could not be looked up"),
        "{err}"
    );
}
