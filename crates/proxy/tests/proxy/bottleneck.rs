//! The bottleneck through real loopback sockets: a burst the queue can hold is delayed to the
//! link's rate and all of it arrives, in order; a burst beyond the queue loses its tail at the
//! queue (counted apart from random loss) and the link carries again once the queue drains;
//! the limit applies to replies too, on a link of their own.
//!
//! The rates are low (a 1000-byte datagram takes 10 or 100 ms) so that the proxy's own speed
//! never matters: the times asserted are lower bounds, which late timers cannot break.

use std::net::SocketAddr;
use std::time::Duration;

use dgram_proxy::{Bottleneck, Impairment, Limits};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::support::{bind, drain, recv, target, within, Running, QUIET};

/// Every datagram in these tests: 1000 bytes, its sequence number first.
const SIZE: usize = 1000;

fn numbered(seq: u32) -> Vec<u8> {
    let mut datagram = vec![0u8; SIZE];
    datagram[..4].copy_from_slice(&seq.to_be_bytes());
    datagram
}

fn seq_of(datagram: &[u8]) -> u32 {
    let first: [u8; 4] = datagram[..4].try_into().expect("at least 4 bytes");
    u32::from_be_bytes(first)
}

fn shaped(rate_kbit: u64, queue_ms: u64) -> Impairment {
    Impairment {
        bottleneck: Some(Bottleneck {
            rate_kbit,
            queue: Duration::from_millis(queue_ms),
        }),
        ..Impairment::default()
    }
}

/// Sends the datagrams numbered `seqs` back to back, as one burst.
async fn burst(client: &UdpSocket, to: SocketAddr, seqs: std::ops::Range<u32>) {
    for seq in seqs {
        client.send_to(&numbered(seq), to).await.expect("send");
    }
}

#[tokio::test]
async fn a_burst_the_queue_holds_is_delayed_to_the_rate() {
    within(async {
        // 800 kbit/s: 10 ms a datagram; a 500 ms queue holds the whole burst of 20.
        let (to, mut seen) = target(false).await;
        let proxy = Running::start(to, shaped(800, 500), Limits::default()).await;
        let client = bind().await;
        let start = Instant::now();
        burst(&client, proxy.addr, 0..20).await;
        let arrived = drain(&mut seen).await;
        let order: Vec<u32> = arrived.iter().map(|s| seq_of(&s.1)).collect();
        assert_eq!(order, (0..20).collect::<Vec<_>>(), "all of it, in order");
        for (k, (_, _, at)) in arrived.iter().enumerate() {
            // The k-th (from 0) has waited for k datagrams before it and its own 10 ms.
            let least = Duration::from_millis(10 * (k as u64 + 1));
            assert!(*at - start >= least, "datagram {k} after {:?}", *at - start);
        }
        let last = arrived.last().map(|s| s.2 - start);
        assert!(last < Some(Duration::from_secs(5)), "{last:?}");
        let stats = proxy.stop().await;
        let way = stats.to_target;
        assert_eq!((way.received, way.forwarded), (20, 20));
        assert_eq!((way.dropped, way.queue_dropped, way.delayed), (0, 0, 0));
        assert!(way.queued >= 1, "{way:?}");
    })
    .await;
}

#[tokio::test]
async fn a_burst_beyond_the_queue_loses_its_tail_at_the_queue() {
    within(async {
        // 80 kbit/s: 100 ms a datagram; a 200 ms queue holds two behind the one on the link.
        let (to, mut seen) = target(false).await;
        let proxy = Running::start(to, shaped(80, 200), Limits::default()).await;
        let client = bind().await;
        let start = Instant::now();
        burst(&client, proxy.addr, 0..60).await;
        let arrived = drain(&mut seen).await;
        let order: Vec<u32> = arrived.iter().map(|s| seq_of(&s.1)).collect();
        // Three, unless the proxy took over 100 ms to read the burst: the head, never the tail.
        assert!((3..=5).contains(&order.len()), "{order:?}");
        assert_eq!(order, (0..order.len() as u32).collect::<Vec<_>>());
        for (k, (_, _, at)) in arrived.iter().enumerate() {
            let least = Duration::from_millis(100 * (k as u64 + 1));
            assert!(*at - start >= least, "datagram {k} after {:?}", *at - start);
        }
        // Drained, the link carries again.
        burst(&client, proxy.addr, 60..61).await;
        let after = drain(&mut seen).await;
        assert_eq!(after.iter().map(|s| seq_of(&s.1)).collect::<Vec<_>>(), [60]);
        let stats = proxy.stop().await;
        let way = stats.to_target;
        assert_eq!(way.received, 61);
        assert_eq!(way.forwarded, order.len() as u64 + 1);
        assert_eq!(way.queue_dropped, 60 - order.len() as u64);
        assert_eq!(way.dropped, 0, "queue drops are not random loss");
        assert!(way.to_string().contains("dropped at queue"), "{way}");
    })
    .await;
}

/// A target that answers each datagram with `fan_out` copies of it, at once.
async fn fanning_target(fan_out: usize) -> SocketAddr {
    let socket = bind().await;
    let addr = socket.local_addr().expect("local address");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            for _ in 0..fan_out {
                let _ = socket.send_to(&buf[..len], from).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn replies_cross_a_bottleneck_of_their_own() {
    within(async {
        let to = fanning_target(30).await;
        let proxy = Running::start(to, shaped(80, 200), Limits::default()).await;
        let client = bind().await;
        let start = Instant::now();
        burst(&client, proxy.addr, 7..8).await;
        let mut replies = Vec::new();
        while let Some(reply) = recv(&client, QUIET).await {
            replies.push((seq_of(&reply), start.elapsed()));
        }
        // The request crossed in 100 ms; then three replies of the 30, 100 ms apart.
        assert!((3..=5).contains(&replies.len()), "{replies:?}");
        for (k, (seq, after)) in replies.iter().enumerate() {
            assert_eq!(*seq, 7);
            let least = Duration::from_millis(100 * (k as u64 + 2));
            assert!(*after >= least, "reply {k} after {after:?}");
        }
        let stats = proxy.stop().await;
        let (up, down) = (stats.to_target, stats.to_client);
        assert_eq!((up.forwarded, up.queue_dropped), (1, 0));
        assert_eq!(down.received, 30);
        assert_eq!(down.forwarded, replies.len() as u64);
        assert_eq!(down.queue_dropped, 30 - replies.len() as u64);
    })
    .await;
}
