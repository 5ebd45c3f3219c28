//! Abuse from one network, against the real server on loopback: an attacker binds 127.0.0.2,
//! 127.0.0.3, ... beside a legitimate client on 127.0.0.1, with bounded counts, and each test
//! asserts what the legitimate user still gets: their queued DM delivered (a flood cannot erase
//! an inbox), their messages accepted (more sessions buy no more sending), their room
//! creatable and their name claimable (one network cannot use up rooms or names).

use std::time::{Duration, Instant};

use chat_server::core::ChatConfig;
use chat_server::Settings;
use dgram_proto::chat::{ClientMsg, ErrorKind, Room, ServerMsg};
use dgram_proto::session::Keypair;
use dgram_proto::token_bucket::Rate;

use crate::support::{dm, name, server, settings, Chat};

/// A session from `ip` as `key` (a new identity if `None`) that says hello as `who`; panics
/// unless welcomed.
async fn from(server: std::net::SocketAddr, ip: &str, who: &str, key: Option<Keypair>) -> Chat {
    let key = key.unwrap_or_else(crate::support::identity);
    let mut c = Chat::connect_as(server, &format!("{ip}:0"), key).await;
    let answer = c.hello(who, None).await;
    assert!(
        matches!(answer, ServerMsg::Welcome { .. }),
        "{who} from {ip}: {answer:?}"
    );
    c
}

/// Sends `count` DMs to `to` and reads their answers: how many were accepted, and the errors.
async fn flood(c: &mut Chat, to: &str, count: usize) -> (usize, Vec<(ErrorKind, String)>) {
    for i in 0..count {
        let req = c.req();
        c.send(dm(req, to, &format!("flood {i}"))).await;
    }
    let mut accepted = 0;
    let mut errors = Vec::new();
    while accepted + errors.len() < count {
        match c
            .until(|m| matches!(m, ServerMsg::Accepted { .. } | ServerMsg::Error { .. }))
            .await
        {
            ServerMsg::Error { kind, message, .. } => errors.push((kind, message)),
            _ => accepted += 1,
        }
    }
    (accepted, errors)
}

#[tokio::test]
async fn a_flood_cannot_erase_an_offline_users_inbox() {
    let srv = server(Settings {
        chat: ChatConfig {
            queue: 16,
            ..ChatConfig::default()
        },
        ..settings()
    })
    .await;
    let (egon, _) = Chat::join(srv.addr, "egon", None).await;
    let egon_key = egon.key.clone().expect("claimed");
    egon.leave();
    let (mut alex, _) = Chat::join(srv.addr, "alex", None).await;
    alex.until_gone("egon").await;
    let req = alex.req();
    alex.send(dm(req, "egon", "the one that matters")).await;
    let queued = alex
        .until(|m| matches!(m, ServerMsg::NotDelivered { .. } | ServerMsg::Error { .. }))
        .await;
    assert!(
        matches!(&queued, ServerMsg::NotDelivered { reason, .. } if reason.contains("queued")),
        "{queued:?}"
    );
    // Four attacker addresses, eight DMs each: twice what egon's inbox holds.
    let mut accepted = 0;
    let mut refused = Vec::new();
    for ip in 2..=5 {
        let mut m = from(srv.addr, &format!("127.0.0.{ip}"), &format!("m{ip}"), None).await;
        let (a, errors) = flood(&mut m, "egon", 8).await;
        accepted += a;
        refused.extend(errors);
    }
    assert_eq!(accepted, 15, "the inbox had room for 15 more");
    assert_eq!(refused.len(), 17);
    assert!(
        refused
            .iter()
            .all(|(kind, message)| *kind == ErrorKind::Limit
                && message.starts_with("egon's inbox is full; not sent")),
        "{refused:?}"
    );
    // Egon comes back: alex's message is there, first.
    let (mut egon, _) = Chat::join(srv.addr, "egon", Some(egon_key)).await;
    let first = egon.until(|m| matches!(m, ServerMsg::Message(_))).await;
    assert!(
        matches!(&first, ServerMsg::Message(p) if p.text == "the one that matters" && p.from == name("alex")),
        "{first:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn the_sender_of_a_queued_dm_that_expires_is_told_now_or_on_return() {
    let srv = server(Settings {
        chat: ChatConfig {
            expiry_ms: 1_500,
            ..ChatConfig::default()
        },
        summary_every: Duration::from_millis(100),
        ..settings()
    })
    .await;
    let (egon, _) = Chat::join(srv.addr, "egon", None).await;
    egon.leave();
    let (mut bob, _) = Chat::join(srv.addr, "bob", None).await;
    let bob_key = bob.key.clone().expect("claimed");
    bob.until_gone("egon").await;
    let req = bob.req();
    bob.send(dm(req, "egon", "from bob")).await;
    let bobs = bob.until(|m| matches!(m, ServerMsg::Accepted { .. })).await;
    bob.leave();
    let (mut alex, _) = Chat::join(srv.addr, "alex", None).await;
    alex.until_gone("bob").await;
    let req = alex.req();
    alex.send(dm(req, "egon", "from alex")).await;
    let ServerMsg::Accepted { id, .. } = alex
        .until(|m| matches!(m, ServerMsg::Accepted { .. }))
        .await
    else {
        unreachable!()
    };
    // Alex is online: told when it expires.
    let told = alex
        .until(|m| matches!(m, ServerMsg::NotDelivered { id: i, reason } if *i == id && !reason.contains("queued")))
        .await;
    assert!(
        matches!(&told, ServerMsg::NotDelivered { reason, .. } if reason == "expired"),
        "{told:?}"
    );
    // Bob was not: told when he comes back.
    let (mut bob, _) = Chat::join(srv.addr, "bob", Some(bob_key)).await;
    let ServerMsg::Accepted { id: bobs, .. } = bobs else {
        unreachable!()
    };
    let told = bob
        .until(|m| matches!(m, ServerMsg::NotDelivered { .. }))
        .await;
    assert_eq!(
        told,
        ServerMsg::NotDelivered {
            id: bobs,
            reason: "expired".into()
        }
    );
    srv.stop().await;
}

/// Whether `accepted` messages fit a bucket of `rate` over `elapsed` (one token of slack).
fn fits(accepted: usize, rate: Rate, elapsed: Duration) -> bool {
    let tokens = f64::from(rate.burst) + rate.per_second * elapsed.as_secs_f64();
    accepted as f64 <= tokens.floor() + 1.0
}

#[tokio::test]
async fn more_sessions_or_more_addresses_buy_no_more_sending() {
    let per_name = Rate {
        per_second: 1.0,
        burst: 10,
    };
    let per_network = Rate {
        per_second: 1.0,
        burst: 20,
    };
    let srv = server(Settings {
        name_rate: Some(per_name),
        network_rate: Some(per_network),
        ..settings()
    })
    .await;
    let (sink, _) = Chat::join(srv.addr, "sink", None).await;
    sink.leave();

    // Eight sessions from one address, each its own name, each within its session's burst.
    let started = Instant::now();
    let mut sessions = Vec::new();
    for i in 0..8 {
        sessions.push(from(srv.addr, "127.0.0.2", &format!("many{i}"), None).await);
    }
    let (mut accepted, mut refused) = (0, Vec::new());
    for s in &mut sessions {
        let (a, errors) = flood(s, "sink", 9).await;
        accepted += a;
        refused.extend(errors);
    }
    let elapsed = started.elapsed();
    assert!(
        fits(accepted, per_network, elapsed),
        "{accepted} of 72 accepted from one address in {elapsed:?}"
    );
    assert!(refused
        .iter()
        .all(|(kind, message)| *kind == ErrorKind::RateLimited
            && message.contains("from your network (127.0.0.2) come too fast")));

    // One name from six addresses, each far within its network's share.
    let mallory = from(srv.addr, "127.0.0.3", "mallory", None).await;
    let key = mallory.key.clone();
    let started = Instant::now();
    let (mut accepted, mut refused) = (0, Vec::new());
    let mut sessions = vec![mallory];
    for ip in 4..=8 {
        sessions.push(from(srv.addr, &format!("127.0.0.{ip}"), "mallory", key.clone()).await);
    }
    for s in &mut sessions {
        let (a, errors) = flood(s, "sink", 9).await;
        accepted += a;
        refused.extend(errors);
    }
    let elapsed = started.elapsed();
    assert!(
        fits(accepted, per_name, elapsed),
        "{accepted} of 54 accepted as one name in {elapsed:?}"
    );
    assert!(refused
        .iter()
        .any(|(kind, message)| *kind == ErrorKind::RateLimited
            && message.contains("sent as mallory come too fast")));

    // The legitimate user, on its own address and name, sends as usual.
    let (mut alex, _) = Chat::join(srv.addr, "alex", None).await;
    let (accepted, refused) = flood(&mut alex, "sink", 5).await;
    assert_eq!((accepted, refused), (5, Vec::new()));
    srv.stop().await;
}

#[tokio::test]
async fn one_network_cannot_use_up_the_rooms_or_the_names() {
    let srv = server(Settings {
        chat: ChatConfig {
            // Room for two networks' quotas, not for a flood.
            max_rooms: 20,
            ..ChatConfig::default()
        },
        ..settings()
    })
    .await;
    // Three sessions on one address try to create 27 rooms.
    let (mut created, mut refused) = (0, Vec::new());
    for i in 0..3 {
        let mut m = from(srv.addr, "127.0.0.2", &format!("roomer{i}"), None).await;
        for r in 0..9 {
            let req = m.req();
            let room = Room::new(&format!("spam-{i}-{r}")).expect("room");
            m.send(ClientMsg::Join { req, room }).await;
            match m
                .until(|m| matches!(m, ServerMsg::Done { .. } | ServerMsg::Error { .. }))
                .await
            {
                ServerMsg::Error { kind, message, .. } => refused.push((kind, message)),
                _ => created += 1,
            }
        }
    }
    assert_eq!((created, refused.len()), (10, 17), "{refused:?}");
    assert!(refused
        .iter()
        .all(|(kind, message)| *kind == ErrorKind::Limit
            && message.starts_with("too many rooms were created from your network")));

    // Three sessions on another address try to claim 27 names.
    let (mut claimed, mut refused) = (0, Vec::new());
    for i in 0..3 {
        let mut m = Chat::connect(srv.addr, "127.0.0.3:0").await;
        for n in 0..9 {
            match m.hello(&format!("squat-{i}-{n}"), None).await {
                ServerMsg::Welcome { .. } => claimed += 1,
                other => refused.push(other),
            }
        }
    }
    assert_eq!((claimed, refused.len()), (20, 7), "{refused:?}");
    assert!(refused.iter().all(
        |m| matches!(m, ServerMsg::Error { kind: ErrorKind::Limit, message, .. }
        if message.starts_with("too many names were claimed from your network"))
    ));

    // The legitimate user claims a name and creates a room.
    let (mut alex, welcome) = Chat::join(srv.addr, "alex", None).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }));
    let req = alex.req();
    let room = Room::new("lobby").expect("room");
    alex.send(ClientMsg::Join { req, room }).await;
    let answer = alex
        .until(|m| matches!(m, ServerMsg::Done { .. } | ServerMsg::Error { .. }))
        .await;
    assert_eq!(answer, ServerMsg::Done { req });
    srv.stop().await;
}

#[tokio::test]
async fn squatted_names_and_abandoned_rooms_come_back() {
    let srv = server(Settings {
        chat: ChatConfig {
            // Hours and days in milliseconds, and no room quota: an attacker fills the server,
            // and only the lapse of its claim and the reclaiming of its rooms bring them back.
            new_claim_ttl_ms: 300,
            room_idle_ms: 300,
            rooms_per_network: None,
            max_rooms: 5,
            ..ChatConfig::default()
        },
        summary_every: Duration::from_millis(100),
        ..settings()
    })
    .await;
    let mut squatter = from(srv.addr, "127.0.0.2", "alex", None).await;
    for r in 0..5 {
        let req = squatter.req();
        let room = Room::new(&format!("squat{r}")).expect("room");
        squatter.send(ClientMsg::Join { req, room }).await;
        let done = squatter
            .until(|m| matches!(m, ServerMsg::Done { .. } | ServerMsg::Error { .. }))
            .await;
        assert_eq!(done, ServerMsg::Done { req });
    }
    squatter.leave();
    // A name used again by a second session is established: it stays.
    let keeper = from(srv.addr, "127.0.0.3", "keeper", None).await;
    let again = from(srv.addr, "127.0.0.3", "keeper", keeper.key.clone()).await;
    keeper.leave();
    again.leave();

    // The legitimate alex asks for the name until it is free (bounded).
    let mut alex = Chat::connect(srv.addr, "127.0.0.1:0").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match alex.hello("alex", None).await {
            ServerMsg::Welcome { .. } => break,
            refused => assert!(Instant::now() < deadline, "never free: {refused:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The squatter's rooms went with its claim: alex creates a room on a server that was full.
    let req = alex.req();
    let room = Room::new("lobby").expect("room");
    alex.send(ClientMsg::Join { req, room }).await;
    let answer = alex
        .until(|m| matches!(m, ServerMsg::Done { .. } | ServerMsg::Error { .. }))
        .await;
    assert_eq!(answer, ServerMsg::Done { req });
    let mut other = Chat::connect(srv.addr, "127.0.0.1:0").await;
    let taken = other.hello("keeper", None).await;
    assert!(
        matches!(
            taken,
            ServerMsg::Error {
                kind: ErrorKind::Claimed,
                ..
            }
        ),
        "{taken:?}"
    );
    srv.stop().await;
}
