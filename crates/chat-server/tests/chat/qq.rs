//! The origin's QQ-style chat made real: alex, 黎诗, 瞎驴 and egon pick each other by name, send
//! direct messages both ways, see them accepted and delivered, and find each other's address;
//! a message to someone offline waits for them.

use dgram_proto::chat::{ClientMsg, ServerMsg, Target};

use crate::support::{name, server, settings, Chat};

#[tokio::test]
async fn the_origin_qq_scenario() {
    let srv = server(settings()).await;
    let mut users = Vec::new();
    for who in ["alex", "黎诗", "瞎驴", "egon"] {
        let (chat, welcome) = Chat::join(srv.addr, who, None).await;
        // The first join claims the name for the client's key: no claim key comes back.
        let ServerMsg::Welcome {
            name: n, key: None, ..
        } = welcome
        else {
            panic!("{who} could not join: {welcome:?}");
        };
        assert_eq!(n.as_str(), who);
        users.push(chat);
    }
    let (mut alex, mut lishi) = {
        let mut it = users.drain(..2);
        (it.next().expect("alex"), it.next().expect("黎诗"))
    };

    // alex picks 黎诗 and sends; the message is accepted, arrives, and is reported delivered.
    let req = alex.req();
    alex.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::User(name("黎诗")),
        text: "你好, 黎诗".into(),
    })
    .await;
    let accepted = alex
        .until(|m| matches!(m, ServerMsg::Accepted { .. }))
        .await;
    let ServerMsg::Accepted { req: r, id, .. } = accepted else {
        unreachable!()
    };
    assert_eq!(r, req);
    let got = lishi.until(|m| matches!(m, ServerMsg::Message(_))).await;
    let ServerMsg::Message(posted) = got else {
        unreachable!()
    };
    assert_eq!(
        posted.from.as_str(),
        "alex",
        "identity comes from the session"
    );
    assert_eq!(posted.text, "你好, 黎诗");
    assert_eq!(posted.id, id);
    alex.until(|m| *m == ServerMsg::Delivered { id }).await;

    // And back.
    let req = lishi.req();
    lishi
        .send(ClientMsg::Send {
            req,
            txn: crate::support::txn(),
            to: Target::User(name("ALEX")),
            text: "hi alex".into(),
        })
        .await;
    let got = alex.until(|m| matches!(m, ServerMsg::Message(_))).await;
    assert!(
        matches!(got, ServerMsg::Message(p) if p.from.as_str() == "黎诗" && p.text == "hi alex")
    );

    // /whois shows the address the server sees, as the origin printed it.
    let req = alex.req();
    alex.send(ClientMsg::Whois {
        req,
        name: name("黎诗"),
    })
    .await;
    let whois = alex.until(|m| matches!(m, ServerMsg::Whois { .. })).await;
    let ServerMsg::Whois { addrs, .. } = whois else {
        unreachable!()
    };
    assert_eq!(addrs, vec![lishi.addr.to_string()]);

    // Who is online: all four.
    let req = alex.req();
    alex.send(ClientMsg::Who { req, room: None }).await;
    let who = alex.until(|m| matches!(m, ServerMsg::Who { .. })).await;
    let ServerMsg::Who { users: online, .. } = who else {
        unreachable!()
    };
    assert_eq!(online.len(), 4);
    srv.stop().await;
}

#[tokio::test]
async fn a_dm_to_someone_offline_waits_for_them_in_order() {
    let srv = server(settings()).await;
    let (mut alex, _) = Chat::join(srv.addr, "alex", None).await;
    let (egon, _) = Chat::join(srv.addr, "egon", None).await;
    let egon_key = egon.key.clone().expect("claimed");
    egon.leave();
    // Wait until the server has seen egon go (his goodbye).
    alex.until_gone("egon").await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        let req = alex.req();
        alex.send(ClientMsg::Send {
            req,
            txn: crate::support::txn(),
            to: Target::User(name("egon")),
            text: text.into(),
        })
        .await;
        let ServerMsg::Accepted { id, .. } = alex
            .until(|m| matches!(m, ServerMsg::Accepted { .. }))
            .await
        else {
            unreachable!()
        };
        let queued = alex
            .until(|m| matches!(m, ServerMsg::NotDelivered { .. }))
            .await;
        assert!(
            matches!(queued, ServerMsg::NotDelivered { id: q, ref reason } if q == id && reason.contains("offline"))
        );
        ids.push(id);
    }
    let (mut egon, welcome) = Chat::join(srv.addr, "egon", Some(egon_key)).await;
    assert!(matches!(welcome, ServerMsg::Welcome { key: None, .. }));
    let mut texts = Vec::new();
    for _ in 0..3 {
        if let ServerMsg::Message(p) = egon.until(|m| matches!(m, ServerMsg::Message(_))).await {
            texts.push(p.text);
        }
    }
    assert_eq!(texts, ["one", "two", "three"]);
    for id in ids {
        alex.until(|m| *m == ServerMsg::Delivered { id }).await;
    }
    srv.stop().await;
}

#[tokio::test]
async fn presence_and_away_reach_room_co_members() {
    let srv = server(settings()).await;
    let (mut alex, _) = Chat::join(srv.addr, "alex", None).await;
    let (mut egon, _) = Chat::join(srv.addr, "egon", None).await;
    for c in [&mut alex, &mut egon] {
        let req = c.req();
        c.send(ClientMsg::Join {
            req,
            room: dgram_proto::chat::Room::new("lobby").expect("room"),
        })
        .await;
        c.until(|m| matches!(m, ServerMsg::Done { .. })).await;
    }
    let req = egon.req();
    egon.send(ClientMsg::Away {
        req,
        text: Some("lunch".into()),
    })
    .await;
    let p = alex.until(|m| matches!(m, ServerMsg::Presence { .. } if !matches!(m, ServerMsg::Presence { presence: dgram_proto::chat::Presence::Joined(_), .. }))).await;
    assert!(
        matches!(p, ServerMsg::Presence { ref name, presence: dgram_proto::chat::Presence::Away(ref t) } if name.as_str() == "egon" && t == "lunch")
    );
    egon.leave();
    let p = alex
        .until(|m| {
            matches!(
                m,
                ServerMsg::Presence {
                    presence: dgram_proto::chat::Presence::Offline,
                    ..
                }
            )
        })
        .await;
    assert!(matches!(p, ServerMsg::Presence { name, .. } if name.as_str() == "egon"));
    srv.stop().await;
}

#[tokio::test]
async fn a_send_only_session_leaves_the_queue_to_the_names_readers() {
    let srv = server(settings()).await;
    let (alex, _) = Chat::join(srv.addr, "alex", None).await;
    let key = alex.key.clone().expect("claimed");
    let (mut egon, _) = Chat::join(srv.addr, "egon", None).await;
    alex.leave();
    egon.until_gone("alex").await;
    let req = egon.req();
    egon.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::User(name("alex")),
        text: "for alex's reader".into(),
    })
    .await;
    egon.until(|m| matches!(m, ServerMsg::Accepted { .. }))
        .await;
    // A script sends as alex: it must not take (and drop) what waits for alex.
    let mut script = Chat::connect_as(srv.addr, "127.0.0.1:0", key.clone()).await;
    let welcome = script.hello_as("alex", None, true).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }));
    let req = script.req();
    script
        .send(ClientMsg::Send {
            req,
            txn: crate::support::txn(),
            to: Target::User(name("egon")),
            text: "from the script".into(),
        })
        .await;
    // What waits for alex would be sent right after the welcome, before this is accepted: so
    // everything up to the answer is looked at, not skipped, and then whatever comes later.
    let mut before = Vec::new();
    loop {
        let m = script.next().await;
        let answered = matches!(m, ServerMsg::Accepted { req: r, .. } if r == req);
        before.push(m);
        if answered {
            break;
        }
    }
    let is_message = |m: &ServerMsg| matches!(m, ServerMsg::Message(_));
    assert!(
        !before.iter().any(is_message),
        "a send-only session gets no messages: {before:?}"
    );
    let after = script.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !after.iter().any(is_message),
        "a send-only session gets no messages, later either: {after:?}"
    );
    let (mut reader, _) = Chat::join(srv.addr, "alex", Some(key)).await;
    let got = reader.until(|m| matches!(m, ServerMsg::Message(_))).await;
    assert!(matches!(got, ServerMsg::Message(p) if p.text == "for alex's reader"));
    srv.stop().await;
}
