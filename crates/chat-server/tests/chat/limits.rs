//! Bad input and limits: every one gets an error back (never a silent drop, never a kick), and
//! the server stays up and keeps answering everyone else.

use std::time::Duration;

use chat_server::Settings;
use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg, Target, MAX_TEXT};

use crate::support::{name, server, settings, Chat};

fn kind_of(m: &ServerMsg) -> Option<ErrorKind> {
    match m {
        ServerMsg::Error { kind, .. } => Some(*kind),
        _ => None,
    }
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let srv = server(settings()).await;
    let (mut alex, _) = Chat::join(srv.addr, "alex", None).await;

    let req = alex.req();
    alex.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::User(name("alex")),
        text: "x".repeat(MAX_TEXT + 1),
    })
    .await;
    let err = alex.until(|m| kind_of(m).is_some()).await;
    assert!(
        matches!(err, ServerMsg::Error { kind: ErrorKind::TooLong, ref message, .. } if message.contains("4096"))
    );

    let req = alex.req();
    alex.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::User(name("nobody")),
        text: "hello?".into(),
    })
    .await;
    let err = alex.until(|m| kind_of(m).is_some()).await;
    assert_eq!(kind_of(&err), Some(ErrorKind::UnknownUser));

    alex.send_raw(b"definitely not chat".to_vec()).await;
    let err = alex.until(|m| kind_of(m).is_some()).await;
    assert_eq!(kind_of(&err), Some(ErrorKind::Malformed));

    let req = alex.req();
    alex.send(ClientMsg::Away {
        req,
        text: Some("z".repeat(301)),
    })
    .await;
    let err = alex.until(|m| kind_of(m).is_some()).await;
    assert_eq!(kind_of(&err), Some(ErrorKind::TooLong));

    // A request before saying who you are.
    let mut anon = Chat::connect(srv.addr, "127.0.0.1:0").await;
    anon.send(ClientMsg::Rooms { req: 1 }).await;
    let err = anon.until(|m| kind_of(m).is_some()).await;
    assert_eq!(kind_of(&err), Some(ErrorKind::NotJoined));

    // Garbage datagrams at the server's port change nothing.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for size in [0, 1, 3, 20, 1200, 1500] {
        let _ = junk.send_to(&vec![0xFF; size], srv.addr);
    }
    let req = alex.req();
    alex.send(ClientMsg::Rooms { req }).await;
    alex.until(|m| matches!(m, ServerMsg::Rooms { .. })).await;
    srv.stop().await;
}

#[tokio::test]
async fn a_client_of_the_older_chat_protocol_is_told_to_upgrade_in_its_own_version() {
    let srv = server(settings()).await;
    let mut old = Chat::connect(srv.addr, "127.0.0.1:0").await;
    // A version-1 Hello: its body is laid out as today's, behind the old version byte.
    let hello = ClientMsg::Hello {
        name: name("oldtimer"),
        key: None,
        send_only: false,
    };
    let mut bytes = hello.encode().expect("encodes");
    bytes[1] = 1;
    old.send_raw(bytes).await;
    // The answer is in version 1, which this build does not read as chat; as a version-1
    // client reads it, it is an error that says to upgrade.
    let why = old.next_unreadable().await;
    assert!(why.contains("version 1"), "{why}");
    let expected = ServerMsg::upgrade_notice(1).expect("version 1 can be told");
    let mut as_read = expected.clone();
    as_read[1] = dgram_proto::CHAT_PREFIX[1];
    assert!(matches!(
        ServerMsg::decode(&as_read),
        Ok(ServerMsg::Error { req: None, ref message, .. }) if message.contains("upgrade")
    ));
    // The old client got no name, and the server serves others on.
    let (mut alex, welcome) = Chat::join(srv.addr, "alex", None).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }));
    let req = alex.req();
    alex.send(ClientMsg::Who { req, room: None }).await;
    let who = alex.until(|m| matches!(m, ServerMsg::Who { .. })).await;
    assert!(
        matches!(who, ServerMsg::Who { ref users, .. } if users.iter().all(|u| u.name != name("oldtimer")))
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_flood_is_answered_with_errors_and_others_are_served() {
    let srv = server(settings()).await;
    let (mut flood, _) = Chat::join(srv.addr, "flood", None).await;
    let (mut calm, _) = Chat::join(srv.addr, "calm", None).await;
    for _ in 0..40 {
        let req = flood.req();
        flood.send(ClientMsg::Rooms { req }).await;
    }
    let mut answered = 0;
    let mut limited = 0;
    while answered + limited < 40 {
        match flood.next().await {
            ServerMsg::Rooms { .. } => answered += 1,
            ServerMsg::Error {
                kind: ErrorKind::RateLimited,
                ..
            } => limited += 1,
            _ => {}
        }
    }
    // The burst of 10 covers the hello and nine requests; the rest are refused, each with an
    // error, until the bucket refills.
    assert!(
        limited > 0 && answered >= 9,
        "{answered} answered, {limited} limited"
    );
    let req = calm.req();
    calm.send(ClientMsg::Rooms { req }).await;
    calm.until(|m| matches!(m, ServerMsg::Rooms { .. })).await;
    srv.stop().await;
}

#[tokio::test]
async fn sessions_per_address_are_capped_with_an_error() {
    let srv = server(Settings {
        max_sessions_per_ip: 2,
        ..settings()
    })
    .await;
    let (_a, _) = Chat::join(srv.addr, "a1", None).await;
    let (_b, _) = Chat::join(srv.addr, "b1", None).await;
    let (_c, answer) = Chat::join(srv.addr, "c1", None).await;
    assert!(
        matches!(answer, ServerMsg::Error { kind: ErrorKind::Limit, ref message, .. } if message.contains("too many sessions from 127.0.0.1"))
    );
    // Another loopback address is another client.
    let mut d = Chat::connect(srv.addr, "127.0.0.2:0").await;
    let answer = d.hello("d1", None).await;
    assert!(matches!(answer, ServerMsg::Welcome { .. }));
    let _ = d.quiet_for(Duration::from_millis(10)).await;
    srv.stop().await;
}
