//! Shared helpers: a chat server on a free loopback port, and a test client that speaks the
//! chat protocol over a real session (the client library's link).

use std::net::SocketAddr;
use std::time::Duration;

use chat_server::Settings;
use dgram_client::{Follow, Link, LinkEvent, ServerTarget, SessionEvent};
use dgram_proto::chat::{ClaimKey, ClientMsg, ServerMsg, Target};
use dgram_proto::session::Keypair;
use dgram_proto::Name;
use dgram_testkit::InProcess;
use tokio::net::UdpSocket;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) type Server = InProcess<(), chat_server::Error>;

pub(crate) fn settings() -> Settings {
    Settings {
        seed: Some([3; 32]),
        // One server key across the restarts a test does, as a data directory keeps it.
        identity: Some(Keypair::from_seed([4; 32])),
        ..Settings::default()
    }
}

pub(crate) async fn server(settings: Settings) -> Server {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    server_on(socket, settings)
}

pub(crate) fn server_on(socket: UdpSocket, settings: Settings) -> Server {
    InProcess::start(socket, |socket, shutdown| {
        chat_server::run(socket, shutdown, settings)
    })
}

/// A message id no other message of this test run has (a client chooses its own; these tests
/// reuse request numbers across clients of one name, so the request cannot serve).
pub(crate) fn txn() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A DM request with a fresh client id.
pub(crate) fn dm(req: u64, to: &str, text: &str) -> ClientMsg {
    ClientMsg::Send {
        req,
        txn: txn(),
        to: Target::User(name(to)),
        text: text.into(),
    }
}

pub(crate) fn name(s: &str) -> Name {
    Name::new(s).expect("valid name")
}

/// A chat client that speaks the protocol as the test says, message by message: the client
/// library's session link, without its state machine (the tests choose when to say Hello, and
/// with which old claim key). Each connects as an identity (a key pair) of its own unless the
/// test gives one: names belong to keys.
pub(crate) struct Chat {
    pub(crate) addr: SocketAddr,
    link: Link,
    /// The key pair the session proved.
    pub(crate) identity: Keypair,
    /// Its identity, once a hello was welcomed: what another session needs to be the same
    /// user.
    pub(crate) key: Option<Keypair>,
    next_req: u64,
}

/// A new identity, as a new client home makes.
pub(crate) fn identity() -> Keypair {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Keypair::from_seed(*blake3::hash(&n.to_le_bytes()).as_bytes())
}

/// A chat message from the server, `Err` for what the server sent that is not chat, `Ok(None)`
/// for the link's other news.
fn message(event: LinkEvent) -> Result<Option<ServerMsg>, String> {
    match event {
        LinkEvent::Session(SessionEvent::Message(m)) => Ok(Some(m)),
        LinkEvent::Session(SessionEvent::Undecodable(why)) => Err(why),
        LinkEvent::Session(
            SessionEvent::Connected { .. }
            | SessionEvent::Closed { .. }
            | SessionEvent::Failed { .. },
        )
        | LinkEvent::Submitted { .. }
        | LinkEvent::Moved(_)
        | LinkEvent::LookupFailed(_) => Ok(None),
        LinkEvent::Stopped(why) => panic!("the driver stopped: {why}"),
        LinkEvent::Session(SessionEvent::Refused { reason }) => panic!("refused: {reason}"),
    }
}

impl Chat {
    /// Connects a session as a new identity; does not say hello yet.
    pub(crate) async fn connect(server: SocketAddr, bind: &str) -> Chat {
        Chat::connect_as(server, bind, identity()).await
    }

    /// Connects a session as `identity`; does not say hello yet.
    pub(crate) async fn connect_as(server: SocketAddr, bind: &str, identity: Keypair) -> Chat {
        let socket = UdpSocket::bind(bind).await.expect("bind");
        let target = ServerTarget::new(&server.to_string(), server);
        let link =
            Link::open_on(socket, target, Follow::system(), identity.clone()).expect("a link");
        let mut chat = Chat {
            addr: link.local_addr(),
            link,
            identity,
            key: None,
            next_req: 1,
        };
        loop {
            let event = chat.event().await;
            if let LinkEvent::Session(SessionEvent::Connected { .. }) = event {
                break;
            }
        }
        chat
    }

    /// Connects as `key` (a new identity if `None`) and joins as `who`; returns the welcome
    /// or the error.
    pub(crate) async fn join(
        server: SocketAddr,
        who: &str,
        key: Option<Keypair>,
    ) -> (Chat, ServerMsg) {
        let identity = key.unwrap_or_else(identity);
        let mut chat = Chat::connect_as(server, "127.0.0.1:0", identity).await;
        let answer = chat.hello(who, None).await;
        (chat, answer)
    }

    /// Says hello as `who`, with an older release's claim key if `legacy`.
    pub(crate) async fn hello(&mut self, who: &str, legacy: Option<ClaimKey>) -> ServerMsg {
        self.hello_as(who, legacy, false).await
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
        if let ServerMsg::Welcome { .. } = &answer {
            self.key = Some(self.identity.clone());
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
        // Its fate (a Submitted event) does not matter: as a lost datagram, it is the
        // session's to resend or the test's to see missing.
        self.link
            .transmit_bytes(bytes, None)
            .await
            .expect("driver running");
    }

    async fn event(&mut self) -> LinkEvent {
        tokio::time::timeout(WAIT, self.link.recv())
            .await
            .expect("an event in time")
            .expect("driver running")
    }

    /// The next chat message from the server.
    pub(crate) async fn next(&mut self) -> ServerMsg {
        loop {
            let event = self.event().await;
            if let Some(m) = message(event).expect("the server speaks chat") {
                return m;
            }
        }
    }

    /// The next thing from the server that is not chat this build can read: why.
    pub(crate) async fn next_unreadable(&mut self) -> String {
        loop {
            if let Err(why) = message(self.event().await) {
                return why;
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
            match tokio::time::timeout_at(deadline, self.link.recv()).await {
                Err(_) | Ok(None) => return None,
                Ok(Some(event)) => match message(event) {
                    Ok(None) => {}
                    Ok(Some(m)) => return Some(m),
                    Err(_) => return None,
                },
            }
        }
    }

    /// Waits until the session layer has joined a server again, after the old session ended;
    /// returns the chat messages that arrived meanwhile.
    pub(crate) async fn reconnected(&mut self) -> Vec<ServerMsg> {
        let mut closed = false;
        let mut seen = Vec::new();
        loop {
            let event = match tokio::time::timeout(WAIT * 3, self.link.recv()).await {
                Ok(Some(event)) => event,
                Ok(None) | Err(_) => panic!("no reconnection in time"),
            };
            if let LinkEvent::Session(SessionEvent::Closed { .. }) = event {
                closed = true;
            }
            if let (LinkEvent::Session(SessionEvent::Connected { resumed: false }), true) =
                (&event, closed)
            {
                return seen;
            }
            seen.extend(message(event).ok().flatten());
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
        self.link.leave();
    }
}
