//! The database schema and its forward migrations. Each migration runs once, in order, inside a
//! transaction that also records the new version, so a database made by any older release opens
//! after an upgrade, and a half-applied migration is impossible.

use rusqlite::{Connection, OptionalExtension};

/// Marks a database as dgram's ('dgrm'), so that a foreign SQLite file is never written to.
pub(crate) const APPLICATION_ID: i32 = 0x6467_726D;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: the first release.
    "CREATE TABLE users (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash BLOB NOT NULL,
        last_used_ms INTEGER NOT NULL
    );
    CREATE TABLE rooms (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        topic TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE members (
        room TEXT NOT NULL,
        user TEXT NOT NULL,
        PRIMARY KEY (room, user)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        sender TEXT NOT NULL,
        to_room INTEGER NOT NULL,
        to_name TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE TABLE queue (
        user TEXT NOT NULL,
        id INTEGER NOT NULL,
        PRIMARY KEY (user, id)
    );",
    // 2: indexes for history by conversation and for pruning by age; room creation time.
    "CREATE INDEX messages_by_conversation ON messages (to_room, to_name, id);
    CREATE INDEX messages_by_age ON messages (ts);
    ALTER TABLE rooms ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;",
    // 3: messages by their sender's client-chosen id (txn, stored as its 64 bits), so that a
    // resend after a crash is answered with the message it repeats; pruned by age.
    "CREATE TABLE sent (
        user TEXT NOT NULL,
        txn INTEGER NOT NULL,
        id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (user, txn)
    );
    CREATE INDEX sent_by_age ON sent (ts);",
    // 4: whether a claim was used again after the session that made it (a new one lapses
    // sooner); the claims of older releases count as established.
    "ALTER TABLE users ADD COLUMN established INTEGER NOT NULL DEFAULT 1;",
    // 5: names belong to keys. `owner` is the public key a name is bound to; `key_hash`, the
    // hash of an older release's claim key, is kept only for names not yet bound (it proves
    // the name once, and is cleared as the name binds). SQLite cannot relax `NOT NULL` in
    // place, so the table is rebuilt; every claim so far is a legacy one.
    "CREATE TABLE users_v5 (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        owner BLOB,
        key_hash BLOB,
        last_used_ms INTEGER NOT NULL,
        established INTEGER NOT NULL DEFAULT 1,
        CHECK (owner IS NOT NULL OR key_hash IS NOT NULL)
    );
    INSERT INTO users_v5 (key, name, owner, key_hash, last_used_ms, established)
        SELECT key, name, NULL, key_hash, last_used_ms, established FROM users;
    DROP TABLE users;
    ALTER TABLE users_v5 RENAME TO users;",
    // 6: less to write per DM (issue 17). The queue and the sent table keep their rows in
    // their primary key's b-tree (WITHOUT ROWID): every DM adds a row to each and takes one
    // from the queue, and a rowid table kept a second b-tree for the key beside the table's
    // own. Messages are indexed by conversation only in rooms, the one place that index is
    // read (a room's history at start, its pruning); the DMs are read at start by one scan. The old index is dropped
    // only if there: a database without it loses nothing.
    "DROP INDEX IF EXISTS messages_by_conversation;
    CREATE INDEX messages_in_rooms ON messages (to_name, id) WHERE to_room = 1;
    CREATE TABLE queue_v6 (
        user TEXT NOT NULL,
        id INTEGER NOT NULL,
        PRIMARY KEY (user, id)
    ) WITHOUT ROWID;
    INSERT INTO queue_v6 (user, id) SELECT user, id FROM queue;
    DROP TABLE queue;
    ALTER TABLE queue_v6 RENAME TO queue;
    CREATE TABLE sent_v6 (
        user TEXT NOT NULL,
        txn INTEGER NOT NULL,
        id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (user, txn)
    ) WITHOUT ROWID;
    INSERT INTO sent_v6 (user, txn, id, ts) SELECT user, txn, id, ts FROM sent;
    DROP TABLE sent;
    ALTER TABLE sent_v6 RENAME TO sent;
    CREATE INDEX sent_by_age ON sent (ts);",
];

/// The schema version this build writes.
pub(crate) const CURRENT: i64 = MIGRATIONS.len() as i64;

/// What the database file turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// An empty or new file: ours to set up.
    Empty,
    /// A dgram database at this schema version.
    Ours(i64),
    /// Someone else's database: leave it alone.
    Foreign,
}

/// Looks at a database without changing it.
pub(crate) fn inspect(conn: &Connection) -> rusqlite::Result<Found> {
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if app == APPLICATION_ID {
        let version: Option<i64> = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?;
        return Ok(Found::Ours(version.unwrap_or(0)));
    }
    Ok(if app == 0 && tables == 0 {
        Found::Empty
    } else {
        Found::Foreign
    })
}

/// Brings the schema from `from` up to [`CURRENT`].
pub(crate) fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    if from == 0 {
        let tx = conn.transaction()?;
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID};
             CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version);"
        ))?;
        tx.commit()?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("UPDATE schema_version SET version = ?1", [i as i64 + 1])?;
        tx.commit()?;
    }
    Ok(())
}
