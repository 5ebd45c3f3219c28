//! dgram's chat client as a library, the way the tiny IRC client splits `libtiny_client` from
//! its TUI: everything a chat front end needs except the screen.
//!
//! - [`Chat`] ([`state`]): the client's chat state machine, free of I/O. It takes what the link
//!   reports and what the user asks for, and hands back [`Action`]s: chat messages to transmit,
//!   a claim key to save, and [`Note`]s to show. It says Hello (with the claim key), tracks
//!   every request to its fate, rejoins rooms after a reconnect and queues what is asked while
//!   disconnected.
//! - [`Link`]: the session to the server, run by `dgram_net`'s driver on a tokio task, with
//!   chat messages in and out and the session's own news in one ordered stream.
//! - [`follow`]: a server given by name is looked up again while there is no session, and
//!   followed to its new address.
//! - [`KeyFile`]: the claim key on disk.
//! - [`Session`]: the three run together, which is what `client-cli chat`, `send` and `listen`
//!   run, each showing the notes its own way.
#![forbid(unsafe_code)]

mod error;
mod event;
pub mod follow;
pub mod keys;
mod link;
mod note;
mod session;
pub mod split;
pub mod state;
mod wire;

pub use error::{DriverFailed, Error};
pub use event::{LinkEvent, SessionEvent, SubmitError};
pub use follow::{Follow, ServerTarget};
pub use keys::KeyFile;
pub use link::Link;
pub use note::{Note, Outgoing, SendState};
pub use session::{Identity, Session};
pub use state::{Action, Chat};
pub use wire::{seed, ChatSession};
