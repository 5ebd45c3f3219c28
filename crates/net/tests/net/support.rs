//! Shared helpers: a session server and client, each driven on its own loopback socket, with
//! their events forwarded to the test.

use std::net::SocketAddr;
use std::time::Duration;

use dgram_net::session::{drive, now, Command};
use dgram_proto::session::{Client, Config, Event, Keypair, Server, ServerPin, SessionId};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) struct Peer<E, V> {
    pub(crate) addr: SocketAddr,
    pub(crate) commands: mpsc::Sender<Command<E>>,
    pub(crate) events: mpsc::UnboundedReceiver<V>,
    pub(crate) shutdown: CancellationToken,
}

impl<E, V> Peer<E, V> {
    /// The next event, within a few seconds.
    pub(crate) async fn next(&mut self) -> V {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("an event within 10 s")
            .expect("driver running")
    }
}

pub(crate) async fn server(config: Config) -> Peer<Server, (SessionId, Event)> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let endpoint = Server::new(config, [7; 32], now(), Keypair::from_seed([8; 32]));
    spawn(socket, addr, endpoint)
}

pub(crate) async fn client(config: Config, server: SocketAddr, seed: u8) -> Peer<Client, Event> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let endpoint = Client::new(
        config,
        [seed; 32],
        server,
        now(),
        Keypair::from_seed([seed ^ 0x55; 32]),
        ServerPin::Any,
    );
    spawn(socket, addr, endpoint)
}

fn spawn<E, V>(socket: UdpSocket, addr: SocketAddr, endpoint: E) -> Peer<E, V>
where
    E: dgram_net::session::Endpoint<Event = V> + Send + 'static,
    V: Send + 'static,
{
    let (commands, rx) = mpsc::channel(1024);
    let (tx, events) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        let on_event = move |_: &mut E, _, event| {
            let _ = tx.send(event);
        };
        drive(&socket, endpoint, rx, on_event, token).await
    });
    Peer {
        addr,
        commands,
        events,
        shutdown,
    }
}

/// Waits for a fresh handshake to finish on both sides.
pub(crate) async fn connected(
    cli: &mut Peer<Client, Event>,
    srv: &mut Peer<Server, (SessionId, Event)>,
) {
    assert!(matches!(
        cli.next().await,
        Event::Connected { resumed: false, .. }
    ));
    assert!(matches!(srv.next().await, (_, Event::Accepted { .. })));
}

/// Stops the client, checks that its goodbye ends the session on the server with no message
/// after the last, then stops the server.
pub(crate) async fn close(cli: &Peer<Client, Event>, srv: &mut Peer<Server, (SessionId, Event)>) {
    cli.shutdown.cancel();
    loop {
        match srv.next().await {
            (_, Event::Closed { .. }) => break,
            (_, Event::Message { .. }) => panic!("no message after the last"),
            _ => {}
        }
    }
    srv.shutdown.cancel();
}
