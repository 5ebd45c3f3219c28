//! `client-cli key`: the identity its names belong to, shown, exported and imported on another
//! device, which is then the same user on the server; an identity is never replaced without
//! `--force`, and a damaged export is refused.

use std::io::Write;
use std::process::{Output, Stdio};

use super::{command, send, text, ChatServer, Home};

/// Runs `client-cli key ARGS --home HOME`, with `stdin` piped in.
fn key(home: &Home, args: &[&str], stdin: &str) -> Output {
    let home = home.arg();
    let mut all = vec!["key"];
    all.extend_from_slice(args);
    all.extend(["--home", &home]);
    let mut child = command(&all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start client-cli key");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for client-cli key")
}

fn fingerprint(home: &Home) -> String {
    let out = key(home, &["show"], "");
    assert!(out.status.success(), "{out:?}");
    let shown = text(&out.stdout).trim().to_owned();
    assert!(shown.starts_with("BLAKE3:"), "{shown}");
    shown
}

#[test]
fn an_exported_identity_makes_another_device_the_same_user() {
    let server = ChatServer::start();
    let (laptop, phone) = (Home::new("laptop"), Home::new("phone"));
    let out = send(server.addr(), "alex", &laptop, &["--to", "alex", "mine"]);
    assert!(out.status.success(), "{out:?}");
    // The phone has an identity of its own, so the name is not its.
    let own = fingerprint(&phone);
    assert_ne!(own, fingerprint(&laptop));
    let out = send(server.addr(), "alex", &phone, &["--to", "alex", "phone"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let exported = key(&laptop, &["export"], "");
    assert!(exported.status.success(), "{exported:?}");
    let line = text(&exported.stdout);
    assert!(line.starts_with("dgram-identity-v1:"), "{line}");
    assert!(text(&exported.stderr).contains("private key"), "warned");

    // Not over the phone's own identity without --force, and a copy with a typo is refused.
    let refused = key(&phone, &["import"], &line);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(text(&refused.stderr).contains("--force"), "{refused:?}");
    assert_eq!(fingerprint(&phone), own, "left as it was");
    let mut typo = line.clone();
    let at = "dgram-identity-v1:".len() + 3;
    let digit = if &typo[at..=at] == "0" { "1" } else { "0" };
    typo.replace_range(at..=at, digit);
    let damaged = key(&phone, &["import", "--force"], &typo);
    assert_eq!(damaged.status.code(), Some(1), "{damaged:?}");
    assert!(
        text(&damaged.stderr).contains("copied wrongly"),
        "{damaged:?}"
    );
    assert_eq!(fingerprint(&phone), own, "a damaged copy installs nothing");
    let imported = key(&phone, &["import", "--force"], &line);
    assert!(imported.status.success(), "{imported:?}");
    assert_eq!(fingerprint(&phone), fingerprint(&laptop));

    // The phone is alex now, beside the laptop.
    let out = send(server.addr(), "alex", &phone, &["--to", "alex", "phone"]);
    assert!(out.status.success(), "{out:?}");

    // Through a file, into a fresh home, with no force needed.
    let file = laptop.path().join("alex.identity");
    let file_arg = file.display().to_string();
    let written = key(&laptop, &["export", "--out", &file_arg], "");
    assert!(written.status.success(), "{written:?}");
    let again = key(&laptop, &["export", "--out", &file_arg], "");
    assert_eq!(again.status.code(), Some(1), "an existing file is kept");
    let tablet = Home::new("tablet");
    let imported = key(&tablet, &["import", &file_arg], "");
    assert!(imported.status.success(), "{imported:?}");
    assert_eq!(fingerprint(&tablet), fingerprint(&laptop));
}

#[test]
fn export_with_no_identity_says_so() {
    let home = Home::new("empty");
    let out = key(&home, &["export"], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("no identity yet"), "{out:?}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn a_client_and_database_from_before_keys_keep_their_names() {
    // The first release's database (alex claimed with the claim key 05…05) and alex's home as
    // that release left it: the claim key filed under the server as it was given.
    let data = tempfile::tempdir().expect("a data directory");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../chat-server/tests/chat/fixtures/v1.sqlite3");
    std::fs::copy(&fixture, data.path().join(chat_server::store::DB_FILE)).expect("copy");
    let server = ChatServer::start_durable("127.0.0.1:0".parse().expect("literal"), data.path());
    let port = server.addr().port();
    let laptop = Home::new("old-laptop");
    let old_key = laptop
        .path()
        .join(format!("keys/127.0.0.1_{port}/alex.key"));
    std::fs::create_dir_all(old_key.parent().expect("dir")).expect("mkdir");
    std::fs::write(&old_key, format!("{}\n", "05".repeat(16))).expect("the old key");
    // A copy of the old key file elsewhere: it proves the name only until it has been used.
    let copy = Home::new("copy");
    let copied = copy.path().join(format!("keys/127.0.0.1_{port}/alex.key"));
    std::fs::create_dir_all(copied.parent().expect("dir")).expect("mkdir");
    std::fs::copy(&old_key, &copied).expect("copy the old key");

    let out = send(
        server.addr(),
        "alex",
        &laptop,
        &["--to", "egon", "upgraded"],
    );
    assert!(
        out.status.success(),
        "the old key proves alex once: {out:?}"
    );
    // From now on the laptop's identity is the proof: the old key file is not needed ...
    std::fs::remove_file(&old_key).expect("remove the old key");
    let out = send(
        server.addr(),
        "alex",
        &laptop,
        &["--to", "egon", "still me"],
    );
    assert!(out.status.success(), "{out:?}");
    // ... and proves nothing for anyone else.
    let out = send(server.addr(), "alex", &copy, &["--to", "egon", "me too?"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("belongs to another key"),
        "{out:?}"
    );
}
