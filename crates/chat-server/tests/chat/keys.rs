//! Names belong to keys, over real sessions: a client that records everything on the path
//! between the name's owner and the server (the whole handshake and its Hello, through the
//! capture test's relay) and replays it from another socket gets no session and no name; with its own key it is refused in words;
//! the owner's key, from any session, gets back in.

use std::time::Duration;

use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg};
use tokio::net::UdpSocket;

use crate::capture::Relay;
use crate::support::{name, server, settings, Chat};

/// Where the server sees `who`'s sessions, as `asker` learns with a whois.
async fn sessions_of(asker: &mut Chat, who: &str) -> Vec<String> {
    let req = asker.req();
    asker
        .send(ClientMsg::Whois {
            req,
            name: name(who),
        })
        .await;
    match asker
        .until(|m| matches!(m, ServerMsg::Whois { req: r, .. } | ServerMsg::Error { req: Some(r), .. } if *r == req))
        .await
    {
        ServerMsg::Whois { addrs, .. } => addrs,
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn a_client_that_replays_everything_seen_on_the_path_cannot_join_as_the_name() {
    let srv = server(settings()).await;
    let relay = Relay::start(srv.addr).await;
    let mut alex = Chat::connect(relay.addr, "127.0.0.1:0").await;
    let welcome = alex.hello("alex", None).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
    let owner = alex.identity.clone();
    alex.leave();
    let (mut egon, _) = Chat::join(srv.addr, "egon", None).await;
    egon.until_gone("alex").await;

    relay.stop.cancel();
    // Everything seen on the path, both ways.
    let recorded: Vec<Vec<u8>> = relay.seen.lock().expect("the log").clone();
    assert!(
        recorded.len() >= 3,
        "a handshake and a hello: {}",
        recorded.len()
    );
    // Nothing on the path shows alex's name in clear, let alone a secret.
    assert!(
        !recorded.iter().any(|d| d.windows(4).any(|w| w == b"alex")),
        "the hello travels encrypted"
    );

    // Replayed in order from another socket, twice over: no session says alex.
    let thief = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut answers = 0usize;
    let mut buf = vec![0u8; 2048];
    for _ in 0..2 {
        for datagram in &recorded {
            thief.send_to(datagram, srv.addr).await.expect("send");
            tokio::time::sleep(Duration::from_millis(5)).await;
            while let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(20), thief.recv_from(&mut buf)).await
            {
                answers += n.min(1);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sessions_of(&mut egon, "alex").await.is_empty(),
        "the replay made no session speak as alex (it got {answers} datagrams back)"
    );

    // With a key of its own, the thief is told the name is another key's, even with a guess
    // at an old claim key.
    let mut other = Chat::connect(srv.addr, "127.0.0.1:0").await;
    for legacy in [None, Some([0; 16])] {
        let refused = other.hello("alex", legacy).await;
        assert!(
            matches!(&refused, ServerMsg::Error { kind: ErrorKind::Claimed, message, .. }
                if message.contains("the name alex belongs to another key")),
            "{refused:?}"
        );
    }
    assert!(sessions_of(&mut egon, "alex").await.is_empty());

    // The owner's key gets back in from a new socket, without the relay.
    let (_alex, welcome) = Chat::join(srv.addr, "alex", Some(owner)).await;
    assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
    assert_eq!(sessions_of(&mut egon, "alex").await.len(), 1);
    srv.stop().await;
}
