//! The client library across a real crash: the server process is killed with SIGKILL and
//! started again on the same data directory. A line typed meanwhile is sent once a session is
//! back (not reported "not delivered"), the dead server noticed within seconds, and a message the server stored but whose answer never
//! reached its sender is answered, when the client sends it again, with its original id: the
//! sender sees it accepted once, the recipient and the history hold it once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dgram_client::{
    Follow, Identity, IdentityFile, KeyFile, Note, SendState, ServerTarget, Session,
};
use dgram_proto::chat::{ChatId, ClientMsg, ServerMsg, Target};
use dgram_proto::RequestId;
use tokio::net::UdpSocket;

use crate::binary::spawn;
use crate::support::{name, Chat};

/// How long a resend may take on a loaded machine: the client notices the restart in a few
/// seconds (its resume is refused by the new process, or it gives up on the silence).
const RESEND_WAIT: Duration = Duration::from_secs(25);

/// How long a client may take to notice that its server is gone while a message waits: the
/// session's `dead_after` (8 s) and slack for a loaded machine, well under the idle timeout.
const NOTICE_WAIT: Duration = Duration::from_secs(14);

/// A relay in front of the server whose answers can be dropped, as a path that fails one way.
struct Relay {
    addr: SocketAddr,
    deaf: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(server: SocketAddr) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let back = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = front.local_addr().expect("addr");
        let deaf = Arc::new(AtomicBool::new(false));
        let drop_answers = Arc::clone(&deaf);
        let task = tokio::spawn(async move {
            let (mut a, mut b) = (vec![0; 2048], vec![0; 2048]);
            let mut client = None;
            loop {
                tokio::select! {
                    Ok((n, from)) = front.recv_from(&mut a) => {
                        client = Some(from);
                        let _ = back.send_to(&a[..n], server).await;
                    }
                    Ok((n, _)) = back.recv_from(&mut b) => {
                        if let (Some(to), false) = (client, drop_answers.load(Ordering::SeqCst)) {
                            let _ = front.send_to(&b[..n], to).await;
                        }
                    }
                }
            }
        });
        Relay { addr, deaf, task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Alex, as a front end runs the client library.
async fn alex(server: SocketAddr, home: &std::path::Path) -> Session {
    let me = name("alex");
    // The home's identity, as the client-cli makes it: the same key after the restart.
    let identity = IdentityFile::new(home).load_or_create().expect("identity");
    let id = Identity {
        server: ServerTarget::new(&server.to_string(), server),
        keys: KeyFile::new(home, &server.to_string(), &me),
        key: identity,
        name: me,
    };
    let mut session = Session::open_with(&id, Follow::system())
        .await
        .expect("open");
    run_until(&mut session, Duration::from_secs(10), |n| {
        matches!(n, Note::Welcome { .. })
    })
    .await;
    session
}

/// Steps the session and shows nothing, until a note matches (bounded); every note seen.
async fn run_until(
    session: &mut Session,
    within: Duration,
    want: impl Fn(&Note) -> bool,
) -> Vec<Note> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let notes = session.pump().await.expect("pump");
        let done = notes.iter().any(&want);
        seen.extend(notes);
        if done {
            return seen;
        }
        match tokio::time::timeout_at(deadline, session.step()).await {
            Ok(stepped) => stepped.expect("the link runs"),
            Err(_) => panic!("not seen in {within:?}; saw {seen:#?}"),
        }
    }
}

/// The final states shown for request `req`: not its sending, nor its waiting for a session
/// (said once the client knows the session is gone).
fn states(notes: &[Note], req: RequestId) -> Vec<(Option<ChatId>, SendState)> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::State { msg, id, state } if msg.req == req => Some((*id, state.clone())),
            _ => None,
        })
        .filter(|(_, s)| !matches!(s, SendState::Sending | SendState::Queued))
        .collect()
}

fn accepted_for(req: RequestId) -> impl Fn(&Note) -> bool {
    move |n| matches!(n, Note::State { msg, state: SendState::Accepted, .. } if msg.req == req)
}

/// The ids egon holds messages with `text` under, after reconnecting to the new process.
async fn egon_after_restart(egon: &mut Chat, text: &str) -> Vec<ChatId> {
    let mut seen = egon.reconnected().await;
    let welcome = egon.hello("egon", None).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
    seen.extend(egon.drain(Duration::from_millis(1500)).await);
    let mut ids: Vec<ChatId> = seen
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Message(p) if p.text == text => Some(p.id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[tokio::test]
async fn a_line_typed_while_the_server_is_down_is_sent_once_it_is_back() {
    let data = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let (mut server, addr) = spawn(data.path(), "127.0.0.1:0", &["--rate", "0"]);
    let (mut egon, _) = Chat::join(addr, "egon", None).await;
    let mut alex = alex(addr, home.path()).await;

    server.kill().expect("SIGKILL");
    server.wait().expect("reap");
    let text = "typed during the crash";
    let req = alex.chat.send(Target::User(name("egon")), text.into());
    let sent_at = tokio::time::Instant::now();
    // Nothing answers: the client says so within seconds (not the 30 s idle timeout), and
    // the line is not reported lost.
    let mut notes = run_until(&mut alex, NOTICE_WAIT, |n| {
        matches!(n, Note::Disconnected { .. })
    })
    .await;
    let noticed = sent_at.elapsed();
    assert!(noticed < NOTICE_WAIT, "{noticed:?}");
    let (mut restarted, _) = spawn(data.path(), &addr.to_string(), &["--rate", "0"]);

    notes.extend(run_until(&mut alex, RESEND_WAIT, accepted_for(req)).await);
    let shown = states(&notes, req);
    assert!(
        matches!(&shown[..], [(Some(_), SendState::Accepted)]),
        "one final state, accepted: {shown:?} in {notes:#?}"
    );
    let ids = egon_after_restart(&mut egon, text).await;
    assert_eq!(ids.len(), 1, "egon has it once: {ids:?}");
    assert_eq!(Some(ids[0]), shown[0].0);
    let _ = restarted.kill();
    let _ = restarted.wait();
}

#[tokio::test]
async fn a_message_stored_but_never_answered_is_not_stored_again_when_resent() {
    let data = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let (mut server, addr) = spawn(data.path(), "127.0.0.1:0", &["--rate", "0"]);
    let (mut egon, _) = Chat::join(addr, "egon", None).await;
    let relay = Relay::to(addr).await;
    let mut alex = alex(relay.addr, home.path()).await;

    // The server's answers stop reaching alex; the message is stored and delivered anyway.
    relay.deaf.store(true, Ordering::SeqCst);
    let text = "stored, never answered";
    let req = alex.chat.send(Target::User(name("egon")), text.into());
    let _ = alex.pump().await.expect("pump");
    let got = egon
        .until(|m| matches!(m, ServerMsg::Message(p) if p.text == text))
        .await;
    let ServerMsg::Message(original) = got else {
        unreachable!()
    };
    server.kill().expect("SIGKILL");
    server.wait().expect("reap");
    let (mut restarted, _) = spawn(data.path(), &addr.to_string(), &["--rate", "0"]);
    relay.deaf.store(false, Ordering::SeqCst);

    let notes = run_until(&mut alex, RESEND_WAIT, accepted_for(req)).await;
    let shown = states(&notes, req);
    assert_eq!(
        shown,
        [(Some(original.id), SendState::Accepted)],
        "accepted once, as the message it was: {notes:#?}"
    );
    let ids = egon_after_restart(&mut egon, text).await;
    assert!(ids.iter().all(|&id| id == original.id), "{ids:?}");

    // The history holds it once.
    let hreq = egon.req();
    egon.send(ClientMsg::History {
        req: hreq,
        with: Target::User(name("alex")),
        since: None,
        before: None,
        limit: 50,
    })
    .await;
    let history = egon
        .until(|m| matches!(m, ServerMsg::History { req: Some(_), .. }))
        .await;
    let ServerMsg::History { messages, .. } = history else {
        unreachable!()
    };
    let copies = messages.iter().filter(|p| p.text == text).count();
    assert_eq!(copies, 1, "{messages:?}");
    drop(relay);
    let _ = restarted.kill();
    let _ = restarted.wait();
}
