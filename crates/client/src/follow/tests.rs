//! Following a server's name: which address a lookup's answer picks, which `--server` texts
//! are names, the follower alone with the test as its driver (the address is current before
//! the move is told, each outage's failed lookup is told, a lookup that never answers times
//! out), and whole sessions against real chat servers on loopback, run in-process: one
//! stops, its name (answered by a fake resolver, no DNS) now points at another on a new port,
//! and the client finds it on its own; an `IP:PORT` is never looked up at all.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dgram_proto::Name;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::keys::KeyFile;
use crate::note::Note;
use crate::{Identity, Session};

/// The longest any one step may take before a test fails.
const WAIT: Duration = Duration::from_secs(10);

/// How often the tests' clients look their server up again.
const EVERY: Duration = Duration::from_millis(100);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal")
}

#[test]
fn the_next_address_is_tried_and_the_family_is_the_sockets() {
    let current = addr("172.18.0.4:8081");
    let moved = addr("172.18.0.5:8081");
    let third = addr("172.18.0.6:8081");
    let v6 = addr("[fd00::5]:8081");
    assert_eq!(pick(&[current], current), Ok(current), "all there is");
    assert_eq!(pick(&[current, moved, third], current), Ok(moved));
    assert_eq!(pick(&[current, moved, third], third), Ok(current), "round");
    assert_eq!(
        pick(&[moved, current, moved], current),
        Ok(moved),
        "once each"
    );
    assert_eq!(
        pick(&[v6, moved], current),
        Ok(moved),
        "IPv4 for an IPv4 socket"
    );
    assert_eq!(pick(&[moved, v6], addr("[fd00::4]:8081")), Ok(v6));
    let err = pick(&[v6], current).expect_err("no IPv4 address");
    assert!(err.contains("no usable IPv4 address"), "{err}");
    let useless = [addr("0.0.0.0:8081"), addr("172.18.0.6:0")];
    assert!(pick(&useless, current).is_err());
    assert!(pick(&[], current).is_err());
}

#[test]
fn only_names_are_followed() {
    assert!(ServerTarget::new("127.0.0.1:8081", addr("127.0.0.1:8081")).literal);
    assert!(ServerTarget::new(" [::1]:8081 ", addr("[::1]:8081")).literal);
    let named = ServerTarget::new("chat:8081", addr("172.18.0.4:8081"));
    assert!(!named.literal);
    assert_eq!(named.given, "chat:8081");
    // A list is followed even of addresses: the next is tried when one stops answering.
    let list = ServerTarget::new(" 127.0.0.1:8081, 127.0.0.1:8082,", addr("127.0.0.1:8081"));
    assert!(!list.literal);
    assert_eq!(list.servers(), ["127.0.0.1:8081", "127.0.0.1:8082"]);
}

/// A resolver whose answer the test sets; it counts the lookups.
#[derive(Clone)]
struct FakeDns {
    answer: Arc<Mutex<Result<Vec<SocketAddr>, String>>>,
    lookups: Arc<AtomicUsize>,
}

impl FakeDns {
    fn new(answer: SocketAddr) -> Self {
        Self {
            answer: Arc::new(Mutex::new(Ok(vec![answer]))),
            lookups: Arc::default(),
        }
    }

    fn answer(&self, answer: Result<Vec<SocketAddr>, &str>) {
        *self.answer.lock().expect("lock") = answer.map_err(str::to_owned);
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    fn follow(&self) -> Follow {
        let dns = self.clone();
        let resolver: Resolver = Arc::new(move |_: &str| {
            dns.lookups.fetch_add(1, Ordering::SeqCst);
            let answer = dns.answer.lock().expect("lock").clone();
            Box::pin(std::future::ready(answer.map_err(io::Error::other)))
        });
        Follow {
            resolver,
            every: EVERY,
            lookup_timeout: WAIT,
        }
    }
}

/// A follower on its own, with the test as its driver: the test says when the session is up,
/// runs the follower's commands on a client of its own, and reads its events.
struct Harness {
    up: watch::Sender<bool>,
    current: watch::Receiver<SocketAddr>,
    commands: mpsc::Receiver<Command<ChatSession>>,
    events: mpsc::UnboundedReceiver<LinkEvent>,
    task: JoinHandle<()>,
}

impl Harness {
    fn start(follow: Follow, at: SocketAddr) -> Self {
        let (up, up_rx) = watch::channel(false);
        let (current_tx, current) = watch::channel(at);
        let (commands_tx, commands) = mpsc::channel(4);
        let (events_tx, events) = mpsc::unbounded_channel();
        let follower = Follower {
            given: "chat.test:8081".to_owned(),
            follow,
            up: up_rx,
            current: current_tx,
            commands: commands_tx,
            events: events_tx,
        };
        let task = tokio::spawn(follower.run());
        Self {
            up,
            current,
            commands,
            events,
            task,
        }
    }

    /// The next news the follower sends, if some comes `within`.
    async fn news(&mut self, within: Duration) -> Option<LinkEvent> {
        match tokio::time::timeout(within, self.events.recv()).await {
            Ok(Some(news @ (LinkEvent::Moved(_) | LinkEvent::LookupFailed(_)))) => Some(news),
            Ok(other) => panic!("not the follower's news: {other:?}"),
            Err(_) => None,
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn failed_because(news: Option<LinkEvent>, why: &str) {
    assert!(
        matches!(&news, Some(LinkEvent::LookupFailed(f)) if f.reason.contains(why)),
        "{news:?}"
    );
}

#[tokio::test]
async fn the_new_address_is_current_before_the_moved_note_arrives() {
    let (a, b) = (addr("127.0.0.1:8081"), addr("127.0.0.1:8082"));
    let mut h = Harness::start(FakeDns::new(b).follow(), a);
    let command = tokio::time::timeout(WAIT, h.commands.recv())
        .await
        .expect("a retarget in time")
        .expect("the follower runs");
    let now = dgram_net::session::now();
    let mut session = ChatSession::new(
        [7; 32],
        a,
        now,
        crate::process_identity(),
        dgram_proto::session::ServerPin::Any,
    );
    command(&mut session, now);
    // No await between running the command and these: what the follower task would do once
    // it runs again is not seen here.
    let moved = LinkEvent::Moved(Moved {
        given: "chat.test:8081".to_owned(),
        from: a,
        to: b,
    });
    assert_eq!(h.events.try_recv(), Ok(moved));
    assert_eq!(*h.current.borrow(), b);
    assert_eq!(session.server(), b);
}

#[tokio::test]
async fn each_outage_reports_its_failed_lookup() {
    let dns = FakeDns::new(addr("127.0.0.1:8081"));
    dns.answer(Err("no such host"));
    let mut h = Harness::start(dns.follow(), addr("127.0.0.1:8081"));
    failed_because(h.news(WAIT).await, "no such host");
    // Said once per outage however often it is tried.
    assert_eq!(h.news(EVERY * 4).await, None);
    // The session comes back at the same address, the name still failing: no lookups while it
    // lasts (the wait lets the follower see it up before it ends).
    h.up.send_replace(true);
    tokio::time::sleep(EVERY * 2).await;
    let during = dns.lookups();
    tokio::time::sleep(EVERY * 3).await;
    assert_eq!(dns.lookups(), during);
    // It ends again: that outage's failure is news too.
    h.up.send_replace(false);
    failed_because(h.news(EVERY * 10).await, "no such host");
}

#[tokio::test]
async fn a_lookup_that_never_answers_times_out() {
    let resolver: Resolver = Arc::new(|_: &str| Box::pin(std::future::pending()));
    let follow = Follow {
        resolver,
        every: EVERY,
        lookup_timeout: Duration::from_millis(50),
    };
    let mut h = Harness::start(follow, addr("127.0.0.1:8081"));
    failed_because(h.news(WAIT).await, "no answer within 0.05 s");
}

/// The real chat server (in memory) on a free loopback port, on the test's runtime.
struct ChatServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<Result<(), chat_server::Error>>,
}

impl ChatServer {
    async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the chat server");
        let addr = socket.local_addr().expect("local address");
        let stop = CancellationToken::new();
        // One key for every server here: the same server, come back at a new address.
        let settings = chat_server::Settings {
            identity: Some(dgram_proto::session::Keypair::from_seed([0x5E; 32])),
            ..chat_server::Settings::default()
        };
        let task = tokio::spawn(chat_server::run(socket, stop.clone(), settings));
        Self { addr, stop, task }
    }

    /// Stops it; its goodbye reaches every client.
    async fn stop(self) {
        self.stop.cancel();
        let ran = tokio::time::timeout(WAIT, self.task).await;
        ran.expect("stopped in time")
            .expect("the server task")
            .expect("the server ran");
    }
}

/// A claim-key directory of the test's own, removed when dropped.
struct Home(tempfile::TempDir);

impl Home {
    fn new(tag: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("dgram-follow-test-{tag}-"))
            .tempdir()
            .expect("a temporary directory");
        Self(dir)
    }

    fn identity(&self, server: ServerTarget) -> Identity {
        let name = Name::new("alex").expect("valid name");
        let keys = KeyFile::new(self.0.path(), &server.given, &name);
        Identity {
            server,
            name,
            key: crate::process_identity(),
            keys,
        }
    }
}

/// Runs the session, collecting its notes, until one satisfies `want` (true) or `within` has
/// passed (false).
async fn run(
    session: &mut Session,
    notes: &mut Vec<Note>,
    within: Duration,
    want: impl Fn(&Note) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let new = session.pump().await.expect("pump");
        let done = new.iter().any(&want);
        notes.extend(new);
        if done {
            return true;
        }
        tokio::select! {
            stepped = session.step() => stepped.expect("step"),
            () = tokio::time::sleep_until(deadline) => return false,
        }
    }
}

fn welcome(again: bool) -> impl Fn(&Note) -> bool {
    move |n| matches!(n, Note::Welcome { again: a, .. } if *a == again)
}

fn disconnected(n: &Note) -> bool {
    matches!(n, Note::Disconnected { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_follows_its_servers_name_to_a_new_address() {
    let a = ChatServer::start().await;
    let a_addr = a.addr;
    let dns = FakeDns::new(a_addr);
    let home = Home::new("moved");
    let id = home.identity(ServerTarget::new("chat.test:8081", a_addr));
    let mut session = Session::open_with(&id, dns.follow()).await.expect("open");
    let mut notes = Vec::new();
    assert!(run(&mut session, &mut notes, WAIT, welcome(false)).await);

    // Connected: nothing is looked up while the session lasts.
    let before = dns.lookups();
    run(&mut session, &mut notes, EVERY * 5, |_| false).await;
    assert_eq!(dns.lookups(), before);

    // The server goes away, and for a while its name resolves to nothing: said once, not
    // fatal, and tried again and again.
    dns.answer(Err("no such host"));
    a.stop().await;
    assert!(run(&mut session, &mut notes, WAIT, disconnected).await);
    run(&mut session, &mut notes, EVERY * 6, |_| false).await;
    assert!(dns.lookups() >= before + 3, "{} lookups", dns.lookups());
    let failed: Vec<&Note> = notes
        .iter()
        .filter(|n| matches!(n, Note::LookupFailed(_)))
        .collect();
    assert_eq!(failed.len(), 1, "{notes:#?}");
    assert!(
        matches!(failed[0], Note::LookupFailed(LookupFailed { given, reason, trying })
            if given == "chat.test:8081" && reason.contains("no such host") && *trying == a_addr),
        "{failed:?}"
    );

    // It comes back elsewhere: the client finds it with no help, says so, and is welcomed.
    let b = ChatServer::start().await;
    assert_ne!(a_addr, b.addr);
    dns.answer(Ok(vec![b.addr]));
    let seen = notes.len();
    assert!(run(&mut session, &mut notes, WAIT, welcome(true)).await);
    let news = &notes[seen..];
    let moved = Note::Moved(Moved {
        given: "chat.test:8081".to_owned(),
        from: a_addr,
        to: b.addr,
    });
    let at = news.iter().position(|n| *n == moved);
    let up = news
        .iter()
        .position(|n| matches!(n, Note::Connected { .. }));
    assert!(at.is_some() && at < up, "{news:#?}");
    assert_eq!(news.iter().filter(|n| **n == moved).count(), 1);
    assert_eq!(session.link.server(), b.addr);
    session.close().await.expect("close");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_address_is_never_looked_up() {
    let a = ChatServer::start().await;
    let a_addr = a.addr;
    let b = ChatServer::start().await;
    // Were it ever asked, the resolver would send the client to `b`.
    let dns = FakeDns::new(b.addr);
    let home = Home::new("literal");
    let id = home.identity(ServerTarget::new(&a_addr.to_string(), a_addr));
    let mut session = Session::open_with(&id, dns.follow()).await.expect("open");
    let mut notes = Vec::new();
    assert!(run(&mut session, &mut notes, WAIT, welcome(false)).await);
    a.stop().await;
    assert!(run(&mut session, &mut notes, WAIT, disconnected).await);
    let found_b = run(&mut session, &mut notes, EVERY * 8, |n| {
        matches!(n, Note::Connected { .. } | Note::Moved(_))
    });
    assert!(!found_b.await, "{notes:#?}");
    assert_eq!(dns.lookups(), 0);
    assert_eq!(session.link.server(), a_addr);
    session.close().await.expect("close");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_given_a_list_goes_on_to_the_next_server() {
    // Nothing listens on the first: it is passed over until one answers.
    let nobody = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let dead = nobody.local_addr().expect("local address");
    drop(nobody);
    let a = ChatServer::start().await;
    let b = ChatServer::start().await;
    let (a_addr, b_addr) = (a.addr, b.addr);
    let dns = FakeDns::new(b_addr);
    let home = Home::new("list");
    let given = format!("{dead},{a_addr}, {b_addr}");
    let id = home.identity(ServerTarget::new(&given, dead));
    let mut session = Session::open_with(&id, dns.follow()).await.expect("open");
    let mut notes = Vec::new();
    assert!(run(&mut session, &mut notes, WAIT, welcome(false)).await);
    assert_eq!(session.link.server(), a_addr, "{notes:#?}");

    // Its server goes: the next one of the list welcomes the same name back.
    a.stop().await;
    let seen = notes.len();
    assert!(run(&mut session, &mut notes, WAIT, welcome(true)).await);
    let moved = Note::Moved(Moved {
        given: given.clone(),
        from: a_addr,
        to: b_addr,
    });
    assert!(notes[seen..].contains(&moved), "{:#?}", &notes[seen..]);
    assert_eq!(session.link.server(), b_addr);
    // Addresses are never looked up.
    assert_eq!(dns.lookups(), 0);
    session.close().await.expect("close");
    b.stop().await;
}
