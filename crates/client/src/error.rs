//! The client library's errors. Each says what was being done; the cause, when there is one, is
//! its `source`, so that `{:#}` through `anyhow` in a binary reads `doing X: because Y`.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What can go wrong in the client library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A claim-key file could not be read.
    #[error("reading {}", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A claim-key file exists but does not hold a key: sending no key would never get the
    /// name back, so this is an error, not "no key".
    #[error("{} does not hold a claim key (32 hex digits)", path.display())]
    DamagedKey {
        /// The file.
        path: PathBuf,
    },
    /// The key file's path has no directory to make.
    #[error("the key file has no directory")]
    NoKeyDirectory,
    /// The key directory could not be made.
    #[error("creating {}", path.display())]
    CreateKeyDirectory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The key could not be written to its temporary file.
    #[error("writing {}", path.display())]
    WriteKey {
        /// The temporary file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The written key could not be renamed over the old one.
    #[error("saving {}", path.display())]
    SaveKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The identity file could not be read.
    #[error("reading this client's identity {}", path.display())]
    ReadIdentity {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The identity file exists but does not hold an identity: making a new one would give up
    /// every name of the old, so this is an error.
    #[error("{} does not hold a dgram identity ({why}); restore it from a backup or another device (`client-cli key import`)", path.display())]
    DamagedIdentity {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The identity file may be read by others, who could then speak as its names.
    #[error("{} may be read by others (mode {mode:03o}): anyone who reads it can use your names; `chmod 600` it (and consider it exposed)", path.display())]
    SharedIdentity {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An identity is already installed where another was to go.
    #[error("{} already holds an identity (its names go with it); pass --force to replace it, after saving it with `client-cli key export` if it holds names", path.display())]
    IdentityExists {
        /// The file.
        path: PathBuf,
    },
    /// The system's randomness could not be read to make an identity.
    #[error("reading the system's randomness: {0}")]
    Randomness(String),
    /// The link's socket could not be bound.
    #[error("binding a UDP socket on {local}")]
    Bind {
        /// The address asked for.
        local: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// A command could not reach the session driver: it has stopped.
    #[error("the session with {server} has stopped")]
    LinkStopped {
        /// Where the session client was pointed.
        server: SocketAddr,
    },
    /// The session ended for good, and said why (its socket failed).
    #[error("the session with {server} stopped")]
    SessionStopped {
        /// Where the session client was pointed.
        server: SocketAddr,
        /// What the driver reported.
        source: DriverFailed,
    },
    /// The session client gave up on the server for good: its key is not the pinned one, or
    /// it speaks another protocol version.
    #[error("refusing {server}: {reason}")]
    ServerRefused {
        /// Where the session client was pointed.
        server: SocketAddr,
        /// What changed and what to do.
        reason: String,
    },
    /// The known-hosts file cannot be read or written, or holds a broken line.
    #[error("known hosts {}: {problem}", path.display())]
    KnownHosts {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The session's events ended without a word.
    #[error("the session with {server} stopped")]
    SessionEnded {
        /// Where the session client was pointed.
        server: SocketAddr,
    },
    /// The session driver's task panicked or was cancelled.
    #[error("the session task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The session driver stopped with an I/O error.
    #[error("running the session")]
    Driver(#[source] io::Error),
}

/// The driver's own report of why it stopped, as it came through the event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriverFailed(pub String);

/// `error` and its causes, joined as `anyhow`'s `{:#}` joins them.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cause = e.source();
    }
    out
}
