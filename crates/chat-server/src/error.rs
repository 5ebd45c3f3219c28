//! The chat server library's one error type.

use std::net::IpAddr;
use std::path::PathBuf;

/// What can go wrong in the chat server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A session is over its rate limit.
    #[error("rate limited")]
    RateLimited,
    /// A message is over its name's or its network's sending limit.
    #[error(transparent)]
    SendLimited(#[from] crate::send_limits::SendLimited),
    /// An address holds as many sessions as it may.
    #[error("too many sessions from {ip} (limit {limit})")]
    TooManySessions {
        /// The address.
        ip: IpAddr,
        /// The cap.
        limit: usize,
    },
    /// The socket failed in a way that stops the server.
    #[error("socket error")]
    Socket(#[source] std::io::Error),
    /// The data directory cannot be created or used.
    #[error("cannot use the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The server's key file cannot be made, read, or is not private.
    #[error("server key {}: {problem}", path.display())]
    ServerKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The database failed.
    #[error("database {path}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is someone else's SQLite database; it is left untouched.
    #[error("{path} is not a dgram chat database; refusing to touch it (move it away or pick another --data-dir)")]
    ForeignDatabase {
        /// The file.
        path: PathBuf,
    },
    /// The database was made by a newer release.
    #[error("{path} has schema version {found}, newer than this build's {known}; upgrade dgram")]
    NewerDatabase {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// This build's.
        known: i64,
    },
    /// The NATS cluster could not be joined (`--nats`).
    #[error("cannot join the NATS cluster at {urls}: {why}")]
    Cluster {
        /// The servers tried.
        urls: String,
        /// What went wrong.
        why: String,
    },
}

impl From<dgram_net::rate_limit_layer::RateLimited> for Error {
    fn from(_: dgram_net::rate_limit_layer::RateLimited) -> Self {
        Error::RateLimited
    }
}
