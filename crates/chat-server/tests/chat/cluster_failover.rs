//! A chat instance that dies, and the service carries on: a client given both instances
//! (`--server a,b`, as the client library's `ServerTarget` list) whose instance is killed
//! (its task dropped: no goodbye, as SIGKILL) moves to the other on its own, joins again
//! with the same identity, gets the DM that was queued for it meanwhile, and its own message
//! that the dead instance never answered goes once. The dead instance's names go offline on
//! the others (its heartbeats stop). And the instances share one server key: the first
//! stores it, the others load it and keep it in their data directories, and one whose data
//! directory holds another key is refused at start.

use std::time::Duration;

use dgram_client::{
    Follow, Identity, IdentityFile, KeyFile, Link, LinkEvent, Note, SendState, ServerTarget,
    Session, SessionEvent,
};
use dgram_proto::chat::{ClientMsg, Presence, Room, ServerMsg, Target};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::cluster::{claim, listed, send_dm, soon, LAG};
use crate::nats_support::{
    instance_settings, instance_with, kill, two_instances, until_serving, NatsCluster,
};
use crate::support::{identity, name};

/// How long the whole failover may take: the client notices the silence while a message
/// waits (the session's `dead_after`, 8 s), goes on to the next server, and joins there; with
/// slack for a loaded machine.
const FAILOVER_WAIT: Duration = Duration::from_secs(40);

/// Steps the session until `done` holds for the notes seen so far (bounded); every note.
async fn run_until(
    session: &mut Session,
    within: Duration,
    done: impl Fn(&[Note]) -> bool,
) -> Vec<Note> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        seen.extend(session.pump().await.expect("pump"));
        if done(&seen) {
            return seen;
        }
        match tokio::time::timeout_at(deadline, session.step()).await {
            Ok(stepped) => stepped.expect("the link runs"),
            Err(_) => panic!("not done in {within:?}; saw {seen:#?}"),
        }
    }
}

fn has_message(notes: &[Note], text: &str) -> bool {
    notes
        .iter()
        .any(|n| matches!(n, Note::Message { posted, .. } if posted.text == text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_a_killed_instance_carries_on_through_the_other() {
    let (_nats, a, b) = two_instances().await;
    let home = tempfile::tempdir().expect("tempdir");
    let me = name("alex");
    let given = format!("{},{}", a.addr, b.addr);
    let id = Identity {
        server: ServerTarget::new(&given, a.addr),
        keys: KeyFile::new(home.path(), &given, &me),
        key: IdentityFile::new(home.path())
            .load_or_create()
            .expect("identity"),
        name: me,
    };
    let mut alex = Session::open_with(&id, Follow::system())
        .await
        .expect("open");
    run_until(&mut alex, LAG, |n| {
        n.iter().any(|n| matches!(n, Note::Welcome { .. }))
    })
    .await;
    assert_eq!(alex.server(), a.addr);
    let (mut bea, _) = claim(&b, "bea").await;

    let (a_addr, b_addr) = (a.addr, b.addr);
    kill(a).await;
    let killed = Instant::now();
    // Said as alex's instance dies: nobody answers it there.
    let mine = "sent as my instance died";
    let req = alex.chat.send(Target::User(name("bea")), mine.into());
    // Sent while alex has no session anywhere: queued for alex.
    let queued = "queued while you moved";
    send_dm(&mut bea, "alex", queued).await;

    let notes = run_until(&mut alex, FAILOVER_WAIT, |n| {
        let accepted = n.iter().any(
            |n| matches!(n, Note::State { msg, state: SendState::Accepted, .. } if msg.req == req),
        );
        accepted && has_message(n, queued)
    })
    .await;
    eprintln!(
        "instance killed: carried on through the other within {:?}",
        killed.elapsed()
    );
    assert_eq!(alex.server(), b_addr, "on the other instance now");
    let moved = notes.iter().any(
        |n| matches!(n, Note::Moved(m) if m.from == a_addr && m.to == b_addr && m.given == given),
    );
    assert!(moved, "{notes:#?}");
    let welcomed_again = notes
        .iter()
        .any(|n| matches!(n, Note::Welcome { again: true, .. }));
    assert!(welcomed_again, "{notes:#?}");
    let finals: Vec<&SendState> = notes
        .iter()
        .filter_map(|n| match n {
            Note::State { msg, state, .. } if msg.req == req => Some(state),
            _ => None,
        })
        .filter(|s| !matches!(s, SendState::Sending | SendState::Queued))
        .collect();
    assert_eq!(finals, [&SendState::Accepted], "{notes:#?}");
    // bea has alex's message once, however often it was sent.
    let got = bea.drain(Duration::from_millis(1500)).await;
    let copies = got
        .iter()
        .filter(|m| matches!(m, ServerMsg::Message(p) if p.text == mine))
        .count();
    assert_eq!(copies, 1, "{got:?}");
    alex.close().await.expect("close");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_names_go_offline_on_the_others() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    let (mut alex, _) = claim(&a, "alex").await;
    let (mut bea, _) = claim(&b, "bea").await;
    let room = Room::new("lobby").expect("a room");
    for c in [&mut alex, &mut bea] {
        let req = c.req();
        c.send(ClientMsg::Join {
            req,
            room: room.clone(),
        })
        .await;
        c.until(|m| matches!(m, ServerMsg::Done { req: r } if *r == req))
            .await;
    }
    let deadline = Instant::now() + LAG;
    while !listed(&mut bea, "alex").await {
        assert!(Instant::now() < deadline, "alex never showed online on b");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill(a).await;
    drop(alex);
    // Within the heartbeat's grace (5 s) and the log's lag: offline, told to the room.
    soon(&mut bea, |m| {
        matches!(m, ServerMsg::Presence { name, presence: Presence::Offline }
            if name.as_str() == "alex")
    })
    .await;
    assert!(!listed(&mut bea, "alex").await, "and not listed any more");
    b.stop().await;
}

/// The key a session to `addr` was shown.
async fn shown_key(addr: std::net::SocketAddr) -> [u8; 32] {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let target = ServerTarget::new(&addr.to_string(), addr);
    let mut link = Link::open_on(socket, target, Follow::system(), identity()).expect("a link");
    let connected = async {
        while let Some(event) = link.recv().await {
            if let LinkEvent::Session(SessionEvent::Connected { .. }) = event {
                return;
            }
        }
    };
    tokio::time::timeout(LAG, connected)
        .await
        .expect("connected in time");
    let key = link.server_key().expect("a key once connected");
    link.leave();
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instances_share_one_server_key() {
    let nats = NatsCluster::start(3).await;
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let start = |i: usize, seed: u8| chat_server::Settings {
        identity: None,
        data_dir: Some(dirs[i].path().to_owned()),
        ..instance_settings(&nats.urls(), seed)
    };
    let a = instance_with(start(0, 1)).await;
    until_serving(&a).await;
    let b = instance_with(start(1, 2)).await;
    until_serving(&b).await;
    let key = shown_key(a.addr).await;
    assert_eq!(shown_key(b.addr).await, key, "one key for the service");
    // Both data directories hold it, so `chat-server key` prints it on either.
    let file = |i: usize| std::fs::read_to_string(dirs[i].path().join("server.key")).expect("key");
    assert_eq!(file(0), file(1));

    // An instance whose data directory holds another key is refused, naming both.
    let other = chat_server::server_key::generate().expect("a key");
    chat_server::server_key::save(dirs[2].path(), &other).expect("saved");
    let c = instance_with(start(2, 3)).await;
    let ended = tokio::time::timeout(LAG, c.task)
        .await
        .expect("refused in time")
        .expect("the task joins");
    let err = ended.expect_err("refused").to_string();
    assert!(err.contains("server.key") && err.contains("share"), "{err}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_posts_delivered_counts_the_members_on_the_other_instance() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    let (mut alex, _) = claim(&a, "alex").await;
    let (mut bea, _) = claim(&b, "bea").await;
    let room = Room::new("lobby").expect("a room");
    for c in [&mut alex, &mut bea] {
        let req = c.req();
        c.send(ClientMsg::Join {
            req,
            room: room.clone(),
        })
        .await;
        c.until(|m| matches!(m, ServerMsg::Done { req: r } if *r == req))
            .await;
    }
    // bea's join (and presence) has reached alex's instance.
    soon(
        &mut alex,
        |m| matches!(m, ServerMsg::Presence { name, .. } if name.as_str() == "bea"),
    )
    .await;
    let req = alex.req();
    alex.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::Room(room),
        text: "hi all".into(),
    })
    .await;
    let id = match soon(
        &mut alex,
        |m| matches!(m, ServerMsg::Accepted { req: r, .. } if *r == req),
    )
    .await
    {
        ServerMsg::Accepted { id, .. } => id,
        _ => unreachable!(),
    };
    soon(
        &mut alex,
        |m| matches!(m, ServerMsg::Delivered { id: i } if *i == id),
    )
    .await;
    // Delivered follows bea's session having it: it is in bea's hands already.
    let got = bea.drain(Duration::from_millis(500)).await;
    assert!(
        got.iter()
            .any(|m| matches!(m, ServerMsg::Message(p) if p.id == id)),
        "{got:?}"
    );
    a.stop().await;
    b.stop().await;
}
