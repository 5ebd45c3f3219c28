//! Chat state on disk: it survives a restart, a database from the first release opens after
//! an upgrade, and files that are not ours are refused and left as they were.

use std::path::Path;

use chat_server::core::Op;
use chat_server::store::{Store, DB_FILE};
use chat_server::Settings;
use dgram_proto::chat::{ClientMsg, Room, ServerMsg, Target};

use crate::support::{name, server, server_on, settings, Chat};

fn durable(dir: &Path) -> Settings {
    Settings {
        data_dir: Some(dir.to_owned()),
        rate: None,
        name_rate: None,
        network_rate: None,
        ..settings()
    }
}

async fn restart(addr: std::net::SocketAddr, dir: &Path) -> crate::support::Server {
    let socket = tokio::net::UdpSocket::bind(addr).await.expect("same port");
    server_on(socket, durable(dir))
}

async fn join_room(c: &mut Chat, room: &str) -> Vec<String> {
    let req = c.req();
    let room = Room::new(room).expect("room");
    c.send(ClientMsg::Join { req, room }).await;
    let replay = c.until(|m| matches!(m, ServerMsg::History { .. })).await;
    match replay {
        ServerMsg::History { messages, .. } => messages.into_iter().map(|p| p.text).collect(),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn claims_rooms_history_and_queues_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let srv = server_on(socket, durable(dir.path()));
    let (mut alex, _) = Chat::join(addr, "alex", None).await;
    let (egon, _) = Chat::join(addr, "egon", None).await;
    let (alex_key, egon_key) = (
        alex.key.clone().expect("claimed"),
        egon.key.clone().expect("claimed"),
    );
    egon.leave();
    // Let the server see egon's goodbye, so that the DM below is queued for him.
    alex.until_gone("egon").await;
    join_room(&mut alex, "lobby").await;
    for (to, text) in [
        (
            Target::Room(Room::new("lobby").expect("room")),
            "kept in the room",
        ),
        (Target::User(name("egon")), "kept for egon"),
    ] {
        let req = alex.req();
        alex.send(ClientMsg::Send {
            req,
            txn: crate::support::txn(),
            to,
            text: text.into(),
        })
        .await;
        alex.until(|m| matches!(m, ServerMsg::Accepted { .. }))
            .await;
    }
    alex.leave();
    srv.stop().await;
    let srv = restart(addr, dir.path()).await;
    let (_, thief) = Chat::join(addr, "alex", None).await;
    assert!(
        matches!(thief, ServerMsg::Error { .. }),
        "the claim survived: {thief:?}"
    );
    let (mut alex, welcome) = Chat::join(addr, "alex", Some(alex_key)).await;
    assert!(matches!(welcome, ServerMsg::Welcome { key: None, .. }));
    assert_eq!(join_room(&mut alex, "lobby").await, ["kept in the room"]);
    let (mut egon, _) = Chat::join(addr, "egon", Some(egon_key)).await;
    let got = egon.until(|m| matches!(m, ServerMsg::Message(_))).await;
    assert!(matches!(got, ServerMsg::Message(p) if p.text == "kept for egon"));
    srv.stop().await;
}

#[tokio::test]
async fn a_database_from_the_first_release_opens_after_an_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chat/fixtures/v1.sqlite3");
    std::fs::copy(&fixture, dir.path().join(DB_FILE)).expect("copy the fixture");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let srv = server_on(socket, durable(dir.path()));
    // Alex's client still has its old claim key: it proves the name once, binding it to
    // this client's key.
    let mut alex = Chat::connect(addr, "127.0.0.1:0").await;
    let welcome = alex.hello("alex", Some([5; 16])).await;
    assert!(
        matches!(welcome, ServerMsg::Welcome { ref name, key: None, .. } if name.as_str() == "Alex"),
        "{welcome:?}"
    );
    assert_eq!(join_room(&mut alex, "lobby").await, ["hello from v1"]);
    let mut egon = Chat::connect(addr, "127.0.0.1:0").await;
    egon.hello("egon", Some([6; 16])).await;
    let got = egon.until(|m| matches!(m, ServerMsg::Message(_))).await;
    assert!(matches!(got, ServerMsg::Message(p) if p.text == "queued in v1" && p.id == 2));
    // New messages continue the old numbering.
    let req = alex.req();
    let txn = crate::support::txn();
    alex.send(ClientMsg::Send {
        req,
        txn,
        to: Target::User(name("egon")),
        text: "new".into(),
    })
    .await;
    let accepted = alex
        .until(|m| matches!(m, ServerMsg::Accepted { .. }))
        .await;
    assert!(
        matches!(accepted, ServerMsg::Accepted { id: 3, .. }),
        "{accepted:?}"
    );
    srv.stop().await;
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open");
    let version: i64 = db
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 6, "migrated forward");
    // The old claim keys bound the names to the clients' keys, and their hashes are gone.
    let owner: (Option<Vec<u8>>, Option<Vec<u8>>) = db
        .query_row(
            "SELECT owner, key_hash FROM users WHERE key = 'alex'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("alex");
    assert_eq!(owner, (Some(alex.identity.public.to_vec()), None));
    // The new message is kept by its client's id too (the table the migration added).
    let kept: (i64, i64) = db
        .query_row("SELECT txn, id FROM sent WHERE user = 'alex'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("kept by txn");
    assert_eq!(kept, (txn as i64, 3));
}

#[test]
fn files_that_are_not_ours_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Someone else's SQLite database.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    let db = rusqlite::Connection::open(foreign.join(DB_FILE)).expect("create");
    db.execute_batch("CREATE TABLE accounts (id INTEGER); INSERT INTO accounts VALUES (42);")
        .expect("write");
    drop(db);
    let before = std::fs::read(foreign.join(DB_FILE)).expect("read");
    let err = Store::open(&foreign).expect_err("foreign");
    assert!(
        err.to_string().contains("is not a dgram chat database"),
        "{err}"
    );
    assert!(err.to_string().contains(&foreign.display().to_string()));
    assert_eq!(std::fs::read(foreign.join(DB_FILE)).expect("read"), before);

    // Not a database at all.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).expect("mkdir");
    std::fs::write(corrupt.join(DB_FILE), b"this is not sqlite").expect("write");
    let err = Store::open(&corrupt).expect_err("corrupt");
    assert!(
        format!("{err:#}").contains(&corrupt.display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read(corrupt.join(DB_FILE)).expect("read"),
        b"this is not sqlite"
    );

    // A data directory that cannot be created (its parent is a file).
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let err = Store::open(&file.join("data")).expect_err("unusable dir");
    assert!(
        err.to_string().contains("cannot use the data directory"),
        "{err}"
    );
}

#[tokio::test]
async fn a_full_database_refuses_new_messages_and_the_server_stays_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Never restarted, so any free port will do.
    let srv = server(Settings {
        max_db_bytes: Some(256 * 1024),
        ..durable(dir.path())
    })
    .await;
    let (mut alex, _) = Chat::join(srv.addr, "alex", None).await;
    let (_egon, _) = Chat::join(srv.addr, "egon", None).await;
    let mut refused = None;
    for i in 0..200 {
        let req = alex.req();
        let text = format!("{i} {}", "x".repeat(4000));
        alex.send(ClientMsg::Send {
            req,
            txn: crate::support::txn(),
            to: Target::User(name("egon")),
            text,
        })
        .await;
        match alex
            .until(|m| matches!(m, ServerMsg::Accepted { .. } | ServerMsg::Error { .. }))
            .await
        {
            ServerMsg::Accepted { .. } => {}
            err => {
                refused = Some(err);
                break;
            }
        }
    }
    let refused = refused.expect("the database filled up within 800 KB of messages");
    assert!(
        matches!(&refused, ServerMsg::Error { kind: dgram_proto::chat::ErrorKind::Unavailable, message, .. } if message.contains("not sent")),
        "{refused:?}"
    );
    // Still up: other requests are answered.
    let req = alex.req();
    alex.send(ClientMsg::Rooms { req }).await;
    alex.until(|m| matches!(m, ServerMsg::Rooms { .. })).await;
    srv.stop().await;
}

#[test]
fn a_database_from_a_newer_release_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chat/fixtures/v1.sqlite3");
    let db_path = dir.path().join(DB_FILE);
    std::fs::copy(&fixture, &db_path).expect("copy the fixture");
    let db = rusqlite::Connection::open(&db_path).expect("open");
    db.execute("UPDATE schema_version SET version = 99", [])
        .expect("pretend a newer release wrote it");
    drop(db);
    let before = std::fs::read(&db_path).expect("read");
    let err = Store::open(dir.path()).expect_err("newer schema");
    assert!(
        err.to_string()
            .contains("schema version 99, newer than this build's"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&db_path).expect("read"),
        before,
        "not migrated, not touched"
    );
}

#[test]
fn schema_6_writes_less_per_dm_and_old_resends_are_pruned_by_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let alex = name("alex");
    let sent = |txn, id, ts| Op::Sent {
        user: alex.clone(),
        txn,
        id,
        ts,
    };
    // Txn u64::MAX is stored as its 64 bits, a negative SQLite integer: the key holds it.
    store
        .apply(&[
            sent(1, 1, 1_000),
            sent(u64::MAX, 2, 1_500),
            sent(3, 3, 9_000),
        ])
        .expect("commit");
    let lobby = Room::new("lobby").expect("room");
    let post = |id| {
        Op::Post(dgram_proto::chat::Posted {
            id,
            ts: 9_000,
            from: alex.clone(),
            to: Target::Room(lobby.clone()),
            text: format!("post {id}"),
        })
    };
    let join = Op::Join {
        user: alex.clone(),
        room: lobby.clone(),
    };
    store
        .apply(&[join, post(10), post(11), post(12)])
        .expect("commit");
    store
        .apply(&[Op::Expire {
            before_ms: 5_000,
            room_history: 2,
        }])
        .expect("prune");
    drop(store);
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open");
    for table in ["queue", "sent"] {
        let sql: String = db
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .expect("table");
        assert!(sql.ends_with("WITHOUT ROWID"), "{table}: {sql}");
    }
    // DMs add no entry to a conversation index: only room messages are indexed so.
    let rooms_only: String = db
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'messages_in_rooms'",
            [],
            |r| r.get(0),
        )
        .expect("index");
    assert!(rooms_only.ends_with("WHERE to_room = 1"), "{rooms_only}");
    let left: Vec<(i64, i64)> = db
        .prepare("SELECT txn, id FROM sent ORDER BY id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(left, [(3, 3)], "the two older than the cutoff went");
    let kept: Vec<i64> = db
        .prepare("SELECT id FROM messages WHERE to_room = 1 ORDER BY id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(kept, [11, 12], "a room keeps its newest room_history posts");
}
