//! The chat client's session link: a [`ChatSession`] run by `dgram_net`'s driver on its own
//! tokio task, with chat messages in and out. What the server sends arrives decoded, with the
//! session's own news (up, down, a message that failed, the driver itself failing) and the
//! fate of each message handed over in the same ordered stream of [`LinkEvent`]s. A server
//! given by name is followed to a new address while there is no session ([`crate::follow`]).

use std::net::SocketAddr;
use std::time::Duration;

use dgram_net::session::{drive, Command};
use dgram_net::unspecified_like;
use dgram_proto::chat::ClientMsg;
use dgram_proto::session::Keypair;
use dgram_proto::RequestId;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::event::{LinkEvent, SessionEvent, SubmitError};
use crate::follow::{Follow, Follower, ServerTarget};
use crate::wire::{seed, ChatSession};
use crate::Error;

/// Commands waiting for the driver; a full queue makes the sender wait, which is the
/// backpressure a fast typist or a script meets.
const COMMAND_QUEUE: usize = 256;

/// How long closing waits for the goodbye to leave before giving up on the driver.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// A running session with the chat server.
#[derive(Debug)]
pub struct Link {
    /// Where the session client is pointed now.
    server: watch::Receiver<SocketAddr>,
    /// The server's key, once a handshake proved it.
    server_key: watch::Receiver<Option<[u8; 32]>>,
    local: SocketAddr,
    pub(crate) commands: mpsc::Sender<Command<ChatSession>>,
    events_tx: mpsc::UnboundedSender<LinkEvent>,
    /// What the link reports (read it promptly); a test may put a stream of its own here.
    pub(crate) events: mpsc::UnboundedReceiver<LinkEvent>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<ChatSession>>,
}

impl Link {
    /// Binds a socket and starts handshaking with `target`. Succeeds with no server up: UDP
    /// is connectionless, and the session client keeps trying until one answers. A target
    /// given by name is looked up again with `follow` whenever there is no session.
    /// The session proves `identity` (the client's long-term key, which its names belong to:
    /// [`crate::IdentityFile`]), and accepts the server keys `target.pin` allows.
    pub async fn open(
        target: ServerTarget,
        follow: Follow,
        identity: Keypair,
    ) -> Result<Self, Error> {
        let local = unspecified_like(target.addr);
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|source| Error::Bind { local, source })?;
        Self::open_on(socket, target, follow, identity)
    }

    /// [`Link::open`] on a socket the caller bound (a test that needs a given source address).
    pub fn open_on(
        socket: UdpSocket,
        target: ServerTarget,
        follow: Follow,
        identity: Keypair,
    ) -> Result<Self, Error> {
        let local = socket.local_addr().map_err(|source| Error::Bind {
            local: unspecified_like(target.addr),
            source,
        })?;
        let session = ChatSession::new(
            seed(),
            target.addr,
            dgram_net::session::now(),
            identity,
            target.pin,
        );
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        // Unbounded because the driver's callback cannot wait; what flows through it is bounded
        // by the session's own receive window and the server's rate limits, and the front ends
        // read it as it comes.
        let (events_tx, events) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let tx = events_tx.clone();
        let (up_tx, up) = watch::channel(false);
        let (key_tx, server_key) = watch::channel(None);
        let on_event = move |session: &mut ChatSession, _, event: SessionEvent| {
            // The follower looks the name up again only while there is no session.
            match &event {
                SessionEvent::Connected { .. } => {
                    key_tx.send_replace(session.server_key());
                    up_tx.send_replace(true);
                }
                SessionEvent::Closed { .. } | SessionEvent::Refused { .. } => {
                    up_tx.send_replace(false);
                }
                SessionEvent::Message(_)
                | SessionEvent::Undecodable(_)
                | SessionEvent::Failed { .. } => {}
            }
            // The receiver is gone only while the program is ending.
            let _ = tx.send(LinkEvent::Session(event));
        };
        let (current, server_rx) = watch::channel(target.addr);
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
        let driving = async move { drive(&socket, session, commands_rx, on_event, stop).await };
        let task = tokio::spawn(reported(driving, events_tx.clone()));
        Ok(Self {
            server: server_rx,
            server_key,
            local,
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

    /// The server's static key, once a handshake proved it.
    pub fn server_key(&self) -> Option<[u8; 32]> {
        *self.server_key.borrow()
    }

    /// The address the link's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What the link reports next; `None` only once the link is gone.
    pub async fn recv(&mut self) -> Option<LinkEvent> {
        self.events.recv().await
    }

    /// Sends one chat message; its fate comes back as [`LinkEvent::Submitted`] with `req`.
    pub async fn transmit(&self, msg: &ClientMsg, req: Option<RequestId>) -> Result<(), Error> {
        match msg.encode() {
            Ok(bytes) => self.transmit_bytes(bytes, req).await,
            Err(e) => {
                // Only an oversized request fails to encode; it is that request's failure.
                let outcome = Err(SubmitError::Refused(e));
                let _ = self.events_tx.send(LinkEvent::Submitted { req, outcome });
                Ok(())
            }
        }
    }

    /// [`Link::transmit`] for bytes already encoded (or, in a server's tests, bytes that are
    /// not chat at all).
    pub async fn transmit_bytes(
        &self,
        bytes: Vec<u8>,
        req: Option<RequestId>,
    ) -> Result<(), Error> {
        let events = self.events_tx.clone();
        let command: Command<ChatSession> = Box::new(move |session, now| {
            let outcome = session.submit_bytes(now, bytes);
            let _ = events.send(LinkEvent::Submitted { req, outcome });
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

    /// Says goodbye and stops, without waiting for the goodbye to leave.
    pub fn leave(self) {
        self.shutdown.cancel();
    }
}

/// Runs the driver, and says so in the event stream if it fails. The link keeps a sender of
/// its own (for [`Link::transmit`]'s outcomes), so the stream never ends by itself, and without
/// this a front end waiting for the next event would wait forever.
async fn reported(
    driving: impl std::future::Future<Output = std::io::Result<ChatSession>>,
    events: mpsc::UnboundedSender<LinkEvent>,
) -> std::io::Result<ChatSession> {
    let ran = driving.await;
    if let Err(e) = &ran {
        // The receiver is gone only while the program is ending.
        let _ = events.send(LinkEvent::Stopped(e.to_string()));
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::process_identity;

    #[tokio::test]
    async fn a_driver_that_fails_says_so() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let failed = reported(async { Err(std::io::Error::other("socket gone")) }, tx);
        assert!(failed.await.is_err());
        assert_eq!(
            rx.try_recv(),
            Ok(LinkEvent::Stopped("socket gone".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_driver_that_ends_well_says_nothing() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let addr: SocketAddr = "127.0.0.1:8081".parse().expect("literal");
        let session = ChatSession::new(
            [1; 32],
            addr,
            dgram_net::session::now(),
            process_identity(),
            dgram_proto::session::ServerPin::Any,
        );
        assert!(reported(async { Ok(session) }, tx).await.is_ok());
        assert!(rx.try_recv().is_err());
    }
}
