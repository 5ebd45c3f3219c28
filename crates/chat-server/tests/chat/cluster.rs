//! Two chat-server instances over a real three-node NATS JetStream cluster on loopback are one
//! chat service: a DM crosses instances both ways with its receipts, a room spans them, a name
//! is claimed once cluster-wide (a race through both instances has one winner), the offline
//! queue is delivered through the other instance, and with NATS gone new messages are refused
//! ("cluster unavailable"), then accepted again once it is back (`cluster_faults`).

use std::time::Duration;

use dgram_proto::chat::{ClientMsg, ErrorKind, Presence, Room, ServerMsg, Target};
use dgram_proto::session::Keypair;
use tokio::time::Instant;

use crate::nats_support::two_instances;
use crate::support::{dm, Chat, Server, WAIT};

/// Claims `who` on `srv`; returns the client and the identity the name now belongs to.
pub(crate) async fn claim(srv: &Server, who: &str) -> (Chat, Keypair) {
    let (chat, welcome) = Chat::join(srv.addr, who, None).await;
    assert!(
        matches!(welcome, ServerMsg::Welcome { .. }),
        "{who}: {welcome:?}"
    );
    let key = chat.identity.clone();
    (chat, key)
}

/// Joins as `who` with its key on `srv`, once the claim has reached that instance.
pub(crate) async fn with_key(srv: &Server, who: &str, key: Keypair) -> Chat {
    let deadline = Instant::now() + WAIT;
    loop {
        let (chat, answer) = Chat::join(srv.addr, who, Some(key.clone())).await;
        if matches!(answer, ServerMsg::Welcome { .. }) {
            return chat;
        }
        assert!(Instant::now() < deadline, "{who} never got in: {answer:?}");
        chat.leave();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a DM and returns its id once accepted; a recipient whose claim has not reached the
/// sender's instance yet (the log's lag, milliseconds) is tried again.
pub(crate) async fn send_dm(from: &mut Chat, to: &str, text: &str) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let req = from.req();
        from.send(dm(req, to, text)).await;
        match from
            .until(|m| matches!(m, ServerMsg::Accepted { req: r, .. } | ServerMsg::Error { req: Some(r), .. } if *r == req))
            .await
        {
            ServerMsg::Accepted { id, .. } => return id,
            ServerMsg::Error {
                kind: ErrorKind::UnknownUser,
                ..
            } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("not accepted: {other:?}"),
        }
    }
}

/// How long a change may take to reach the other instance on this (shared, busy) machine;
/// milliseconds when it is idle.
pub(crate) const LAG: Duration = Duration::from_secs(15);

/// The first message `want` matches, within [`LAG`].
pub(crate) async fn soon(c: &mut Chat, want: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    let deadline = Instant::now() + LAG;
    loop {
        if let Some(m) = c.quiet_for(Duration::from_millis(500)).await {
            if want(&m) {
                return m;
            }
        }
        assert!(Instant::now() < deadline, "nothing matching in time");
    }
}

pub(crate) async fn got_message(c: &mut Chat, text: &str) -> u64 {
    let m = soon(c, |m| matches!(m, ServerMsg::Message(p) if p.text == text)).await;
    let ServerMsg::Message(p) = m else {
        unreachable!()
    };
    p.id
}

/// Waits for message `id`'s `Delivered`; a `NotDelivered` for it on the way fails the test
/// (a recipient online through another instance is online).
pub(crate) async fn delivered(c: &mut Chat, id: u64) {
    let m = soon(c, |m| matches!(m, ServerMsg::Delivered { id: i } | ServerMsg::NotDelivered { id: i, .. } if *i == id)).await;
    assert!(matches!(m, ServerMsg::Delivered { .. }), "{m:?}");
}

/// Whether `who` is in `c`'s server-wide `Who`.
pub(crate) async fn listed(c: &mut Chat, who: &str) -> bool {
    let req = c.req();
    c.send(ClientMsg::Who { req, room: None }).await;
    let answer = c
        .until(|m| matches!(m, ServerMsg::Who { req: r, .. } if *r == req))
        .await;
    matches!(&answer, ServerMsg::Who { users, .. } if users.iter().any(|u| u.name.as_str() == who))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_who_are_cluster_wide() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    let (mut alex, _) = claim(&a, "alex").await;
    let room = Room::new("lobby").expect("a room");
    let req = alex.req();
    alex.send(ClientMsg::Join {
        req,
        room: room.clone(),
    })
    .await;
    alex.until(|m| matches!(m, ServerMsg::Done { req: r } if *r == req))
        .await;
    let (mut bea, key) = claim(&b, "bea").await;
    let req = bea.req();
    bea.send(ClientMsg::Join { req, room }).await;
    bea.until(|m| matches!(m, ServerMsg::Done { req: r } if *r == req))
        .await;
    soon(
        &mut alex,
        |m| matches!(m, ServerMsg::Presence { name, .. } if name.as_str() == "bea"),
    )
    .await;
    assert!(
        listed(&mut alex, "bea").await,
        "bea, on the other instance, is online"
    );
    bea.leave();
    soon(&mut alex, |m| matches!(m, ServerMsg::Presence { name, presence: Presence::Offline } if name.as_str() == "bea")).await;
    assert!(!listed(&mut alex, "bea").await, "and offline once gone");
    // Back through alex's own instance: online again, as seen from either.
    let mut bea = with_key(&a, "bea", key).await;
    soon(&mut alex, |m| matches!(m, ServerMsg::Presence { name, presence: Presence::Online } if name.as_str() == "bea")).await;
    assert!(listed(&mut bea, "alex").await);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_crosses_instances_both_ways_with_receipts() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    let (mut alex, _) = claim(&a, "alex").await;
    let (mut bea, _) = claim(&b, "bea").await;

    for round in 0..3 {
        let text = format!("a to b {round}");
        let id = send_dm(&mut alex, "bea", &text).await;
        assert_eq!(got_message(&mut bea, &text).await, id);
        delivered(&mut alex, id).await;

        let text = format!("b to a {round}");
        let id = send_dm(&mut bea, "alex", &text).await;
        assert_eq!(got_message(&mut alex, &text).await, id);
        delivered(&mut bea, id).await;
    }
    // Exactly once: nothing more arrives for either.
    for c in [&mut alex, &mut bea] {
        let extra = c.drain(Duration::from_millis(300)).await;
        assert!(
            !extra.iter().any(|m| matches!(m, ServerMsg::Message(_))),
            "{extra:?}"
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spans_instances_and_its_history_is_the_same_from_both() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    let (mut alex, _) = claim(&a, "alex").await;
    let (mut bea, _) = claim(&b, "bea").await;
    let room = Room::new("ops").expect("a room");
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
    // bea's join reached alex's instance before anything is said.
    soon(
        &mut alex,
        |m| matches!(m, ServerMsg::Presence { name, .. } if name.as_str() == "bea"),
    )
    .await;
    for (text, from) in [("hello from a", 0), ("hello from b", 1)] {
        let req = if from == 0 { alex.req() } else { bea.req() };
        let msg = ClientMsg::Send {
            req,
            txn: crate::support::txn(),
            to: Target::Room(room.clone()),
            text: text.into(),
        };
        let (sender, other) = if from == 0 {
            (&mut alex, &mut bea)
        } else {
            (&mut bea, &mut alex)
        };
        sender.send(msg).await;
        sender
            .until(|m| matches!(m, ServerMsg::Accepted { req: r, .. } if *r == req))
            .await;
        got_message(other, text).await;
    }
    // A newcomer on either instance is replayed the same history.
    for srv in [&a, &b] {
        let who = format!("cleo{}", srv.addr.port());
        let (mut cleo, _) = claim(srv, &who).await;
        let req = cleo.req();
        cleo.send(ClientMsg::Join {
            req,
            room: room.clone(),
        })
        .await;
        let h = cleo.until(|m| matches!(m, ServerMsg::History { .. })).await;
        let ServerMsg::History { messages, .. } = h else {
            unreachable!()
        };
        let texts: Vec<&str> = messages.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["hello from a", "hello from b"]);
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_claimed_through_both_instances_at_once_has_one_owner() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    for round in 0..5 {
        let who = format!("racer{round}");
        let (mut on_a, mut on_b) = (
            Chat::connect(a.addr, "127.0.0.1:0").await,
            Chat::connect(b.addr, "127.0.0.1:0").await,
        );
        let (wa, wb) = tokio::join!(on_a.hello(&who, None), on_b.hello(&who, None));
        let won = |m: &ServerMsg| matches!(m, ServerMsg::Welcome { .. });
        let lost = |m: &ServerMsg| {
            matches!(
                m,
                ServerMsg::Error {
                    kind: ErrorKind::Claimed,
                    ..
                }
            )
        };
        assert!(
            (won(&wa) && lost(&wb)) || (lost(&wa) && won(&wb)),
            "{who}: exactly one wins: {wa:?} / {wb:?}"
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_queue_is_delivered_through_the_other_instance() {
    let (_nats, a, b) = two_instances().await; // kept: dropping it stops the cluster
    let (dana, key) = claim(&b, "dana").await;
    let (mut alex, _) = claim(&a, "alex").await;
    dana.leave();
    // Offline on both instances once dana's close has reached alex's: then alex is told so.
    let deadline = Instant::now() + LAG;
    while listed(&mut alex, "dana").await {
        assert!(Instant::now() < deadline, "dana never went offline");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = send_dm(&mut alex, "dana", "while you were out").await;
    let m = alex
        .until(|m| matches!(m, ServerMsg::NotDelivered { id: i, .. } | ServerMsg::Delivered { id: i } if *i == id))
        .await;
    assert!(
        matches!(&m, ServerMsg::NotDelivered { reason, .. } if reason.contains("offline")),
        "{m:?}"
    );
    // She comes back through the instance she claimed on, not the sender's.
    let mut dana = with_key(&b, "dana", key).await;
    assert_eq!(got_message(&mut dana, "while you were out").await, id);
    delivered(&mut alex, id).await;
    a.stop().await;
    b.stop().await;
}
