//! The DM partner index against the pass over every conversation it replaced: after posts,
//! history expiry, a snapshot restore and replicated posts, each user's partners are the ones
//! the conversations themselves name (presence reads them through `presence_sessions`).

use std::net::SocketAddr;

use dgram_proto::chat::{ClientMsg, Posted, ServerMsg, Target};
use dgram_proto::Name;

use super::pending::Pending;
use super::snapshot::Snapshot;
use super::{ChatConfig, ChatCore, Op};

const NOW: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 24 * 3_600_000;

fn name(s: &str) -> Name {
    Name::new(s).expect("a valid name")
}

fn posted(id: u64, ts: u64, from: &str, to: &str) -> Posted {
    Posted {
        id,
        ts,
        from: name(from),
        to: Target::User(name(to)),
        text: "hi".into(),
    }
}

/// Opens `session` for `who` (its own device) and says hello.
fn hello(core: &mut ChatCore, session: u32, who: &str, now: u64) {
    let key = *blake3::hash(&session.to_le_bytes()).as_bytes();
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000 + session as u16));
    core.open(session, peer, Some(key));
    let greet = ClientMsg::Hello {
        name: name(who),
        key: None,
        send_only: false,
    };
    core.handle(session, (now, false), greet, &Pending::default());
}

fn dm(core: &mut ChatCore, session: u32, to: &str, now: u64) {
    let txn = now ^ u64::from(session) << 48 ^ to.len() as u64;
    let msg = ClientMsg::Send {
        req: 1,
        txn,
        to: Target::User(name(to)),
        text: "hi".into(),
    };
    let fx = core.handle(session, (now, false), msg, &Pending::default());
    let refused = fx
        .out
        .iter()
        .find(|o| matches!(*o.msg, ServerMsg::Error { .. }));
    assert!(refused.is_none(), "{session} to {to}: {refused:?}");
}

/// Each user's partners as the old pass over every conversation found them, sorted.
fn scanned(core: &ChatCore, key: &str) -> Vec<String> {
    let mut out: Vec<String> = core
        .state
        .dms
        .pairs()
        .filter_map(|(a, b)| match (a.key(), b.key()) {
            (a, b) if a == key && b != key => Some(b.to_owned()),
            (a, b) if b == key && a != key => Some(a.to_owned()),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out
}

fn indexed(core: &ChatCore, key: &str) -> Vec<String> {
    let mut out: Vec<String> = core
        .state
        .dms
        .partners(key)
        .iter()
        .map(|n| n.key().to_owned())
        .collect();
    out.sort_unstable();
    out
}

fn assert_index_matches(core: &ChatCore, users: &[&str], why: &str) {
    for u in users {
        assert_eq!(indexed(core, u), scanned(core, u), "{u}, {why}");
    }
}

const USERS: [&str; 5] = ["alex", "egon", "mia", "黎诗", "ghost"];

#[test]
fn the_partner_index_matches_a_scan_through_posts_expiry_restore_and_replicas() {
    let config = ChatConfig::default();
    let expiry = config.expiry_ms;
    let mut core = ChatCore::new(config, true);
    for (i, u) in ["alex", "egon", "mia", "黎诗"].iter().enumerate() {
        hello(&mut core, i as u32 + 1, u, NOW);
    }
    dm(&mut core, 1, "egon", NOW);
    dm(&mut core, 2, "Alex", NOW); // the same conversation, from the other side
    dm(&mut core, 1, "alex", NOW); // to oneself: accepted, but no partnership
    dm(&mut core, 3, "黎诗", NOW + 2 * DAY_MS);
    dm(&mut core, 3, "egon", NOW + 2 * DAY_MS);
    let pairs: Vec<_> = core.state.dms.pairs().collect();
    assert_eq!(core.state.dms.len(), 3, "{pairs:?}");
    assert_index_matches(&core, &USERS, "after posts");
    assert_eq!(indexed(&core, "egon"), ["alex", "mia"]);

    // The first day's conversations expire; mia's stay.
    core.expire(NOW + expiry + DAY_MS);
    assert_eq!(core.state.dms.len(), 2);
    assert_index_matches(&core, &USERS, "after expiry");
    assert_eq!(indexed(&core, "alex"), Vec::<String>::new());

    // Another instance's posts, to a user this one has never seen.
    let ops = vec![
        Op::Post(posted(900, NOW + 3 * DAY_MS, "ghost", "alex")),
        Op::Post(posted(901, NOW + 3 * DAY_MS, "mia", "ghost")),
    ];
    core.replicate("other", ops, true);
    assert_index_matches(&core, &USERS, "after replicated posts");
    assert_eq!(indexed(&core, "ghost"), ["alex", "mia"]);

    // A restart: the conversations come back from the store.
    let mut restored = ChatCore::new(ChatConfig::default(), true);
    let snapshot = Snapshot {
        dms: vec![
            posted(1, NOW, "alex", "egon"),
            posted(2, NOW, "egon", "alex"),
            posted(3, NOW, "mia", "mia"),
            posted(4, NOW, "黎诗", "ghost"),
        ],
        next_id: 5,
        ..Snapshot::default()
    };
    restored.restore(snapshot);
    assert_index_matches(&restored, &USERS, "after a restore");
    assert_eq!(indexed(&restored, "mia"), Vec::<String>::new());
    assert_eq!(indexed(&restored, "ghost"), ["黎诗"]);
}
