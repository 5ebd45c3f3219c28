//! Committing the chat core's changes: one transaction per group, one small statement group
//! per [`Op`], each through the statement cache.

use dgram_proto::chat::{Posted, Room, Target};
use dgram_proto::Name;
use rusqlite::{params, CachedStatement, Connection, Params, Transaction};

use crate::core::Op;

/// Runs a statement through the connection's statement cache: the writer runs the same few
/// statements all day, and parsing them anew each time was a good part of its work.
fn exec(tx: &Transaction<'_>, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// The statements every DM runs (its message, its sender's txn, its place in the recipient's
/// queue and, once acknowledged, out of it), each taken from the cache once per transaction
/// and kept: a group commits thousands of ops, and each cache lookup hashes the statement's
/// text and moves the statement out and back.
#[derive(Default)]
struct Hot<'c> {
    post: Option<CachedStatement<'c>>,
    sent: Option<CachedStatement<'c>>,
    queue: Option<CachedStatement<'c>>,
    dequeue: Option<CachedStatement<'c>>,
}

/// Runs `sql` through the statement kept in `slot`, preparing it on first use.
fn hot<'c>(
    slot: &mut Option<CachedStatement<'c>>,
    tx: &'c Transaction<'_>,
    sql: &str,
    params: impl Params,
) -> rusqlite::Result<()> {
    let stmt = match slot {
        Some(stmt) => stmt,
        None => slot.insert(tx.prepare_cached(sql)?),
    };
    stmt.execute(params).map(drop)
}

const SENT: &str = "INSERT OR IGNORE INTO sent (user, txn, id, ts) VALUES (?1, ?2, ?3, ?4)";
const QUEUE: &str = "INSERT OR IGNORE INTO queue (user, id) VALUES (?1, ?2)";
const DEQUEUE: &str = "DELETE FROM queue WHERE user = ?1 AND id = ?2";

/// Commits `ops` in one transaction.
pub(super) fn apply(conn: &mut Connection, ops: &[Op]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        // The kept statements borrow the transaction: they go back to the cache before it
        // commits.
        let mut kept = Hot::default();
        for op in ops {
            one(&tx, &mut kept, op)?;
        }
    }
    tx.commit()
}

/// Writes one op.
fn one<'c>(tx: &'c Transaction<'_>, kept: &mut Hot<'c>, op: &Op) -> rusqlite::Result<()> {
    match op {
        Op::Claim { name, owner, at_ms } => claim(tx, name, owner, *at_ms)?,
        Op::Bind { user, owner } => bind(tx, user, owner)?,
        Op::Touch { user, at_ms } => touch(tx, user, *at_ms)?,
        Op::Established { user } => establish(tx, user)?,
        Op::Lapse { user } => lapse(tx, user)?,
        Op::Post(p) => post(tx, &mut kept.post, p)?,
        // The txn's 64 bits as SQLite's signed integer: `as` keeps every bit both ways.
        Op::Sent { user, txn, id, ts } => {
            let row = params![user.key(), *txn as i64, *id as i64, *ts as i64];
            hot(&mut kept.sent, tx, SENT, row)?;
        }
        Op::Queue { user, id } => {
            hot(&mut kept.queue, tx, QUEUE, params![user.key(), *id as i64])?;
        }
        Op::Dequeue { user, id } => {
            hot(
                &mut kept.dequeue,
                tx,
                DEQUEUE,
                params![user.key(), *id as i64],
            )?;
        }
        Op::Join { user, room } => join(tx, user, room)?,
        Op::Part { user, room } => part(tx, user, room)?,
        Op::DropRoom { room } => drop_room(tx, room)?,
        Op::Topic { room, topic } => set_topic(tx, room, topic)?,
        // Who is online is not kept: after a restart nobody is.
        Op::Presence { .. } | Op::Gone { .. } | Op::Received { .. } => {}
        Op::Expire {
            before_ms,
            room_history,
        } => prune(tx, *before_ms as i64, *room_history as i64)?,
    }
    Ok(())
}

fn claim(tx: &Transaction<'_>, name: &Name, owner: &[u8; 32], at_ms: u64) -> rusqlite::Result<()> {
    exec(
        tx,
        "INSERT OR REPLACE INTO users (key, name, owner, key_hash, last_used_ms, established)
         VALUES (?1, ?2, ?3, NULL, ?4, 0)",
        params![name.key(), name.as_str(), &owner[..], at_ms as i64],
    )?;
    Ok(())
}

/// The old claim key proved the name: it is bound to `owner`, and the old key's hash goes, so
/// that the old key (a bearer secret that crossed the network in clear) proves nothing more.
fn bind(tx: &Transaction<'_>, user: &Name, owner: &[u8; 32]) -> rusqlite::Result<()> {
    exec(
        tx,
        "UPDATE users SET owner = ?2, key_hash = NULL WHERE key = ?1",
        params![user.key(), &owner[..]],
    )?;
    Ok(())
}

fn touch(tx: &Transaction<'_>, user: &Name, at_ms: u64) -> rusqlite::Result<()> {
    exec(
        tx,
        "UPDATE users SET last_used_ms = ?2 WHERE key = ?1",
        params![user.key(), at_ms as i64],
    )?;
    Ok(())
}

fn establish(tx: &Transaction<'_>, user: &Name) -> rusqlite::Result<()> {
    exec(
        tx,
        "UPDATE users SET established = 1 WHERE key = ?1",
        [user.key()],
    )?;
    Ok(())
}

fn lapse(tx: &Transaction<'_>, user: &Name) -> rusqlite::Result<()> {
    exec(tx, "DELETE FROM users WHERE key = ?1", [user.key()])?;
    exec(tx, "DELETE FROM members WHERE user = ?1", [user.key()])?;
    exec(tx, "DELETE FROM queue WHERE user = ?1", [user.key()])?;
    exec(tx, "DELETE FROM sent WHERE user = ?1", [user.key()])?;
    Ok(())
}

fn post<'c>(
    tx: &'c Transaction<'_>,
    slot: &mut Option<CachedStatement<'c>>,
    p: &Posted,
) -> rusqlite::Result<()> {
    let (to_room, to_name) = match &p.to {
        Target::Room(r) => (true, r.as_str()),
        Target::User(u) => (false, u.as_str()),
    };
    hot(
        slot,
        tx,
        "INSERT OR IGNORE INTO messages (id, ts, sender, to_room, to_name, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![p.id as i64, p.ts as i64, p.from.as_str(), to_room, to_name, p.text],
    )
}

fn join(tx: &Transaction<'_>, user: &Name, room: &Room) -> rusqlite::Result<()> {
    exec(
        tx,
        "INSERT OR IGNORE INTO rooms (key, name) VALUES (?1, ?2)",
        params![room.key(), room.as_str()],
    )?;
    exec(
        tx,
        "INSERT OR IGNORE INTO members (room, user) VALUES (?1, ?2)",
        params![room.key(), user.key()],
    )?;
    Ok(())
}

fn part(tx: &Transaction<'_>, user: &Name, room: &Room) -> rusqlite::Result<()> {
    exec(
        tx,
        "DELETE FROM members WHERE room = ?1 AND user = ?2",
        params![room.key(), user.key()],
    )?;
    Ok(())
}

fn drop_room(tx: &Transaction<'_>, room: &Room) -> rusqlite::Result<()> {
    exec(tx, "DELETE FROM rooms WHERE key = ?1", [room.key()])?;
    exec(tx, "DELETE FROM members WHERE room = ?1", [room.key()])?;
    Ok(())
}

fn set_topic(tx: &Transaction<'_>, room: &Room, topic: &str) -> rusqlite::Result<()> {
    exec(
        tx,
        "UPDATE rooms SET topic = ?2 WHERE key = ?1",
        params![room.key(), topic],
    )?;
    Ok(())
}

/// Drops old messages in bounded steps (at most 10,000 rows per call), so that pruning a large
/// backlog never holds the writer long; the next expiry tick continues where this one stopped.
fn prune(tx: &Transaction<'_>, before_ms: i64, room_history: i64) -> rusqlite::Result<()> {
    exec(tx,
        "DELETE FROM queue WHERE id IN (SELECT id FROM messages WHERE ts < ?1 ORDER BY ts LIMIT 10000)",
        [before_ms],
    )?;
    exec(tx,
        // The newest message is always kept: the next id is one past the largest on disk,
        // and ids must never be handed out twice.
        "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE ts < ?1 ORDER BY ts LIMIT 10000)
         AND id < (SELECT MAX(id) FROM messages)",
        [before_ms],
    )?;
    exec(
        tx,
        // By key: the table has no rowid (schema 6).
        "DELETE FROM sent WHERE (user, txn) IN (SELECT user, txn FROM sent WHERE ts < ?1 LIMIT 10000)",
        [before_ms],
    )?;
    let rooms: Vec<String> = tx
        .prepare("SELECT name FROM rooms")?
        .query_map([], |r| r.get(0))?
        .filter_map(Result::ok)
        .collect();
    for room in rooms {
        exec(
            tx,
            "DELETE FROM messages WHERE to_room = 1 AND to_name = ?1 AND id <= (
                SELECT id FROM messages WHERE to_room = 1 AND to_name = ?1
                ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![room, room_history],
        )?;
    }
    Ok(())
}
