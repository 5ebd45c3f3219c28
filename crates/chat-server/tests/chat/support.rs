//! Shared helpers: a chat server on a free loopback port, and a test client that speaks the
//! chat protocol over a real session.

use std::net::SocketAddr;
use std::time::Duration;

use chat_server::Settings;
use dgram_net::session::{drive, now, Command};
use dgram_proto::chat::{ClaimKey, ClientMsg, ServerMsg};
use dgram_proto::session::{Client, Config, Delivery, Event};
use dgram_proto::Name;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: CancellationToken,
    pub(crate) task: tokio::task::JoinHandle<Result<(), chat_server::Error>>,
}

pub(crate) fn settings() -> Settings {
    Settings {
        seed: Some([3; 32]),
        ..Settings::default()
    }
}

pub(crate) async fn server(settings: Settings) -> Server {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    server_on(socket, settings)
}

pub(crate) fn server_on(socket: UdpSocket, settings: Settings) -> Server {
    let addr = socket.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(chat_server::run(socket, shutdown.clone(), settings));
    Server {
        addr,
        shutdown,
        task,
    }
}

impl Server {
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), self.task)
            .await
            .expect("stops within a second")
            .expect("joins")
            .expect("ends cleanly");
    }
}

pub(crate) fn name(s: &str) -> Name {
    Name::new(s).expect("valid name")
}

/// A chat client: a session to the server, driven in its own task.
pub(crate) struct Chat {
    pub(crate) addr: SocketAddr,
    commands: mpsc::Sender<Command<Client>>,
    events: mpsc::UnboundedReceiver<Event>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) key: Option<ClaimKey>,
    next_req: u64,
}

impl Chat {
    /// Connects a session; does not say hello yet.
    pub(crate) async fn connect(server: SocketAddr, bind: &str) -> Chat {
        let socket = UdpSocket::bind(bind).await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        let seed = *blake3::hash(addr.to_string().as_bytes()).as_bytes();
        let client = Client::new(Config::default(), seed, server, now());
        let (commands, rx) = mpsc::channel(256);
        let (tx, events) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        tokio::spawn(async move {
            let on_event = move |_: &mut Client, _, e| {
                let _ = tx.send(e);
            };
            drive(&socket, client, rx, on_event, token).await
        });
        let mut chat = Chat {
            addr,
            commands,
            events,
            shutdown,
            key: None,
            next_req: 1,
        };
        loop {
            if let Event::Connected { .. } = chat.event().await {
                break;
            }
        }
        chat
    }

    /// Connects and joins as `who` with `key`; returns the welcome or the error.
    pub(crate) async fn join(
        server: SocketAddr,
        who: &str,
        key: Option<ClaimKey>,
    ) -> (Chat, ServerMsg) {
        let mut chat = Chat::connect(server, "127.0.0.1:0").await;
        let answer = chat.hello(who, key).await;
        (chat, answer)
    }

    pub(crate) async fn hello(&mut self, who: &str, key: Option<ClaimKey>) -> ServerMsg {
        self.hello_as(who, key, false).await
    }

    /// Says hello; a `send_only` session gets answers and receipts but no messages.
    pub(crate) async fn hello_as(
        &mut self,
        who: &str,
        key: Option<ClaimKey>,
        send_only: bool,
    ) -> ServerMsg {
        self.send(ClientMsg::Hello {
            name: name(who),
            key,
            send_only,
        })
        .await;
        let answer = self
            .until(|m| matches!(m, ServerMsg::Welcome { .. } | ServerMsg::Error { .. }))
            .await;
        if let ServerMsg::Welcome { key: Some(k), .. } = &answer {
            self.key = Some(*k);
        }
        answer
    }

    pub(crate) fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    pub(crate) async fn send(&self, msg: ClientMsg) {
        self.send_raw(msg.encode().expect("encodes")).await;
    }

    pub(crate) async fn send_raw(&self, bytes: Vec<u8>) {
        self.commands
            .send(Box::new(move |c, now| {
                let _ = c.send(now, 0, bytes, Delivery::Reliable);
            }))
            .await
            .expect("driver running");
    }

    async fn event(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("an event in time")
            .expect("driver running")
    }

    /// The next chat message from the server.
    pub(crate) async fn next(&mut self) -> ServerMsg {
        loop {
            if let Event::Message { data, .. } = self.event().await {
                return ServerMsg::decode(&data).expect("the server speaks chat");
            }
        }
    }

    /// Reads chat messages until one matches; returns it.
    pub(crate) async fn until(&mut self, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        loop {
            let m = self.next().await;
            if want(&m) {
                return m;
            }
        }
    }

    /// Whether any chat message arrives within `d`.
    pub(crate) async fn quiet_for(&mut self, d: Duration) -> Option<ServerMsg> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) | Ok(None) => return None,
                Ok(Some(Event::Message { data, .. })) => return ServerMsg::decode(&data).ok(),
                Ok(Some(_)) => {}
            }
        }
    }

    /// Waits until the session layer has joined a server again, after the old session ended;
    /// returns the chat messages that arrived meanwhile.
    pub(crate) async fn reconnected(&mut self) -> Vec<ServerMsg> {
        let mut closed = false;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(WAIT * 3, self.events.recv()).await {
                Ok(Some(Event::Closed { .. })) => closed = true,
                Ok(Some(Event::Connected { resumed: false, .. })) if closed => return seen,
                Ok(Some(Event::Message { data, .. })) => seen.extend(ServerMsg::decode(&data).ok()),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("no reconnection in time"),
            }
        }
    }

    /// Every chat message that arrives until none has for `quiet`.
    pub(crate) async fn drain(&mut self, quiet: Duration) -> Vec<ServerMsg> {
        let mut seen = Vec::new();
        while let Some(m) = self.quiet_for(quiet).await {
            seen.push(m);
        }
        seen
    }

    /// Asks the server who is online until `who` is no longer listed (bounded): the server has
    /// seen them go.
    pub(crate) async fn until_gone(&mut self, who: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let req = self.req();
            self.send(ClientMsg::Who { req, room: None }).await;
            let answer = self
                .until(|m| matches!(m, ServerMsg::Who { req: r, .. } if *r == req))
                .await;
            let online = matches!(&answer, ServerMsg::Who { users, .. }
                if users.iter().any(|u| u.name.key() == name(who).key()));
            if !online {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{who} never went offline"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn leave(self) {
        self.shutdown.cancel();
    }
}
