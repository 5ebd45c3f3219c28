//! The chat core's rules against abuse, with the clock in the test's hands: what waits for an
//! offline user is never dropped for something new, and its senders hear when it will never be
//! read; what one network may create (rooms, claims) has a quota per hour; a claim used once
//! lapses in a day; rooms nobody uses are reclaimed.

use chat_server::core::PeerKey;
use chat_server::core::{ChatConfig, Op};
use chat_server::store::Store;
use dgram_proto::chat::{ClientMsg, ErrorKind, Room, ServerMsg};

use crate::core_support::{addr, device, drain, hello, hello_from, name, ChatCore};
use crate::support::dm;

const HOUR: u64 = 60 * 60 * 1000;
const DAY: u64 = 24 * HOUR;
const T0: u64 = 1_700_000_000_000;

/// Claims `who` and uses it again from a second session, so that the claim is established;
/// both sessions close at `now`. Returns the key.
fn established(core: &mut ChatCore, session: u32, who: &str, now: u64) -> PeerKey {
    let ServerMsg::Welcome { .. } = hello(core, session, who, None, now) else {
        panic!("{who} claimed");
    };
    let key = device(session);
    hello(core, session + 1, who, Some(key), now);
    core.close(session, now);
    core.close(session + 1, now);
    drain(core);
    key
}

/// The ids accepted in `out`.
fn accepted(out: &[(u32, ServerMsg)]) -> Vec<u64> {
    out.iter()
        .filter_map(|(_, m)| match m {
            ServerMsg::Accepted { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The (session, id, reason) of every `NotDelivered` in `out`.
fn not_delivered(out: &[(u32, ServerMsg)]) -> Vec<(u32, u64, String)> {
    out.iter()
        .filter_map(|(s, m)| match m {
            ServerMsg::NotDelivered { id, reason } => Some((*s, *id, reason.clone())),
            _ => None,
        })
        .collect()
}

fn limit_message(out: &[(u32, ServerMsg)]) -> Option<String> {
    out.iter().find_map(|(_, m)| match m {
        ServerMsg::Error {
            kind: ErrorKind::Limit,
            message,
            ..
        } => Some(message.clone()),
        _ => None,
    })
}

#[test]
fn senders_of_queued_dms_that_expire_are_told_at_once_or_when_they_return() {
    let mut core = ChatCore::new(ChatConfig::default());
    established(&mut core, 1, "egon", T0);
    let bob_key = established(&mut core, 3, "bob", T0);
    hello(&mut core, 5, "alex", None, T0);
    hello(&mut core, 6, "bob", Some(bob_key), T0);
    core.handle(5, T0, dm(1, "egon", "from alex"));
    core.handle(6, T0, dm(1, "egon", "from bob"));
    let out = drain(&mut core);
    let [from_alex, from_bob] = accepted(&out)[..] else {
        panic!("both accepted: {out:?}");
    };
    // Bob goes; alex stays online. A week later neither DM has been read.
    core.close(6, T0 + HOUR);
    drain(&mut core);
    core.expire(T0 + 6 * DAY);
    assert!(not_delivered(&drain(&mut core)).is_empty(), "not yet");
    core.expire(T0 + 7 * DAY + HOUR);
    let told = not_delivered(&drain(&mut core));
    assert_eq!(told, [(5, from_alex, "expired".to_owned())]);
    // Both from their conversations' history too.
    assert_eq!(core.stats().expired, 4);
    // Bob hears of his at his next hello, and only once.
    let back = hello_from(
        &mut core,
        7,
        "127.0.0.1",
        "bob",
        Some(bob_key),
        T0 + 8 * DAY,
    );
    assert_eq!(not_delivered(&back), [(7, from_bob, "expired".to_owned())]);
    let again = hello_from(
        &mut core,
        8,
        "127.0.0.1",
        "bob",
        Some(bob_key),
        T0 + 8 * DAY,
    );
    assert!(not_delivered(&again).is_empty(), "{again:?}");
}

#[test]
fn a_claim_used_once_lapses_in_a_day_one_used_again_lasts_its_days() {
    let mut core = ChatCore::new(ChatConfig::default());
    hello(&mut core, 1, "once", None, T0);
    core.close(1, T0);
    let ServerMsg::Welcome { .. } = hello(&mut core, 2, "twice", None, T0) else {
        panic!("claimed");
    };
    let key = device(2);
    core.close(2, T0);
    // A second session within the day establishes "twice".
    hello(&mut core, 3, "twice", Some(key), T0 + 20 * HOUR);
    core.close(3, T0 + 20 * HOUR);
    // Alex sends "once" a DM, which waits for it.
    hello(&mut core, 4, "alex", None, T0);
    core.handle(4, T0, dm(1, "once", "are you there?"));
    let id = accepted(&drain(&mut core))[0];

    core.expire(T0 + 23 * HOUR);
    assert_eq!(core.stats().claims_lapsed, 0, "a day has not passed");
    core.expire(T0 + 25 * HOUR);
    assert_eq!(core.stats().claims_lapsed, 1);
    // The DM that waited for "once" will never be read: its sender is told.
    let told = not_delivered(&drain(&mut core));
    assert_eq!(told, [(4, id, "once's claim lapsed".to_owned())]);
    assert!(matches!(
        hello(&mut core, 5, "once", None, T0 + 26 * HOUR),
        ServerMsg::Welcome { .. }
    ));
    // "twice" is established: still claimed 89 days after its last use, free after 90.
    let refused = hello(&mut core, 6, "twice", None, T0 + 20 * HOUR + 89 * DAY);
    assert!(matches!(
        refused,
        ServerMsg::Error {
            kind: ErrorKind::Claimed,
            ..
        }
    ));
    core.expire(T0 + 20 * HOUR + 90 * DAY + 1);
    assert_eq!(core.stats().claims_lapsed, 2);
}

#[test]
fn a_network_creates_its_quota_of_rooms_an_hour_and_others_are_unaffected() {
    let mut core = ChatCore::new(ChatConfig::default());
    hello_from(&mut core, 1, "127.0.0.2", "mallory", None, T0);
    let join = |core: &mut ChatCore, session, room: &str, now| {
        let room = Room::new(room).expect("room");
        core.handle(session, now, ClientMsg::Join { req: 1, room });
        drain(core)
    };
    let mut created = 0;
    let mut refused = Vec::new();
    for i in 0..25 {
        let out = join(&mut core, 1, &format!("spam{i}"), T0);
        match limit_message(&out) {
            Some(message) => refused.push(message),
            None => created += 1,
        }
    }
    assert_eq!((created, refused.len()), (10, 15));
    assert!(
        refused[0].starts_with("too many rooms were created from your network (10 an hour"),
        "{}",
        refused[0]
    );
    assert_eq!(core.stats().over_quota, 15);
    // Joining a room that exists creates nothing, and costs nothing.
    assert!(limit_message(&join(&mut core, 1, "spam0", T0)).is_none());
    // Another network creates its own.
    hello_from(&mut core, 2, "127.0.0.1", "alex", None, T0);
    assert!(limit_message(&join(&mut core, 2, "lobby", T0)).is_none());
    // An hour later the quota is back.
    assert!(limit_message(&join(&mut core, 1, "later", T0 + HOUR)).is_none());
}

#[test]
fn a_network_claims_its_quota_of_names_an_hour_and_keys_still_work() {
    let mut core = ChatCore::new(ChatConfig::default());
    let mut keys = Vec::new();
    let mut refused = 0;
    for i in 0..30u32 {
        // Every address of one IPv6 /64 is the same network.
        let ip = format!("2001:db8::{:x}", i + 1);
        let out = hello_from(&mut core, i, &ip, &format!("n{i}"), None, T0);
        match out
            .iter()
            .find(|(_, m)| matches!(m, ServerMsg::Welcome { .. }))
        {
            Some(_) => keys.push(device(i)),
            None => {
                refused += 1;
                assert!(
                    limit_message(&out).is_some_and(|m| m.contains("too many names were claimed")),
                    "{out:?}"
                );
            }
        }
    }
    assert_eq!((keys.len(), refused), (20, 10));
    // A name it holds is no claim: its key still works from there.
    let back = hello_from(&mut core, 100, "2001:db8::99", "n0", Some(keys[0]), T0);
    assert!(back
        .iter()
        .any(|(_, m)| matches!(m, ServerMsg::Welcome { .. })));
    // Another /64 claims freely.
    let other = hello_from(&mut core, 101, "2001:db8:0:1::1", "alex", None, T0);
    assert!(other
        .iter()
        .any(|(_, m)| matches!(m, ServerMsg::Welcome { .. })));
}

#[test]
fn rooms_nobody_uses_are_reclaimed_and_dropped_in_the_store() {
    // Claims that last: only the rooms' rule is at work here.
    let config = ChatConfig {
        new_claim_ttl_ms: 90 * DAY,
        ..ChatConfig::default()
    };
    let mut core = ChatCore::durable(config);
    let commit_all = |core: &mut ChatCore| {
        let mut ops = Vec::new();
        while let Some((t, op)) = core.poll_op() {
            core.committed(t);
            ops.push(op);
        }
        ops
    };
    let say = |core: &mut ChatCore, session, msg| {
        core.handle(session, T0, msg);
        commit_all(core);
    };
    for (session, who) in [(1, "alex"), (2, "egon")] {
        core.open(session, addr(session as u16));
        say(
            &mut core,
            session,
            ClientMsg::Hello {
                name: name(who),
                key: None,
                send_only: false,
            },
        );
    }
    let room = |r: &str| Room::new(r).expect("room");
    // Alex's room, in which nothing is said; egon's, where egon stays online.
    say(
        &mut core,
        1,
        ClientMsg::Join {
            req: 1,
            room: room("quiet"),
        },
    );
    say(
        &mut core,
        2,
        ClientMsg::Join {
            req: 1,
            room: room("busy"),
        },
    );
    say(
        &mut core,
        1,
        ClientMsg::Join {
            req: 2,
            room: room("busy"),
        },
    );
    core.close(1, T0);
    commit_all(&mut core);
    drain(&mut core);

    core.expire(T0 + 13 * DAY);
    assert!(!commit_all(&mut core)
        .iter()
        .any(|op| matches!(op, Op::DropRoom { .. })));
    core.expire(T0 + 15 * DAY);
    let ops = commit_all(&mut core);
    let dropped: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            Op::DropRoom { room } => Some(room.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, ["quiet"], "busy has egon online: {ops:?}");
    assert_eq!(core.stats().rooms_reclaimed, 1);
    drain(&mut core);
    core.handle(2, T0 + 15 * DAY, ClientMsg::Rooms { req: 5 });
    let rooms = drain(&mut core)
        .into_iter()
        .find_map(|(_, m)| match m {
            ServerMsg::Rooms { rooms, .. } => Some(rooms),
            _ => None,
        })
        .expect("rooms");
    let names: Vec<_> = rooms.iter().map(|r| r.room.to_string()).collect();
    assert_eq!(names, ["busy"]);
}

#[test]
fn whether_a_claim_is_established_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ChatConfig::default();
    let claim = |who: &str| Op::Claim {
        name: name(who),
        owner: [7; 32],
        at_ms: T0,
    };
    {
        let mut store = Store::open(dir.path()).expect("open");
        store
            .apply(&[
                claim("new"),
                claim("used"),
                Op::Established { user: name("used") },
            ])
            .expect("apply");
    }
    let store = Store::open(dir.path()).expect("reopen");
    let snapshot = store.load(&config, T0).expect("load");
    let mut users: Vec<_> = snapshot
        .users
        .iter()
        .map(|u| (u.name.to_string(), u.established))
        .collect();
    users.sort();
    assert_eq!(
        users,
        [("new".to_owned(), false), ("used".to_owned(), true)]
    );
}

#[test]
fn dms_that_come_back_from_a_failed_delivery_are_kept_past_the_cap() {
    let config = ChatConfig {
        queue: 2,
        ..ChatConfig::default()
    };
    let mut core = ChatCore::new(config);
    hello(&mut core, 1, "alex", None, T0);
    let ServerMsg::Welcome { .. } = hello(&mut core, 2, "bob", None, T0) else {
        panic!("claimed");
    };
    let key = device(2);
    drain(&mut core);
    // Three DMs on their way to bob's session, which goes before any reaches it.
    let mut receipts = Vec::new();
    for i in 0..3 {
        core.handle(1, T0, dm(i, "bob", &format!("dm {i}")));
        receipts.extend(std::iter::from_fn(|| core.poll_output()).filter_map(|o| {
            (o.session == 2 && matches!(*o.msg, ServerMsg::Message(_)))
                .then_some(o.receipt)
                .flatten()
        }));
    }
    assert_eq!(receipts.len(), 3);
    for chat in receipts {
        core.unsendable(chat, "not connected");
    }
    core.close(2, T0);
    drain(&mut core);
    // All three were accepted, so all three wait, over the cap; a new one is refused.
    core.handle(1, T0, dm(9, "bob", "one more"));
    let refused = limit_message(&drain(&mut core));
    assert!(
        refused.is_some_and(|m| m.starts_with("bob's inbox is full")),
        "the queue is full"
    );
    let back = hello_from(&mut core, 3, "127.0.0.1", "bob", Some(key), T0);
    let texts: Vec<_> = back
        .iter()
        .filter_map(|(_, m)| match m {
            ServerMsg::Message(p) => Some(p.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["dm 0", "dm 1", "dm 2"]);
}
