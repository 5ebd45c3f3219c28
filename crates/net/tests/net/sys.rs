//! `sendmmsg`: one call delivers datagrams to several peers, each whole, in order, to its own
//! address, and a batch larger than one call takes goes out over several; datagrams to one
//! peer in a row, sent as one GSO send, arrive as the same datagrams. `SO_MEMINFO`: the
//! receive queue's fill grows with what waits in it and falls as it is read, and reads as a
//! share of its size.

use std::net::SocketAddr;
use std::time::Duration;

use dgram_net::sys::{receive_backlog, try_send_many, Backlog, MAX_BATCH};
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
    let sent = try_send_many(&sender, &batch, 1).expect("send");
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
    assert_eq!(try_send_many(&sender, &[], 1).expect("empty"), 0);
    let payload = [7u8; 16];
    let batch = vec![(to, &payload[..]); MAX_BATCH + 3];
    let first = try_send_many(&sender, &batch, 1).expect("send");
    assert_eq!(first, MAX_BATCH);
    let rest = try_send_many(&sender, &batch[first..], 1).expect("send the rest");
    assert_eq!(rest, 3);
    for _ in 0..MAX_BATCH + 3 {
        assert_eq!(recv(&peer).await, payload);
    }
}

#[tokio::test]
async fn a_run_to_one_peer_sent_as_one_gso_send_arrives_as_the_same_datagrams() {
    let sender = bind().await;
    let (a, b) = (bind().await, bind().await);
    let (to_a, to_b) = (a.local_addr().expect("addr"), b.local_addr().expect("addr"));
    // Ten full datagrams and a shorter last to a (one run), then three to b, then a again.
    let mut payloads: Vec<(SocketAddr, Vec<u8>)> =
        (0..10u8).map(|i| (to_a, vec![i; 1200])).collect();
    payloads.push((to_a, vec![10; 300]));
    payloads.extend((11..14u8).map(|i| (to_b, vec![i; 500])));
    payloads.push((to_a, vec![14; 1200]));
    let batch: Vec<(SocketAddr, &[u8])> = payloads.iter().map(|(to, p)| (*to, &p[..])).collect();
    let sent = try_send_many(&sender, &batch, 64).expect("send");
    assert_eq!(sent, batch.len(), "counted in datagrams, not in sends");
    for (to, payload) in &payloads {
        let from = if *to == to_a { &a } else { &b };
        assert_eq!(&recv(from).await, payload, "whole, in order, one at a time");
    }
    // Asked of the kernel, not of the reactor's readiness (which may simply not know yet).
    #[cfg(target_os = "linux")]
    for (name, socket) in [("a", &a), ("b", &b)] {
        let left = receive_backlog(socket).expect("SO_MEMINFO on Linux");
        assert_eq!(left.queued, 0, "nothing more arrived at {name}: {left:?}");
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_backlog_counts_what_waits_unread() {
    let sender = bind().await;
    let receiver = bind().await;
    let to = receiver.local_addr().expect("addr");
    let empty = receive_backlog(&receiver).expect("SO_MEMINFO on Linux");
    assert_eq!(empty.queued, 0, "nothing sent yet: {empty:?}");
    assert!(empty.capacity > 0, "the queue has a size: {empty:?}");
    let payload = [7u8; 1200];
    for _ in 0..20 {
        sender.send_to(&payload, to).await.expect("send");
    }
    // Loopback delivers at once, but give the kernel a moment on a loaded machine.
    let mut full = receive_backlog(&receiver).expect("backlog");
    for _ in 0..50 {
        if full.queued >= 20 * 1200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        full = receive_backlog(&receiver).expect("backlog");
    }
    assert!(
        full.queued >= 20 * 1200,
        "20 datagrams of 1200 bytes wait: {full:?}"
    );
    for _ in 0..20 {
        assert_eq!(recv(&receiver).await.len(), 1200);
    }
    let drained = receive_backlog(&receiver).expect("backlog");
    assert_eq!(drained.queued, 0, "read back down to nothing: {drained:?}");
}

#[test]
fn the_fill_is_a_share_of_the_capacity_capped_at_full_and_nothing_when_unknown() {
    let fill = |queued, capacity| Backlog { queued, capacity }.percent();
    assert_eq!(fill(4_194_304, 8_388_608), 50);
    assert_eq!(fill(8_388_607, 8_388_608), 99, "rounded down: not full yet");
    // The kernel lets one datagram past the limit, so the queue can hold more than its size.
    assert_eq!(fill(8_400_000, 8_388_608), 100);
    assert_eq!(fill(u32::MAX, 1), 100, "no overflow on the way");
    assert_eq!(fill(5_000, 0), 0, "an unknown size never reads as full");
    assert_eq!(Backlog::EMPTY.percent(), 0);
}
