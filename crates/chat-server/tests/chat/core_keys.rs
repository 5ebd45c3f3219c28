//! Names belong to keys, in the core alone with the clock in the test's hands: the first hello
//! binds a free name to the session's proved key; only that key may use it later, from any
//! session and address; a name an older release claimed is proved once with its old claim key
//! and bound from then on (the old key proves nothing after); a failed commit takes a bind
//! back. The store keeps owners, and a database of schema 4 opens with its names.

use chat_server::core::{ChatConfig, Op, Owner, SavedUser, Snapshot};
use chat_server::store::{Store, DB_FILE};
use dgram_proto::chat::{ErrorKind, ServerMsg};

use crate::core_support::{addr, answer, device, drain, hello, hello_at, name, ChatCore};

const T0: u64 = 1_700_000_000_000;

/// Reports every change handed to the store committed.
fn commit_all(core: &mut ChatCore) {
    let tickets: Vec<_> = std::iter::from_fn(|| core.poll_op())
        .map(|(t, _)| t)
        .collect();
    if let Some(last) = tickets.last() {
        core.committed(*last);
    }
}

fn refusal(answer: &ServerMsg) -> Option<&str> {
    match answer {
        ServerMsg::Error {
            kind: ErrorKind::Claimed,
            message,
            ..
        } => Some(message),
        _ => None,
    }
}

fn welcomed(answer: &ServerMsg, as_name: &str) -> bool {
    matches!(answer, ServerMsg::Welcome { name, key: None, .. } if name.as_str() == as_name)
}

/// `core` remembering `who` as claimed by an older release with the claim key `legacy`.
fn legacy_core(mut core: ChatCore, who: &str, legacy: [u8; 16]) -> ChatCore {
    core.restore(Snapshot {
        users: vec![SavedUser {
            name: name(who),
            owner: Owner::Legacy(*blake3::hash(&legacy).as_bytes()),
            last_used_ms: T0,
            established: true,
        }],
        next_id: 1,
        ..Snapshot::default()
    });
    core
}

#[test]
fn the_first_hello_binds_a_name_to_its_key_and_only_that_key_gets_in() {
    let mut core = ChatCore::new(ChatConfig::default());
    let laptop = device(1);
    assert!(welcomed(
        &hello(&mut core, 1, "alex", Some(laptop), T0),
        "alex"
    ));
    // Another key is refused, online or offline, however the name is spelled.
    for (session, who) in [(2, "alex"), (3, "ALEX")] {
        let refused = hello(&mut core, session, who, None, T0);
        let why = refusal(&refused).expect("refused");
        assert!(
            why.contains("the name alex belongs to another key"),
            "{why}"
        );
    }
    core.close(1, T0);
    drain(&mut core);
    let refused = hello(&mut core, 4, "alex", Some(device(4)), T0 + 1_000);
    assert!(refusal(&refused).is_some(), "{refused:?}");
    // Sending an old claim key does not help another key either.
    let sent = hello_at(&mut core, 5, addr(5), device(5), "alex", Some([0; 16]), T0);
    assert!(refusal(&answer(sent)).is_some());
    // The key itself gets back in from any session and address (a new port, another host
    // name for the same server: the server sees only the key).
    let back = hello_at(&mut core, 6, addr(6006), laptop, "Alex", None, T0 + 2_000);
    assert!(welcomed(&answer(back), "alex"));
    let also = hello_at(&mut core, 7, addr(7007), laptop, "alex", None, T0 + 2_000);
    assert!(welcomed(&answer(also), "alex"), "one key, many sessions");
}

#[test]
fn a_session_that_proved_no_key_cannot_speak_as_a_name() {
    let mut core = ChatCore::new(ChatConfig::default());
    core.open_keyless(1, addr(1));
    core.handle(
        1,
        T0,
        dgram_proto::chat::ClientMsg::Hello {
            name: name("alex"),
            key: None,
            send_only: false,
        },
    );
    let refused = answer(drain(&mut core));
    assert!(refusal(&refused).is_some_and(|m| m.contains("proved no key")));
    // Nothing was claimed: a client with a key takes the name.
    assert!(welcomed(&hello(&mut core, 2, "alex", None, T0), "alex"));
}

#[test]
fn an_old_claim_key_proves_its_name_once_and_binds_it_to_the_key() {
    let old = [5; 16];
    let mut core = legacy_core(ChatCore::durable(ChatConfig::default()), "Alex", old);
    // Without the old key, or with a wrong one, the name stays its claimer's.
    for legacy in [None, Some([6; 16])] {
        let sent = hello_at(&mut core, 1, addr(1), device(1), "alex", legacy, T0);
        assert!(refusal(&answer(sent)).is_some_and(|m| m.contains("older client")));
    }
    let laptop = device(2);
    hello_at(&mut core, 2, addr(2), laptop, "alex", Some(old), T0);
    let ops: Vec<Op> = std::iter::from_fn(|| core.poll_op())
        .map(|(_, op)| op)
        .collect();
    assert!(
        ops.contains(&Op::Bind {
            user: name("Alex"),
            owner: laptop,
        }),
        "{ops:?}"
    );
    core.committed(0);
    assert!(welcomed(&answer(drain(&mut core)), "Alex"));
    core.close(2, T0);
    drain(&mut core);
    // From now on the key is the proof; the old key proves nothing, from anyone.
    let thief = hello_at(&mut core, 3, addr(3), device(3), "alex", Some(old), T0);
    let why = answer(thief);
    assert!(
        refusal(&why).is_some_and(|m| m.contains("belongs to another key")),
        "{why:?}"
    );
    hello_at(&mut core, 4, addr(4), laptop, "alex", None, T0);
    commit_all(&mut core);
    assert!(welcomed(&answer(drain(&mut core)), "Alex"));
}

#[test]
fn a_bind_whose_commit_failed_is_taken_back() {
    let old = [7; 16];
    let mut core = legacy_core(ChatCore::durable(ChatConfig::default()), "egon", old);
    hello_at(&mut core, 1, addr(1), device(1), "egon", Some(old), T0);
    let (ticket, _) = core.poll_op().expect("the bind goes to the store");
    core.commit_failed(ticket, "disk full");
    let told = answer(drain(&mut core));
    assert!(
        matches!(&told, ServerMsg::Error { kind: ErrorKind::Unavailable, message, .. }
            if message.contains("could not store your claim on egon")),
        "{told:?}"
    );
    // Still the old claim's: the same old key proves it again (from the same or any device).
    hello_at(&mut core, 2, addr(2), device(2), "egon", Some(old), T0);
    commit_all(&mut core);
    assert!(welcomed(&answer(drain(&mut core)), "egon"));
}

#[test]
fn in_memory_a_legacy_name_binds_too() {
    let old = [8; 16];
    let mut core = legacy_core(ChatCore::new(ChatConfig::default()), "zoe", old);
    let sent = hello_at(&mut core, 1, addr(1), device(1), "zoe", Some(old), T0);
    assert!(welcomed(&answer(sent), "zoe"));
    let other = hello_at(&mut core, 2, addr(2), device(2), "zoe", Some(old), T0);
    assert!(refusal(&answer(other)).is_some());
}

#[test]
fn the_store_keeps_who_owns_a_name_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ChatConfig::default();
    {
        let mut store = Store::open(dir.path()).expect("open");
        store
            .apply(&[Op::Claim {
                name: name("Alex"),
                owner: [1; 32],
                at_ms: T0,
            }])
            .expect("apply");
    }
    let store = Store::open(dir.path()).expect("reopen");
    let users = store.load(&config, T0).expect("load").users;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].owner, Owner::Key([1; 32]));
    // The database holds the public key and nothing secret: no claim key, no hash of one.
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open");
    let hash: Option<Vec<u8>> = db
        .query_row("SELECT key_hash FROM users", [], |r| r.get(0))
        .expect("row");
    assert_eq!(hash, None);
}

#[test]
fn a_schema_4_database_opens_keeps_its_names_and_binds_them_on_proof() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = [5; 16];
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("create");
    // The users table as schema 4 has it (migrations 1 and 4), with the version recorded.
    db.execute_batch(
        "PRAGMA application_id = 1684501101;
         CREATE TABLE schema_version (version INTEGER NOT NULL);
         INSERT INTO schema_version (version) VALUES (4);
         CREATE TABLE users (key TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash BLOB NOT NULL,
                             last_used_ms INTEGER NOT NULL,
                             established INTEGER NOT NULL DEFAULT 1);
         CREATE TABLE rooms (key TEXT PRIMARY KEY, name TEXT NOT NULL,
                             topic TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE members (room TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (room, user));
         CREATE TABLE messages (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, sender TEXT NOT NULL,
                                to_room INTEGER NOT NULL, to_name TEXT NOT NULL, text TEXT NOT NULL);
         CREATE TABLE queue (user TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (user, id));
         CREATE TABLE sent (user TEXT NOT NULL, txn INTEGER NOT NULL, id INTEGER NOT NULL,
                            ts INTEGER NOT NULL, PRIMARY KEY (user, txn));",
    )
    .expect("schema 4");
    db.execute(
        "INSERT INTO users VALUES ('alex', 'Alex', ?1, ?2, 1), ('new', 'new', ?1, ?2, 0)",
        rusqlite::params![&blake3::hash(&old).as_bytes()[..], T0 as i64],
    )
    .expect("users");
    db.execute("INSERT INTO members VALUES ('lobby', 'alex')", [])
        .expect("member");
    db.execute(
        "INSERT INTO rooms (key, name) VALUES ('lobby', 'Lobby')",
        [],
    )
    .expect("room");
    drop(db);

    let config = ChatConfig::default();
    let mut store = Store::open(dir.path()).expect("migrates");
    let snapshot = store.load(&config, T0).expect("load");
    let mut users: Vec<_> = snapshot
        .users
        .iter()
        .map(|u| (u.name.to_string(), u.owner, u.established))
        .collect();
    users.sort_by(|a, b| a.0.cmp(&b.0));
    let hash = Owner::Legacy(*blake3::hash(&old).as_bytes());
    assert_eq!(
        users,
        [
            ("Alex".to_owned(), hash, true),
            ("new".to_owned(), hash, false)
        ]
    );
    assert_eq!(snapshot.rooms[0].members, [name("alex")]);
    // The old key proves Alex once; the bind is stored, and the old hash is gone.
    let mut core = ChatCore::durable(config.clone());
    core.restore(snapshot);
    hello_at(&mut core, 1, addr(1), device(1), "alex", Some(old), T0);
    let ops: Vec<Op> = std::iter::from_fn(|| core.poll_op())
        .map(|(_, op)| op)
        .collect();
    store.apply(&ops).expect("commit");
    let users = store.load(&config, T0).expect("reload").users;
    let alex = users.iter().find(|u| u.name.key() == "alex").expect("alex");
    assert_eq!(alex.owner, Owner::Key(device(1)));
    let version: i64 = rusqlite::Connection::open(dir.path().join(DB_FILE))
        .expect("open")
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 6);
}
