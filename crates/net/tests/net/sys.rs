//! `sendmmsg`: one call delivers datagrams to several peers, each whole, in order, to its own
//! address, and a batch larger than one call takes goes out over several.

use std::net::SocketAddr;
use std::time::Duration;

use dgram_net::sys::{try_send_many, MAX_BATCH};
use tokio::net::UdpSocket;

/// A loopback socket the reactor has seen writable (a fresh socket's readiness is unknown
/// until then, and `try_send_many` never waits).
async fn bind() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind loopback");
    socket.writable().await.expect("writable");
    socket
}

async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("a datagram within 5 s")
        .expect("recv");
    buf[..n].to_vec()
}

#[tokio::test]
async fn one_call_reaches_every_peer_with_its_own_datagrams() {
    let sender = bind().await;
    let a = bind().await;
    let b = bind().await;
    let (to_a, to_b) = (a.local_addr().expect("addr"), b.local_addr().expect("addr"));
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
    let batch: Vec<(SocketAddr, &[u8])> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| (if i % 2 == 0 { to_a } else { to_b }, &p[..]))
        .collect();
    let sent = try_send_many(&sender, &batch).expect("send");
    assert_eq!(sent, 5, "an empty socket buffer takes the whole batch");
    for i in [0, 2, 4] {
        assert_eq!(recv(&a).await, payloads[i]);
    }
    for i in [1, 3] {
        assert_eq!(recv(&b).await, payloads[i]);
    }
}

#[tokio::test]
async fn a_call_takes_at_most_a_batch_and_nothing_for_an_empty_one() {
    let sender = bind().await;
    let peer = bind().await;
    let to = peer.local_addr().expect("addr");
    assert_eq!(try_send_many(&sender, &[]).expect("empty"), 0);
    let payload = [7u8; 16];
    let batch = vec![(to, &payload[..]); MAX_BATCH + 3];
    let first = try_send_many(&sender, &batch).expect("send");
    assert_eq!(first, MAX_BATCH);
    let rest = try_send_many(&sender, &batch[first..]).expect("send the rest");
    assert_eq!(rest, 3);
    for _ in 0..MAX_BATCH + 3 {
        assert_eq!(recv(&peer).await, payload);
    }
}
