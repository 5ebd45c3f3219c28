//! dgram's chat client as a library, the way the tiny IRC client splits `libtiny_client` from
//! its TUI: everything a chat front end needs except the screen.
//!
//! Layers, from the wire up:
//!
//! - [`ChatSession`]: one chat session without I/O (a session client that encodes requests and
//!   decodes what the server sends), reporting [`SessionEvent`]s. A load generator runs it in
//!   its own driver callback.
//! - [`Link`]: a [`ChatSession`] run by `dgram_net`'s driver on a tokio task, reporting
//!   [`LinkEvent`]s: the session's, the fate of each message handed over, and the server's name
//!   moving ([`follow`]: a server given by name is looked up again while there is no session).
//! - [`Chat`] ([`state`]): the client's chat state machine, free of I/O. Events in
//!   ([`Chat::handle`]), requests in (one method each: [`Chat::send`], [`Chat::join`], …),
//!   [`Action`]s out ([`Chat::poll_action`]): chat messages to transmit, a claim key to save,
//!   and [`Note`]s to show. It says Hello (with the claim key), tracks every request to its
//!   fate, rejoins rooms after a reconnect and queues what is asked while disconnected.
//! - [`IdentityFile`]: the client's long-term key pair on disk, one per client home: the
//!   session layer proves it in every handshake, and names belong to it.
//! - [`KeyFile`]: a claim key an older release kept, read to upgrade its name to the key.
//! - [`Session`]: the link, the state machine and the key file run together, which is what
//!   `client-cli chat`, `send` and `listen` run, each showing the notes its own way.
//!
//! A front end's loop:
//!
//! ```no_run
//! # async fn front_end(id: dgram_client::Identity) -> Result<(), dgram_client::Error> {
//! let mut session = dgram_client::Session::open(&id).await?;
//! session.chat.join(dgram_proto::chat::Room::new("lobby").expect("a room name"));
//! loop {
//!     for note in session.pump().await? {
//!         println!("{note:?}"); // a real front end renders each kind of note
//!     }
//!     session.step().await?; // or select on it and the user's input
//! }
//! # }
//! ```
#![forbid(unsafe_code)]

mod error;
mod event;
pub mod follow;
pub mod identity;
pub mod keys;
pub mod known_hosts;
mod lag;
mod link;
mod note;
mod session;
pub mod split;
pub mod state;
mod wire;

pub use error::{DriverFailed, Error};
pub use event::{LinkEvent, LookupFailed, Moved, SessionEvent, SubmitError};
pub use follow::{Follow, ServerTarget};
pub use identity::IdentityFile;
pub use keys::KeyFile;
pub use known_hosts::KnownHosts;
pub use lag::Lag;
pub use link::Link;
pub use note::{Elsewhere, Note, Outgoing, SendState};
pub use session::{Identity, Session};
pub use state::{Action, Chat};
pub use wire::{process_identity, seed, ChatSession};
