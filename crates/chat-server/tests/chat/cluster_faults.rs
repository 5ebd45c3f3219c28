//! The cluster under faults: with every NATS node gone new messages are refused ("cluster
//! unavailable; not sent"), then accepted again once the nodes are back; the node of three
//! that the instances' followers read through, killed while messages flow, loses none that was
//! accepted: every one reaches the other instance within the cluster tests' `LAG`.

use std::time::Duration;

use dgram_proto::chat::{ErrorKind, ServerMsg};
use tokio::time::Instant;

use crate::cluster::{claim, delivered, got_message, send_dm, soon, LAG};
use crate::nats_support::two_instances;
use crate::support::dm;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_gone_messages_are_refused_then_accepted_once_it_is_back() {
    let (mut nats, a, b) = two_instances().await;
    let (mut alex, _) = claim(&a, "alex").await;
    let (mut bea, _) = claim(&b, "bea").await;
    let id = send_dm(&mut alex, "bea", "before").await;
    got_message(&mut bea, "before").await;
    delivered(&mut alex, id).await;

    for i in 0..3 {
        nats.kill(i);
    }
    let req = alex.req();
    alex.send(dm(req, "bea", "into the void")).await;
    let answer = alex
        .until(|m| matches!(m, ServerMsg::Accepted { req: r, .. } | ServerMsg::Error { req: Some(r), .. } if *r == req))
        .await;
    assert!(
        matches!(&answer, ServerMsg::Error { kind: ErrorKind::Unavailable, message, .. }
            if message.contains("cluster unavailable") && message.contains("not sent")),
        "{answer:?}"
    );
    // Never accepted, so never delivered either.
    assert!(bea
        .drain(Duration::from_millis(500))
        .await
        .iter()
        .all(|m| !matches!(m, ServerMsg::Message(p) if p.text == "into the void")));

    for i in 0..3 {
        nats.restart(i);
    }
    nats.ready().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let req = alex.req();
        alex.send(dm(req, "bea", "after")).await;
        let answer = alex
            .until(|m| matches!(m, ServerMsg::Accepted { req: r, .. } | ServerMsg::Error { req: Some(r), .. } if *r == req))
            .await;
        if let ServerMsg::Accepted { id, .. } = answer {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "never accepted again: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The other instance's follower finds the log again on its own (within seconds).
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        match bea.quiet_for(Duration::from_secs(1)).await {
            Some(ServerMsg::Message(p)) if p.text == "after" => break p.id,
            _ => assert!(Instant::now() < deadline, "never delivered after recovery"),
        }
    };
    assert_eq!(got, id);
    delivered(&mut alex, id).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_node_killed_under_load_loses_no_accepted_message() {
    const N: usize = 60;
    let (mut nats, a, b) = two_instances().await;
    let (mut alex, _) = claim(&a, "alex").await;
    let (mut bea, _) = claim(&b, "bea").await;
    // bea's claim has reached alex's instance before the load starts.
    let first = send_dm(&mut alex, "bea", "warm-up").await;
    let mut accepted = std::collections::BTreeSet::from([first]);
    let mut refused = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    let mut killed = 0;
    // Until N are accepted: a message sent while the instance reconnects to another node, or
    // while a stream elects a new leader, is refused ("cluster unavailable"), never lost.
    while accepted.len() < N {
        assert!(
            Instant::now() < deadline,
            "accepted only {} of {N}",
            accepted.len()
        );
        if i == N / 3 {
            // The node the instances' followers read the log through: their consumers die
            // with it, and the cluster may place new ones there for some seconds after.
            killed = nats.followers_node().await;
            nats.kill(killed);
        }
        i += 1;
        let req = alex.req();
        alex.send(dm(req, "bea", &format!("load {i}"))).await;
        match soon(&mut alex, |m| matches!(m, ServerMsg::Accepted { req: r, .. } | ServerMsg::Error { req: Some(r), .. } if *r == req)).await {
            ServerMsg::Accepted { id, .. } => {
                accepted.insert(id);
            }
            ServerMsg::Error {
                kind: ErrorKind::Unavailable,
                ..
            } => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other:?}"),
        }
    }
    let mut got = std::collections::BTreeSet::new();
    let deadline = Instant::now() + LAG;
    while !accepted.is_subset(&got) {
        assert!(
            Instant::now() < deadline,
            "accepted but never delivered: {:?}",
            accepted.difference(&got).collect::<Vec<_>>()
        );
        if let Some(ServerMsg::Message(p)) = bea.quiet_for(Duration::from_millis(500)).await {
            got.insert(p.id);
        }
    }
    eprintln!(
        "node {killed} killed under load: {} accepted, {refused} refused, all accepted delivered",
        accepted.len()
    );
    a.stop().await;
    b.stop().await;
}
