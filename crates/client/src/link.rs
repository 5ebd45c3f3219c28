//! The chat client's session link: a session [`Client`] run by `dgram_net`'s driver on its own
//! task, with chat messages in and out. Each chat message travels as one reliable session
//! message on channel 0; what the server sends arrives decoded, with the session's own news
//! (up, down, a message that failed, the driver itself failing) in the same ordered stream. A
//! server given by name is followed to a new address while there is no session
//! ([`crate::follow`]).

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use dgram_net::session::{drive, Command};
use dgram_proto::chat::{ClientMsg, ServerMsg};
use dgram_proto::session::{Client, Config, Delivery, Event, MessageId};
use dgram_proto::RequestId;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::follow::{Follow, Follower, ServerTarget};
use crate::note::Note;
use crate::Error;
use dgram_net::service::unspecified_like;

/// Commands waiting for the driver; a full queue makes the sender wait, which is the
/// backpressure a fast typist or a script meets.
const COMMAND_QUEUE: usize = 256;

/// How long closing waits for the goodbye to leave before giving up on the driver.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why a message could not be handed to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// No session right now: try again once connected.
    NotConnected,
    /// Anything else (the send buffer is full, the message is too large), for people.
    Other(String),
}

/// What the link reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The session is up; `resumed` when the same session continues from a new address.
    Connected { resumed: bool },
    /// The session ended; the session client is already handshaking again.
    Closed { reason: String },
    /// A message from the server.
    Server(ServerMsg),
    /// A message from the server that does not decode.
    Undecodable(String),
    /// A chat message was handed to the session (or not); `req` is the request it carries.
    Submitted {
        req: Option<RequestId>,
        outcome: Result<MessageId, SubmitError>,
    },
    /// A message we sent was not acknowledged, and will not be resent.
    Failed { id: MessageId, reason: String },
    /// News of the link's own for the user, passed on as it is: the server's name now
    /// resolves elsewhere, or could not be looked up.
    Notice(Note),
    /// The driver stopped with this error (the socket failed): nothing more will come.
    Stopped(String),
}

/// A running session with the chat server.
#[derive(Debug)]
pub struct Link {
    /// Where the session client is pointed now.
    server: watch::Receiver<SocketAddr>,
    commands: mpsc::Sender<Command<Client>>,
    events_tx: mpsc::UnboundedSender<NetEvent>,
    /// What the link reports; read it promptly.
    pub events: mpsc::UnboundedReceiver<NetEvent>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<Client>>,
}

impl Link {
    /// Binds a socket and starts handshaking with `target`. Succeeds with no server up: UDP
    /// is connectionless, and the session client keeps trying until one answers. A target
    /// given by name is looked up again with `follow` whenever there is no session.
    pub async fn open(target: ServerTarget, follow: Follow) -> Result<Self, Error> {
        let server = target.addr;
        let local = unspecified_like(server);
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|source| Error::Bind { local, source })?;
        let client = Client::new(Config::default(), seed(), server, dgram_net::session::now());
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        // Unbounded because the driver's callback cannot wait; what flows through it is bounded
        // by the session's own receive window and the server's rate limits, and the front ends
        // read it as it comes.
        let (events_tx, events) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let tx = events_tx.clone();
        let (up_tx, up) = watch::channel(false);
        let on_event = move |_: &mut Client, _, event: Event| {
            // The follower looks the name up again only while there is no session.
            match event {
                Event::Connected { .. } => {
                    up_tx.send_replace(true);
                }
                Event::Closed { .. } => {
                    up_tx.send_replace(false);
                }
                _ => {}
            }
            if let Some(event) = translate(event) {
                // The receiver is gone only while the program is ending.
                let _ = tx.send(event);
            }
        };
        let (current, server_rx) = watch::channel(server);
        if !target.literal {
            let follower = Follower {
                given: target.given,
                follow,
                up,
                current,
                commands: commands.clone(),
                events: events_tx.clone(),
            };
            let stop = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = follower.run() => {}
                }
            });
        }
        let stop = shutdown.clone();
        let driving = async move { drive(&socket, client, commands_rx, on_event, stop).await };
        let task = tokio::spawn(reported(driving, events_tx.clone()));
        Ok(Self {
            server: server_rx,
            commands,
            events_tx,
            events,
            shutdown,
            task,
        })
    }

    /// The server's address: where the session client is pointed now.
    pub fn server(&self) -> SocketAddr {
        *self.server.borrow()
    }

    /// Sends one chat message; its fate comes back as [`NetEvent::Submitted`] with `req`.
    pub async fn transmit(&self, msg: &ClientMsg, req: Option<RequestId>) -> Result<(), Error> {
        let events = self.events_tx.clone();
        let bytes = match msg.encode() {
            Ok(bytes) => bytes,
            Err(e) => {
                // Only an oversized request fails to encode; it is that request's failure.
                let outcome = Err(SubmitError::Other(e.to_string()));
                let _ = events.send(NetEvent::Submitted { req, outcome });
                return Ok(());
            }
        };
        let command: Command<Client> = Box::new(move |client, now| {
            let outcome = match client.send(now, 0, bytes, Delivery::Reliable) {
                Ok(Some(id)) => Ok(id),
                Ok(None) => Err(SubmitError::Other("sent without an id".to_owned())),
                Err(dgram_proto::Error::NotConnected) => Err(SubmitError::NotConnected),
                Err(e) => Err(SubmitError::Other(e.to_string())),
            };
            let _ = events.send(NetEvent::Submitted { req, outcome });
        });
        self.commands
            .send(command)
            .await
            .map_err(|_| Error::LinkStopped {
                server: self.server(),
            })
    }

    /// Says goodbye to the server (so that others see us go at once) and stops.
    pub async fn close(self) -> Result<(), Error> {
        self.shutdown.cancel();
        match tokio::time::timeout(CLOSE_WAIT, self.task).await {
            Ok(joined) => {
                joined.map_err(Error::Task)?.map_err(Error::Driver)?;
            }
            // The goodbye is a courtesy; the server times the session out anyway.
            Err(_) => tracing::debug!("the session did not stop in time"),
        }
        Ok(())
    }
}

/// Runs the driver, and says so in the event stream if it fails. The link keeps a sender of
/// its own (for [`Link::transmit`]'s outcomes), so the stream never ends by itself, and without
/// this a front end waiting for the next event would wait forever.
async fn reported(
    driving: impl std::future::Future<Output = std::io::Result<Client>>,
    events: mpsc::UnboundedSender<NetEvent>,
) -> std::io::Result<Client> {
    let ran = driving.await;
    if let Err(e) = &ran {
        // The receiver is gone only while the program is ending.
        let _ = events.send(NetEvent::Stopped(e.to_string()));
    }
    ran
}

fn translate(event: Event) -> Option<NetEvent> {
    Some(match event {
        Event::Connected { resumed, .. } => NetEvent::Connected { resumed },
        Event::Closed { reason } => NetEvent::Closed {
            reason: reason.to_string(),
        },
        Event::Message { data, .. } => match ServerMsg::decode(&data) {
            Ok(msg) => NetEvent::Server(msg),
            Err(e) => NetEvent::Undecodable(e.to_string()),
        },
        Event::Failed { id, reason } => NetEvent::Failed {
            id,
            reason: reason.to_string(),
        },
        // Our messages' transport acks say only that the server has them; what matters is its
        // answer. Accepted and Migrated are server-side events.
        Event::Delivered { .. } | Event::Accepted { .. } | Event::Migrated { .. } => return None,
    })
}

/// The session client's randomness (its handshake nonces): std's per-process random hasher
/// keys, mixed with the time and the pid in case a platform's keys are not random.
fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let base = (SystemTime::now(), std::process::id());
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let word = RandomState::new().hash_one((base, i));
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_driver_that_fails_says_so() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let failed = reported(async { Err(std::io::Error::other("socket gone")) }, tx);
        assert!(failed.await.is_err());
        assert_eq!(
            rx.try_recv(),
            Ok(NetEvent::Stopped("socket gone".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_driver_that_ends_well_says_nothing() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let addr: SocketAddr = "127.0.0.1:8081".parse().expect("literal");
        let client = Client::new(Config::default(), [1; 32], addr, dgram_net::session::now());
        assert!(reported(async { Ok(client) }, tx).await.is_ok());
        assert!(rx.try_recv().is_err());
    }
}
