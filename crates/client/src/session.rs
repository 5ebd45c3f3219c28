//! A chat session as a front end runs it: the [`Link`], the [`Chat`] state machine and the
//! claim-key file together. A front end calls [`Session::step`] to take in what the link
//! reports, [`Session::pump`] to carry out what the state machine asks (transmit, save the
//! key) and get back the [`Note`]s to show, and asks the server for things through
//! [`Session::chat`].

use std::net::SocketAddr;
use std::path::Path;

use dgram_proto::session::{Keypair, ServerPin};
use dgram_proto::Name;

use crate::error::{chain, DriverFailed};
use crate::event::{LinkEvent, SessionEvent};
use crate::follow::{Follow, ServerTarget};
use crate::keys::KeyFile;
use crate::known_hosts::KnownHosts;
use crate::link::Link;
use crate::note::Note;
use crate::state::{Action, Chat};
use crate::Error;

/// Who we are, where, and with which keys.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The chat server as given, and where it pointed at start.
    pub server: ServerTarget,
    /// The name to chat as.
    pub name: Name,
    /// The client's long-term key, which its names belong to ([`crate::IdentityFile`]: one per
    /// client home, whatever the server is called).
    pub key: Keypair,
    /// Where an older release kept the name's claim key for this server: read once, to prove
    /// a name claimed before names belonged to keys (the server then binds it to `key`).
    pub keys: KeyFile,
}

/// A chat session: the link, the state machine, and the key file, run together.
#[derive(Debug)]
pub struct Session {
    /// The client's chat state: ask the server for things here.
    pub chat: Chat,
    /// The session link to the server.
    pub link: Link,
    keys: KeyFile,
    /// Where the server's key is recorded on first use, until it is (and the server as given).
    record: Option<(KnownHosts, String)>,
    /// Where the pin came from, for the help when the server shows another key.
    pinned_by: Option<(KnownHosts, String)>,
}

impl Session {
    /// Reads the claim key and starts the session (which waits for a server on its own).
    pub async fn open(id: &Identity) -> Result<Self, Error> {
        Self::open_with(id, Follow::system()).await
    }

    /// [`Session::open`], with the server's name looked up again by `follow`.
    pub async fn open_with(id: &Identity, follow: Follow) -> Result<Self, Error> {
        let key = id.keys.load()?;
        let link = Link::open(id.server.clone(), follow, id.key.clone()).await?;
        let hosts = id.server.known_hosts.clone();
        let given = id.server.given.clone();
        let first_use = id.server.pin == ServerPin::Any;
        Ok(Self {
            chat: Chat::new(id.name.clone(), key),
            link,
            keys: id.keys.clone(),
            record: hosts
                .clone()
                .filter(|_| first_use)
                .map(|h| (h, given.clone())),
            pinned_by: hosts.filter(|_| !first_use).map(|h| (h, given)),
        })
    }

    /// Does what the state machine asks and returns what it wants shown.
    pub async fn pump(&mut self) -> Result<Vec<Note>, Error> {
        let mut notes = Vec::new();
        while let Some(action) = self.chat.poll_action() {
            match action {
                Action::Transmit { msg, req } => self.link.transmit(&msg, req).await?,
                Action::SaveKey(key) => {
                    if let Err(e) = self.keys.save(&key) {
                        let message = format!(
                            "the name is yours, but its key could not be saved ({}); \
                             once this client stops, the name cannot be used again",
                            chain(&e)
                        );
                        notes.push(Note::Error { message });
                    }
                }
                Action::Show(note) => notes.push(note),
            }
        }
        Ok(notes)
    }

    /// Waits for what the link reports next and takes it in; an error once the link has
    /// stopped (its socket failed), since nothing more will come.
    pub async fn step(&mut self) -> Result<(), Error> {
        let server = self.link.server();
        let Some(event) = self.link.recv().await else {
            return Err(Error::SessionEnded { server });
        };
        match event {
            LinkEvent::Session(SessionEvent::Refused { reason }) => {
                let help = self
                    .pinned_by
                    .as_ref()
                    .map(|(h, given)| h.changed_help(given));
                Err(Error::ServerRefused {
                    server: self.link.server(),
                    reason: match help {
                        Some(help) if reason.contains("key changed") => format!("{reason}\n{help}"),
                        _ => reason,
                    },
                })
            }
            LinkEvent::Session(event @ SessionEvent::Connected { .. }) => {
                self.record_key()?;
                self.chat.handle(LinkEvent::Session(event));
                Ok(())
            }
            LinkEvent::Stopped(why) => Err(Error::SessionStopped {
                server: self.link.server(),
                source: DriverFailed(why),
            }),
            event => {
                self.chat.handle(event);
                Ok(())
            }
        }
    }

    /// On the first connection to a server not in known_hosts: records the key it proved.
    fn record_key(&mut self) -> Result<(), Error> {
        let Some(key) = self.link.server_key() else {
            return Ok(());
        };
        if let Some((hosts, given)) = self.record.take() {
            hosts.record(&given, &key)?;
            self.pinned_by = Some((hosts, given));
        }
        Ok(())
    }

    /// Where the claim key is kept.
    pub fn key_path(&self) -> &Path {
        self.keys.path()
    }

    /// Where the session client is pointed now (the server's name may have moved).
    pub fn server(&self) -> SocketAddr {
        self.link.server()
    }

    /// Says goodbye and stops.
    pub async fn close(self) -> Result<(), Error> {
        self.link.close().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_stopped_link_ends_the_session_with_its_error() {
        let home = tempfile::Builder::new()
            .prefix("dgram-session-test-")
            .tempdir()
            .expect("a temporary directory");
        let name = Name::new("alex").expect("valid name");
        // Nothing listens there; it does not matter, the link is told it stopped.
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("literal");
        let id = Identity {
            server: ServerTarget::new("127.0.0.1:9", addr),
            keys: KeyFile::new(home.path(), "127.0.0.1:9", &name),
            key: crate::process_identity(),
            name,
        };
        let mut session = Session::open(&id).await.expect("open");
        // The driver's own failure cannot be caused from outside; its report can.
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        session.link.events = events;
        tx.send(LinkEvent::Stopped("socket gone".to_owned()))
            .expect("the session reads");
        let within = Duration::from_secs(10);
        let stepped = tokio::time::timeout(within, session.step()).await;
        let err = stepped.expect("not stuck").expect_err("stopped");
        let err = chain(&err);
        assert!(
            err.contains("stopped") && err.contains("socket gone"),
            "{err}"
        );
        session.close().await.expect("close");
    }
}
