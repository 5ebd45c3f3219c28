//! Sends made again with the same client-chosen id (txn): answered with the original's id and
//! timestamp, never stored or delivered twice; remembered per user up to a cap and until the
//! expiry; an answer to a resend never overtakes the original's commit; and across a restart
//! the store remembers. The clock is the test's.

use chat_server::core::{ChatConfig, Op};
use chat_server::store::Store;
use dgram_proto::chat::{ClientMsg, ServerMsg, Target};

use crate::core_support::{drain, hello, name, ChatCore};

const NOW: u64 = 1_700_000_000_000;

fn dm(req: u64, txn: u64, to: &str, text: &str) -> ClientMsg {
    ClientMsg::Send {
        req,
        txn,
        to: Target::User(name(to)),
        text: text.into(),
    }
}

/// The `Accepted` a session got, as (req, id, ts).
fn accepted(out: &[(u32, ServerMsg)], session: u32) -> Vec<(u64, u64, u64)> {
    out.iter()
        .filter_map(|(s, m)| match m {
            ServerMsg::Accepted { req, id, ts } if *s == session => Some((*req, *id, *ts)),
            _ => None,
        })
        .collect()
}

/// The ids of the messages a session got.
fn received(out: &[(u32, ServerMsg)], session: u32) -> Vec<u64> {
    out.iter()
        .filter_map(|(s, m)| match m {
            ServerMsg::Message(p) if *s == session => Some(p.id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_resend_is_answered_with_the_original_and_not_delivered_again() {
    let mut core = ChatCore::new(ChatConfig::default());
    hello(&mut core, 1, "alex", None, NOW);
    hello(&mut core, 2, "egon", None, NOW);
    hello(&mut core, 3, "黎诗", None, NOW);
    core.handle(1, NOW, dm(1, 7, "egon", "hi"));
    let first = drain(&mut core);
    let [(1, id, ts)] = accepted(&first, 1)[..] else {
        panic!("accepted once: {first:?}")
    };
    assert_eq!(received(&first, 2), [id]);

    // The same message again, later, under a new request (a new session would send it so).
    core.handle(1, NOW + 5_000, dm(9, 7, "egon", "hi"));
    let again = drain(&mut core);
    assert_eq!(
        accepted(&again, 1),
        [(9, id, ts)],
        "the original's id and time"
    );
    assert!(
        received(&again, 2).is_empty(),
        "not delivered twice: {again:?}"
    );
    assert_eq!(core.stats().resends, 1);
    assert_eq!(core.stats().accepted, 1);

    // Another user's txn 7 is their own; alex's next txn is a new message.
    core.handle(3, NOW, dm(1, 7, "egon", "mine"));
    core.handle(1, NOW, dm(2, 8, "egon", "next"));
    let others = drain(&mut core);
    let theirs = accepted(&others, 3);
    let next = accepted(&others, 1);
    assert_eq!((theirs.len(), next.len()), (1, 1), "{others:?}");
    assert!(theirs[0].1 != id && next[0].1 != id && theirs[0].1 != next[0].1);
    assert_eq!(received(&others, 2).len(), 2);
}

#[test]
fn ids_are_remembered_up_to_a_cap_per_user_and_until_the_expiry() {
    let config = ChatConfig {
        sent_per_user: 2,
        ..ChatConfig::default()
    };
    let expiry = config.expiry_ms;
    let mut core = ChatCore::new(config);
    hello(&mut core, 1, "alex", None, NOW);
    hello(&mut core, 2, "egon", None, NOW);
    for txn in 1..=3 {
        core.handle(1, NOW, dm(txn, txn, "egon", "m"));
    }
    let ids: Vec<u64> = accepted(&drain(&mut core), 1)
        .into_iter()
        .map(|a| a.1)
        .collect();
    // Txn 3 is remembered; txn 1 fell off the cap of 2, so it is a new message now.
    core.handle(1, NOW, dm(10, 3, "egon", "m"));
    core.handle(1, NOW, dm(11, 1, "egon", "m"));
    let out = drain(&mut core);
    let answers = accepted(&out, 1);
    assert_eq!(answers[0].1, ids[2]);
    assert!(!ids.contains(&answers[1].1), "{answers:?} vs {ids:?}");
    assert_eq!(received(&out, 2).len(), 1);

    // Past the expiry the message is gone, and so is its id.
    core.expire(NOW + expiry + 1);
    drain(&mut core);
    core.handle(1, NOW + expiry + 2, dm(12, 1, "egon", "m"));
    let late = drain(&mut core);
    assert_eq!(received(&late, 2).len(), 1, "stored anew: {late:?}");
}

#[test]
fn the_answer_to_a_resend_waits_for_the_originals_commit() {
    let mut core = ChatCore::durable(ChatConfig::default());
    for (session, who) in [(1, "alex"), (2, "egon")] {
        core.open(session, crate::core_support::addr(session as u16));
        core.handle(
            session,
            NOW,
            ClientMsg::Hello {
                name: name(who),
                key: None,
                send_only: false,
            },
        );
        while let Some((t, _)) = core.poll_op() {
            core.committed(t);
        }
    }
    drain(&mut core);
    core.handle(1, NOW, dm(1, 42, "egon", "slow disk"));
    let ops: Vec<_> = std::iter::from_fn(|| core.poll_op()).collect();
    let t1 = ops[0].0;
    assert!(
        ops.iter()
            .any(|(_, op)| matches!(op, Op::Sent { txn: 42, .. })),
        "the id is stored with the message: {ops:?}"
    );
    core.handle(1, NOW + 10, dm(2, 42, "egon", "slow disk"));
    assert!(drain(&mut core).is_empty(), "nothing before the commit");
    let (t2, _) = core
        .poll_op()
        .expect("the resend waits on a ticket of its own");
    assert!(t2 > t1);
    core.committed(t1);
    let first = drain(&mut core);
    let original = accepted(&first, 1);
    assert_eq!(original.len(), 1, "{first:?}");
    core.committed(t2);
    let second = drain(&mut core);
    assert_eq!(accepted(&second, 1), [(2, original[0].1, original[0].2)]);
    assert!(received(&second, 2).is_empty());
}

#[test]
fn after_a_restart_a_resend_of_a_stored_message_is_answered_from_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let config = ChatConfig::default();
    let mut core = ChatCore::durable(config.clone());
    for (session, who) in [(1, "alex"), (2, "egon")] {
        hello_stored(&mut core, &mut store, session, who, NOW);
    }
    core.close(2, NOW);
    commit_all(&mut core, &mut store);
    core.handle(1, NOW, dm(1, u64::MAX - 3, "egon", "before the crash"));
    commit_all(&mut core, &mut store);
    let (_, id, ts) = accepted(&drain(&mut core), 1)[0];
    drop(core);

    // A new process: the state as the store has it; alex never saw the answer and sends again.
    let mut core = ChatCore::durable(config.clone());
    core.restore(store.load(&config, NOW + 1_000).expect("load"));
    // Session ids are devices here: session 1 is alex's device again.
    hello_stored(&mut core, &mut store, 1, "alex", NOW + 1_000);
    core.handle(
        1,
        NOW + 1_000,
        dm(1, u64::MAX - 3, "egon", "before the crash"),
    );
    commit_all(&mut core, &mut store);
    let out = drain(&mut core);
    assert_eq!(accepted(&out, 1), [(1, id, ts)], "{out:?}");
    // Egon gets it once, from his queue.
    let got = hello_stored(&mut core, &mut store, 2, "egon", NOW + 2_000);
    assert_eq!(received(&got, 2), [id], "{got:?}");
    assert_eq!(core.stats().accepted, 0, "nothing new was stored");
}

/// Commits every change the core handed over, in order, to a real store.
fn commit_all(core: &mut ChatCore, store: &mut Store) {
    let ops: Vec<_> = std::iter::from_fn(|| core.poll_op()).collect();
    let Some(last) = ops.last().map(|(t, _)| *t) else {
        return;
    };
    let ops: Vec<Op> = ops.into_iter().map(|(_, op)| op).collect();
    store.apply(&ops).expect("commit");
    core.committed(last);
}

/// A hello from the session's own device, with its changes committed to `store`: what the
/// session was told.
fn hello_stored(
    core: &mut ChatCore,
    store: &mut Store,
    session: u32,
    who: &str,
    now: u64,
) -> Vec<(u32, ServerMsg)> {
    core.open(session, crate::core_support::addr(session as u16));
    let name = name(who);
    let hello = ClientMsg::Hello {
        name,
        key: None,
        send_only: false,
    };
    core.handle(session, now, hello);
    commit_all(core, store);
    drain(core)
}
