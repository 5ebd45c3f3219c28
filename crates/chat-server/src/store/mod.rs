//! The chat server's durable state: SQLite (bundled, so there is no server to install) under
//! the data directory, in WAL mode with synchronous commits. [`Store::open`] refuses anything it
//! did not make and never overwrites it; [`Store::load`] rebuilds the chat state at start;
//! [`Store::apply`] commits a batch of changes in one transaction (the writer thread groups
//! many sessions' changes into each).

mod apply;
mod schema;
pub(crate) mod writer;

use std::path::{Path, PathBuf};

use dgram_proto::chat::{Posted, Room, Target};
use dgram_proto::Name;
use rusqlite::{params, Connection, OpenFlags};

use crate::core::{ChatConfig, Op, Owner, SavedRoom, SavedSent, SavedUser, Snapshot};
use crate::Error;
use schema::Found;

/// The database file inside the data directory.
pub const DB_FILE: &str = "chat.sqlite3";

/// An open, migrated chat database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the database under `dir`, migrating it to this build's schema.
    pub fn open(dir: &Path) -> Result<Store, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let sql = |source| Error::Database {
            path: path.clone(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(sql)?;
        match schema::inspect(&conn).map_err(sql)? {
            Found::Foreign => return Err(Error::ForeignDatabase { path }),
            Found::Ours(v) if v > schema::CURRENT => {
                return Err(Error::NewerDatabase {
                    path,
                    found: v,
                    known: schema::CURRENT,
                })
            }
            Found::Ours(v) => {
                set_pragmas(&conn).map_err(sql)?;
                schema::migrate(&mut conn, v).map_err(sql)?;
            }
            Found::Empty => {
                set_pragmas(&conn).map_err(sql)?;
                schema::migrate(&mut conn, 0).map_err(sql)?;
            }
        }
        Ok(Store { conn, path })
    }

    /// Caps the database at about `bytes`: past it, commits fail as on a full disk (new
    /// messages are refused with an error; the server stays up).
    pub fn limit_size(&self, bytes: u64) -> Result<(), Error> {
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|source| Error::Database {
                path: self.path.clone(),
                source,
            })?;
        let pages = (bytes / page.max(512) as u64).max(1);
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(|source| Error::Database {
                path: self.path.clone(),
                source,
            })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything the chat core needs at start, within `config`'s caps.
    pub fn load(&self, config: &ChatConfig, now_ms: u64) -> Result<Snapshot, Error> {
        self.read(config, now_ms).map_err(|source| Error::Database {
            path: self.path.clone(),
            source,
        })
    }

    fn read(&self, config: &ChatConfig, now_ms: u64) -> rusqlite::Result<Snapshot> {
        let c = &self.conn;
        let mut snap = Snapshot::default();
        let mut users =
            c.prepare("SELECT name, owner, key_hash, last_used_ms, established FROM users")?;
        snap.users = users
            .query_map([], |r| {
                let name: String = r.get(0)?;
                let owner: Option<Vec<u8>> = r.get(1)?;
                let hash: Option<Vec<u8>> = r.get(2)?;
                let last: i64 = r.get(3)?;
                let established: bool = r.get(4)?;
                Ok((name, owner, hash, last, established))
            })?
            .filter_map(Result::ok)
            .filter_map(|(name, owner, hash, last, established)| {
                // A bound key wins; a row with neither (impossible by the schema's check) is
                // skipped rather than made a name anyone could take over.
                let owner = match (owner, hash) {
                    (Some(key), _) => Owner::Key(key.try_into().ok()?),
                    (None, Some(hash)) => Owner::Legacy(hash.try_into().ok()?),
                    (None, None) => return None,
                };
                Some(SavedUser {
                    name: Name::new(&name).ok()?,
                    owner,
                    last_used_ms: last.max(0) as u64,
                    established,
                })
            })
            .collect();
        let mut rooms = c.prepare("SELECT key, name, topic FROM rooms")?;
        let rows: Vec<(String, String, String)> = rooms
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .filter_map(Result::ok)
            .collect();
        let mut members = c.prepare("SELECT user FROM members WHERE room = ?1")?;
        let mut history = c.prepare(
            "SELECT id, ts, sender, to_room, to_name, text FROM messages
             WHERE to_room = 1 AND to_name = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        for (key, name, topic) in rows {
            let Ok(room) = Room::new(&name) else { continue };
            let members = members
                .query_map([&key], |r| r.get::<_, String>(0))?
                .filter_map(Result::ok)
                .filter_map(|u| Name::new(&u).ok())
                .collect();
            let mut msgs: Vec<Posted> = history
                .query_map(params![name, config.room_history as i64], posted)?
                .filter_map(Result::ok)
                .flatten()
                .collect();
            msgs.reverse();
            snap.rooms.push(SavedRoom {
                room,
                topic,
                members,
                history: msgs,
            });
        }
        let cutoff = now_ms.saturating_sub(config.expiry_ms) as i64;
        let mut dms = c.prepare(
            "SELECT id, ts, sender, to_room, to_name, text FROM messages
             WHERE to_room = 0 AND ts >= ?1 ORDER BY id",
        )?;
        snap.dms = dms
            .query_map([cutoff], posted)?
            .filter_map(Result::ok)
            .flatten()
            .collect();
        let mut queued = c.prepare(
            "SELECT q.user, m.id, m.ts, m.sender, m.to_room, m.to_name, m.text
             FROM queue q JOIN messages m ON m.id = q.id ORDER BY m.id",
        )?;
        snap.queued = queued
            .query_map([], |r| {
                let user: String = r.get(0)?;
                let rest = posted_at(r, 1)?;
                Ok(Name::new(&user).ok().zip(rest))
            })?
            .filter_map(Result::ok)
            .flatten()
            .collect();
        snap.sent = read_sent(c, cutoff)?;
        let max: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
            r.get(0)
        })?;
        snap.next_id = max.max(0) as u64 + 1;
        Ok(snap)
    }

    /// Commits `ops` in one transaction.
    pub fn apply(&mut self, ops: &[Op]) -> Result<(), Error> {
        let path = self.path.clone();
        apply::apply(&mut self.conn, ops).map_err(|source| Error::Database { path, source })
    }
}

/// Messages by their senders' ids, newer than `cutoff` (ms), oldest first.
fn read_sent(c: &Connection, cutoff: i64) -> rusqlite::Result<Vec<SavedSent>> {
    let mut sent = c.prepare("SELECT user, txn, id, ts FROM sent WHERE ts >= ?1 ORDER BY id")?;
    let rows = sent
        .query_map([cutoff], |r| {
            let user: String = r.get(0)?;
            let (txn, id, ts): (i64, i64, i64) = (r.get(1)?, r.get(2)?, r.get(3)?);
            Ok(Name::new(&user).ok().map(|user| SavedSent {
                user,
                txn: txn as u64,
                id: id.max(0) as u64,
                ts: ts.max(0) as u64,
            }))
        })?
        .filter_map(Result::ok)
        .flatten()
        .collect();
    Ok(rows)
}

fn set_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    // WAL with synchronous=FULL: a commit is on disk when it returns, and readers never block
    // the writer.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(())
}

fn posted(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Posted>> {
    posted_at(r, 0)
}

/// A message from columns `id, ts, sender, to_room, to_name, text` starting at `at`; `None` for
/// a row this build cannot read (a name the rules no longer allow), which is skipped.
fn posted_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<Posted>> {
    let id: i64 = r.get(at)?;
    let ts: i64 = r.get(at + 1)?;
    let sender: String = r.get(at + 2)?;
    let to_room: bool = r.get(at + 3)?;
    let to_name: String = r.get(at + 4)?;
    let text: String = r.get(at + 5)?;
    let to = if to_room {
        Room::new(&to_name).ok().map(Target::Room)
    } else {
        Name::new(&to_name).ok().map(Target::User)
    };
    Ok(Name::new(&sender).ok().zip(to).map(|(from, to)| Posted {
        id: id.max(0) as u64,
        ts: ts.max(0) as u64,
        from,
        to,
        text,
    }))
}
