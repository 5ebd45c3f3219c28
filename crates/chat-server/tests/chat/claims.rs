//! Names belong to whoever holds their key: a second client cannot take a claimed name, online
//! or not; the key holder may use it from many sessions at once, and each gets the name's DMs.
//! Reserved names are refused. A client that moves or whose server restarts carries on.

use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg, Target};
use dgram_proxy::{self as proxy, Impairment};
use tokio_util::sync::CancellationToken;

use crate::support::{name, server, server_on, settings, Chat};

#[tokio::test]
async fn a_claimed_name_needs_its_key() {
    let srv = server(settings()).await;
    let (alex, _) = Chat::join(srv.addr, "alex", None).await;
    let key = alex.key.clone().expect("claimed");

    // Online: a thief without the key is refused, whatever the spelling.
    let (_, refused) = Chat::join(srv.addr, "ALEX", None).await;
    assert!(
        matches!(refused, ServerMsg::Error { kind: ErrorKind::Claimed, ref message, .. } if message.contains("claimed"))
    );
    // Nor with a guessed old claim key: the name belongs to alex's key.
    let mut thief = Chat::connect(srv.addr, "127.0.0.1:0").await;
    let refused = thief.hello("alex", Some([9; 16])).await;
    assert!(matches!(
        refused,
        ServerMsg::Error {
            kind: ErrorKind::Claimed,
            ..
        }
    ));

    // The key holder gets in from a second session; both receive alex's DMs.
    let (mut phone, welcome) = Chat::join(srv.addr, "alex", Some(key)).await;
    assert!(matches!(welcome, ServerMsg::Welcome { key: None, .. }));
    let mut laptop = alex;
    let (mut egon, _) = Chat::join(srv.addr, "egon", None).await;
    let req = egon.req();
    egon.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::User(name("alex")),
        text: "to both".into(),
    })
    .await;
    for c in [&mut laptop, &mut phone] {
        let got = c.until(|m| matches!(m, ServerMsg::Message(_))).await;
        assert!(matches!(got, ServerMsg::Message(p) if p.text == "to both"));
    }

    // Offline: still refused, so nobody can read what is queued for alex.
    laptop.leave();
    phone.leave();
    egon.until_gone("alex").await;
    let (_, refused) = Chat::join(srv.addr, "alex", None).await;
    assert!(matches!(
        refused,
        ServerMsg::Error {
            kind: ErrorKind::Claimed,
            ..
        }
    ));
    srv.stop().await;
}

#[tokio::test]
async fn reserved_names_are_refused() {
    let srv = server(settings()).await;
    for who in ["server", "Admin", "system", "guest-42"] {
        let (_, answer) = Chat::join(srv.addr, who, None).await;
        assert!(
            matches!(
                answer,
                ServerMsg::Error {
                    kind: ErrorKind::Reserved,
                    ..
                }
            ),
            "{who}: {answer:?}"
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_client_that_comes_back_from_a_new_port_resumes() {
    let srv = server(settings()).await;
    // The client reaches the server through a proxy, as through a NAT; restarting the proxy on
    // the same port gives the client a new source address, as a NAT rebinding does.
    let listen = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listen.local_addr().expect("addr");
    let first = CancellationToken::new();
    let nat = tokio::spawn(proxy::run(
        listen,
        srv.addr,
        Impairment::default(),
        first.clone(),
    ));
    let mut alex = Chat::connect(port, "127.0.0.1:0").await;
    alex.hello("alex", None).await;
    let (mut egon, _) = Chat::join(srv.addr, "egon", None).await;
    let req = egon.req();
    egon.send(ClientMsg::Whois {
        req,
        name: name("alex"),
    })
    .await;
    let ServerMsg::Whois { addrs: before, .. } =
        egon.until(|m| matches!(m, ServerMsg::Whois { .. })).await
    else {
        unreachable!()
    };

    first.cancel();
    let _ = nat.await;
    // The old proxy's flow tasks let go of the port a moment after it stops.
    let mut listen = None;
    for _ in 0..100 {
        if let Ok(socket) = tokio::net::UdpSocket::bind(port).await {
            listen = Some(socket);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let listen = listen.expect("rebind the proxy port within 2 s");
    let second = CancellationToken::new();
    tokio::spawn(proxy::run(
        listen,
        srv.addr,
        Impairment::default(),
        second.clone(),
    ));

    // alex keeps talking; the session resumes from the new address and the message arrives.
    let req = alex.req();
    alex.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::User(name("egon")),
        text: "after the move".into(),
    })
    .await;
    let got = egon.until(|m| matches!(m, ServerMsg::Message(_))).await;
    assert!(matches!(got, ServerMsg::Message(p) if p.text == "after the move"));
    let req = egon.req();
    egon.send(ClientMsg::Whois {
        req,
        name: name("alex"),
    })
    .await;
    let ServerMsg::Whois { addrs: after, .. } =
        egon.until(|m| matches!(m, ServerMsg::Whois { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(after.len(), 1);
    assert_ne!(before, after, "the server now sees alex at the new address");
    second.cancel();
    srv.stop().await;
}

#[tokio::test]
async fn clients_reconnect_on_their_own_after_a_server_restart() {
    let srv = server(settings()).await;
    let addr = srv.addr;
    let (mut alex, _) = Chat::join(addr, "alex", None).await;
    srv.stop().await;
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .expect("same port again");
    let srv = server_on(socket, settings());
    // The old server said goodbye; the client's session layer joins the new one by itself.
    // This server has no memory of alex (state on disk is a later issue), so hello claims anew.
    alex.reconnected().await;
    let welcome = alex.hello("alex", None).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
    srv.stop().await;
}
