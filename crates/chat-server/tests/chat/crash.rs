//! Crash safety: the server is killed with SIGKILL while clients send; after a restart, every
//! message whose sender saw it accepted is in history and reaches its recipient (once each,
//! counting by message id: redelivery after a crash is idempotent), and nothing appears that
//! was never sent.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use dgram_proto::chat::{ClientMsg, ServerMsg, Target};

use crate::binary::spawn;
use crate::support::{name, Chat};

fn ids(msgs: &[ServerMsg], pick: impl Fn(&ServerMsg) -> Option<u64>) -> BTreeSet<u64> {
    msgs.iter().filter_map(pick).collect()
}

fn accepted(m: &ServerMsg) -> Option<u64> {
    match m {
        ServerMsg::Accepted { id, .. } => Some(*id),
        _ => None,
    }
}

fn received(m: &ServerMsg) -> Option<u64> {
    match m {
        ServerMsg::Message(p) if p.text.starts_with("crash-test ") => Some(p.id),
        _ => None,
    }
}

#[tokio::test]
async fn nothing_accepted_is_lost_when_the_server_is_killed() {
    let data = tempfile::tempdir().expect("tempdir");
    let (mut server, addr) = spawn(
        data.path(),
        "127.0.0.1:0",
        &["--rate", "0", "--name-rate", "0", "--ip-rate", "0"],
    );
    let (mut alex, _) = Chat::join(addr, "alex", None).await;
    let (mut lishi, _) = Chat::join(addr, "黎诗", None).await;
    let (mut egon, _) = Chat::join(addr, "egon", None).await;

    // Two senders keep messages coming to egon; the server dies in the middle of it.
    for i in 0..150 {
        for (who, c) in [("alex", &mut alex), ("黎诗", &mut lishi)] {
            let req = c.req();
            let text = format!("crash-test {who} {i}");
            c.send(ClientMsg::Send {
                req,
                txn: crate::support::txn(),
                to: Target::User(name("egon")),
                text,
            })
            .await;
        }
    }
    let mut seen_by_alex = Vec::new();
    while ids(&seen_by_alex, accepted).len() < 30 {
        seen_by_alex.push(alex.next().await);
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("reap");
    seen_by_alex.extend(alex.drain(Duration::from_millis(300)).await);
    let mut seen_by_lishi = lishi.drain(Duration::from_millis(300)).await;
    let mut seen_by_egon = egon.drain(Duration::from_millis(300)).await;
    let before_restart = ids(&seen_by_egon, received);

    let (mut restarted, _) = spawn(
        data.path(),
        &addr.to_string(),
        &["--rate", "0", "--name-rate", "0", "--ip-rate", "0"],
    );
    // Each reconnects as its own identity: that proves its name.
    for (c, seen, who) in [
        (&mut alex, &mut seen_by_alex, "alex"),
        (&mut lishi, &mut seen_by_lishi, "黎诗"),
        (&mut egon, &mut seen_by_egon, "egon"),
    ] {
        seen.extend(c.reconnected().await);
        let welcome = c.hello(who, None).await;
        assert!(
            matches!(welcome, ServerMsg::Welcome { .. }),
            "{who}: {welcome:?}"
        );
    }
    let sent: BTreeSet<u64> = ids(&seen_by_alex, accepted)
        .union(&ids(&seen_by_lishi, accepted))
        .copied()
        .collect();
    // Redelivery takes as long as it takes on a loaded machine: wait (bounded) until egon has
    // everything or nothing more comes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let more = egon.drain(Duration::from_millis(500)).await;
        let quiet = more.is_empty();
        seen_by_egon.extend(more);
        let complete = sent.is_subset(&ids(&seen_by_egon, received));
        if complete || (quiet && tokio::time::Instant::now() > deadline) {
            break;
        }
    }
    let got = ids(&seen_by_egon, received);
    assert!(sent.len() >= 30);
    let missing: Vec<_> = sent.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "accepted but never delivered: {missing:?}"
    );
    // Everything egon saw was really sent, and what he had before the crash came back at most
    // once more (by id), not as new messages.
    let mut texts: Vec<String> = seen_by_egon
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Message(p) if p.text.starts_with("crash-test ") => {
                Some(format!("{} {}", p.id, p.text))
            }
            _ => None,
        })
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), got.len(), "one text per id");
    assert!(before_restart.is_subset(&got));

    // And the history holds every accepted message.
    let req = alex.req();
    alex.send(ClientMsg::History {
        req,
        with: Target::User(name("egon")),
        since: None,
        before: None,
        limit: 200,
    })
    .await;
    let history = alex
        .until(|m| matches!(m, ServerMsg::History { req: Some(_), .. }))
        .await;
    let ServerMsg::History { messages, .. } = history else {
        unreachable!()
    };
    let in_history: BTreeSet<u64> = messages.iter().map(|p| p.id).collect();
    let alex_sent = ids(&seen_by_alex, accepted);
    assert!(
        alex_sent.is_subset(&in_history),
        "history lost some: {:?}",
        alex_sent.difference(&in_history).collect::<Vec<_>>()
    );
    let _ = Command::new("kill")
        .args(["-TERM", &restarted.id().to_string()])
        .status();
    let _ = restarted.wait();
}
