//! ChatCore in durable mode, without a store: what it holds back until the driver says a change
//! is committed, and what it takes back when the commit fails (messages, claims, joins, parts,
//! topics), with the driver's reports in the test's hands.

use chat_server::core::ChatConfig;
use dgram_proto::chat::{ClientMsg, ErrorKind, Room, ServerMsg, Target};

use crate::core_support::{addr, drain, name, ChatCore};

#[test]
fn durable_mode_holds_answers_until_committed_and_takes_back_failures() {
    use chat_server::core::Op;
    let mut core = ChatCore::durable(ChatConfig::default());
    let now = 1_700_000_000_000;
    core.open(1, addr(1));
    core.handle(
        1,
        now,
        ClientMsg::Hello {
            name: name("alex"),
            key: None,
            send_only: false,
        },
    );
    assert!(
        drain(&mut core).is_empty(),
        "the new claim's key waits for its commit"
    );
    let ops: Vec<_> = std::iter::from_fn(|| core.poll_op()).collect();
    assert!(matches!(&ops[..], [(t, Op::Claim { .. })] if *t == 0));
    core.committed(0);
    assert!(matches!(
        &drain(&mut core)[..],
        [(1, ServerMsg::Welcome { .. })]
    ));

    core.open(2, addr(2));
    core.handle(
        2,
        now,
        ClientMsg::Hello {
            name: name("egon"),
            key: None,
            send_only: false,
        },
    );
    while let Some((t, _)) = core.poll_op() {
        core.committed(t);
    }
    drain(&mut core);
    let dm = |req, text: &str| ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::User(name("egon")),
        text: text.into(),
    };
    core.handle(1, now, dm(1, "kept"));
    assert!(
        drain(&mut core).is_empty(),
        "neither accepted nor delivered before the commit"
    );
    let (t1, _) = core.poll_op().expect("the post");
    let ops: Vec<_> = std::iter::from_fn(|| core.poll_op()).collect();
    assert!(
        ops.iter().any(|(_, op)| matches!(op, Op::Queue { .. })),
        "queued until acked"
    );
    core.committed(t1);
    let out = drain(&mut core);
    assert!(out
        .iter()
        .any(|(s, m)| *s == 1 && matches!(m, ServerMsg::Accepted { .. })));
    assert!(out
        .iter()
        .any(|(s, m)| *s == 2 && matches!(m, ServerMsg::Message(_))));

    core.handle(1, now, dm(2, "lost"));
    let (t2, _) = core.poll_op().expect("the post");
    while core.poll_op().is_some() {}
    core.commit_failed(t2, "disk full");
    let out = drain(&mut core);
    assert!(
        matches!(&out[..], [(1, ServerMsg::Error { req: Some(2), kind: ErrorKind::Unavailable, message })] if message.contains("disk full")),
        "{out:?}"
    );
    core.handle(
        1,
        now,
        ClientMsg::History {
            req: 3,
            with: Target::User(name("egon")),
            since: None,
            before: None,
            limit: 10,
        },
    );
    let (t3, _) = core.poll_op().map_or((u64::MAX, ()), |(t, _)| (t, ()));
    if t3 != u64::MAX {
        core.committed(t3);
    }
    let history = drain(&mut core)
        .into_iter()
        .find_map(|(_, m)| match m {
            ServerMsg::History { messages, .. } => Some(messages),
            _ => None,
        })
        .expect("history");
    let texts: Vec<_> = history.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["kept"], "the failed message was taken back");
}

#[test]
fn history_never_shows_a_message_whose_commit_is_pending() {
    let mut core = ChatCore::durable(ChatConfig::default());
    let now = 1_700_000_000_000;
    let commit_all = |core: &mut ChatCore| {
        while let Some((t, _)) = core.poll_op() {
            core.committed(t);
        }
    };
    let room = Room::new("lobby").expect("room");
    for (session, who) in [(1, "alex"), (2, "bob")] {
        core.open(session, addr(session as u16));
        core.handle(
            session,
            now,
            ClientMsg::Hello {
                name: name(who),
                key: None,
                send_only: false,
            },
        );
        core.handle(
            session,
            now,
            ClientMsg::Join {
                req: 1,
                room: room.clone(),
            },
        );
        commit_all(&mut core);
    }
    drain(&mut core);
    let to = Target::Room(room.clone());
    core.handle(
        1,
        now,
        ClientMsg::Send {
            req: 2,
            txn: crate::support::txn(),
            to: to.clone(),
            text: "pending".into(),
        },
    );
    let ask = |core: &mut ChatCore| {
        core.handle(
            2,
            now,
            ClientMsg::History {
                req: 3,
                with: to.clone(),
                since: None,
                before: None,
                limit: 10,
            },
        );
        drain(core)
            .into_iter()
            .find_map(|(_, m)| match m {
                ServerMsg::History { messages, .. } => Some(messages.len()),
                _ => None,
            })
            .expect("a history answer")
    };
    assert_eq!(ask(&mut core), 0, "not committed yet: not readable");
    commit_all(&mut core);
    drain(&mut core);
    assert_eq!(ask(&mut core), 1);
}

/// Takes every op the core wrote so far, returning the last ticket.
fn take_ops(core: &mut ChatCore) -> Option<u64> {
    std::iter::from_fn(|| core.poll_op()).map(|(t, _)| t).last()
}

fn commit_all(core: &mut ChatCore) {
    if let Some(t) = take_ops(core) {
        core.committed(t);
    }
}

/// Asks something that changes nothing durable and returns its answer.
fn ask(core: &mut ChatCore, session: u32, msg: ClientMsg) -> ServerMsg {
    core.handle(session, 1, msg);
    assert_eq!(take_ops(core), None, "a question writes nothing");
    let mut out = drain(core);
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0).1
}

#[test]
fn a_join_part_or_topic_whose_commit_fails_is_taken_back_and_nobody_else_hears_of_it() {
    let mut core = ChatCore::durable(ChatConfig::default());
    let now = 1_700_000_000_000;
    let lobby = Room::new("lobby").expect("room");
    for (session, who) in [(1, "alex"), (2, "bob")] {
        core.open(session, addr(session as u16));
        let hello = ClientMsg::Hello {
            name: name(who),
            key: None,
            send_only: false,
        };
        core.handle(session, now, hello);
        let join = ClientMsg::Join {
            req: 1,
            room: lobby.clone(),
        };
        core.handle(session, now, join);
        commit_all(&mut core);
    }
    drain(&mut core);
    let topic = |req, text: &str| ClientMsg::Topic {
        req,
        room: lobby.clone(),
        topic: Some(text.into()),
    };
    let refused = |out: &[(u32, ServerMsg)], session: u32, req: u64| {
        matches!(out, [(s, ServerMsg::Error { req: Some(r), kind: ErrorKind::Unavailable, message })]
            if *s == session && *r == req && message.contains("disk full") && message.contains("nothing changed"))
    };

    // A topic: set, committed; a second one fails and the first is back.
    core.handle(1, now, topic(2, "first"));
    commit_all(&mut core);
    drain(&mut core);
    core.handle(1, now, topic(3, "second"));
    let t = take_ops(&mut core).expect("the topic is written");
    assert!(drain(&mut core).is_empty(), "held until committed");
    core.commit_failed(t, "disk full");
    let out = drain(&mut core);
    assert!(
        refused(&out, 1, 3),
        "only alex hears, and of the failure: {out:?}"
    );
    let query = ClientMsg::Topic {
        req: 4,
        room: lobby.clone(),
        topic: None,
    };
    assert!(
        matches!(ask(&mut core, 2, query.clone()), ServerMsg::Topic { topic, .. } if topic == "first")
    );

    // Two topics pending; only the older one fails: the newer one stands.
    core.handle(1, now, topic(5, "third"));
    let older = take_ops(&mut core).expect("written");
    core.handle(1, now, topic(6, "fourth"));
    let newer = take_ops(&mut core).expect("written");
    core.commit_failed(older, "disk full");
    assert!(refused(&drain(&mut core), 1, 5));
    core.committed(newer);
    drain(&mut core);
    assert!(
        matches!(ask(&mut core, 2, query), ServerMsg::Topic { topic, .. } if topic == "fourth")
    );

    // A part fails: bob is still a member, and alex never saw him leave.
    core.handle(
        2,
        now,
        ClientMsg::Part {
            req: 7,
            room: lobby.clone(),
        },
    );
    let t = take_ops(&mut core).expect("the part is written");
    core.commit_failed(t, "disk full");
    assert!(refused(&drain(&mut core), 2, 7));
    let who = ClientMsg::Who {
        req: 8,
        room: Some(lobby.clone()),
    };
    let ServerMsg::Who { users, .. } = ask(&mut core, 1, who) else {
        panic!("a who answer");
    };
    let mut members: Vec<_> = users.iter().map(|u| u.name.as_str().to_owned()).collect();
    members.sort();
    assert_eq!(members, ["alex", "bob"]);

    // A join of a new room fails: no such room, and alex is not in it.
    let attic = Room::new("attic").expect("room");
    core.handle(
        1,
        now,
        ClientMsg::Join {
            req: 9,
            room: attic.clone(),
        },
    );
    let t = take_ops(&mut core).expect("the join is written");
    core.commit_failed(t, "disk full");
    assert!(refused(&drain(&mut core), 1, 9), "no replay, no topic");
    let ServerMsg::Rooms { rooms, .. } = ask(&mut core, 2, ClientMsg::Rooms { req: 10 }) else {
        panic!("a rooms answer");
    };
    let names: Vec<_> = rooms.iter().map(|r| r.room.as_str().to_owned()).collect();
    assert_eq!(names, ["lobby"]);
    let post = ClientMsg::Send {
        req: 11,
        txn: crate::support::txn(),
        to: Target::Room(attic),
        text: "anyone?".into(),
    };
    assert!(
        matches!(
            ask(&mut core, 1, post),
            ServerMsg::Error {
                kind: ErrorKind::NotInRoom,
                ..
            }
        ),
        "alex is not a member of a room whose join failed"
    );
}
