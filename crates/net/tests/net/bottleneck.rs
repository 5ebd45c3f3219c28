//! A session through a real bottleneck: dgram-proxy on loopback with a rate limit and a
//! drop-tail queue in front of it. A 64 KiB message and a burst of 500 small ones, queued at
//! once, must all get through, once each and in order, and under 5 % of the sender's datagrams
//! may be dropped at the queue (issue 13). Slow start would overflow a queue this small (18.9 %
//! lost) if the rising RTT did not end it first.
//!
//! The same through a path that carries at most 1300 bytes (issue 13's path MTU discovery):
//! the paste's packets grow to what the path carries and no further, the probes that did not
//! fit are the only datagrams too large, and nothing is lost to them.

use std::time::Duration;

use dgram_proto::session::{Config, Delivery, Event, PathStats, MAX_MESSAGE};
use dgram_proto::MAX_PATH_DATAGRAM;
use dgram_proxy::{self as proxy, Bottleneck, DirectionStats, Impairment};
use tokio_util::sync::CancellationToken;

use crate::support::{client, close, connected, server};

const SMALL: usize = 500;

/// The link: 2 Mbit/s, a 50 ms queue (1 × the bandwidth-delay product of the 50 ms round
/// trip), 25 ms each way.
fn link() -> Impairment {
    Impairment {
        delay: Duration::from_millis(25),
        bottleneck: Some(Bottleneck {
            rate_kbit: 2_000,
            queue: Duration::from_millis(50),
        }),
        seed: 13,
        ..Impairment::default()
    }
}

/// The messages in the order they are sent: `pastes` big ones first, then the numbered small
/// ones.
fn messages(pastes: usize) -> Vec<Vec<u8>> {
    let big = (0..pastes).map(|p| (0..MAX_MESSAGE).map(|i| ((i + p) % 251) as u8).collect());
    let small = (0..SMALL).map(|i| format!("small message {i}").into_bytes());
    big.chain(small).collect()
}

/// What one run through the proxy saw.
struct Crossing {
    /// The share of the sender's datagrams dropped at the queue.
    loss: f64,
    /// The proxy's counters toward the server.
    data: DirectionStats,
    /// The sender's path once everything was acknowledged.
    path: PathStats,
}

/// Sends the messages through `link`, checks that each arrives once and in order and that the
/// queue was used.
async fn through(link: Impairment, pastes: usize) -> Crossing {
    let mut srv = server(Config::default()).await;
    let listen = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy_addr = listen.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let proxy_task = tokio::spawn(proxy::run(listen, srv.addr, link, stop.clone()));
    let mut cli = client(Config::default(), proxy_addr, 3).await;
    connected(&mut cli, &mut srv).await;

    // Everything queued in one go, well within the session's flow-control bounds: only the
    // congestion window and pacing stand between the burst and the proxy's queue.
    let sent = messages(pastes);
    let queued = sent.clone();
    cli.commands
        .send(Box::new(move |c, now| {
            for data in queued {
                c.send(now, 0, data, Delivery::Reliable)
                    .expect("within the session's limits");
            }
        }))
        .await
        .expect("driver running");

    let mut received = Vec::new();
    let mut delivered = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while delivered < sent.len() || received.len() < sent.len() {
        tokio::select! {
            event = cli.events.recv() => match event.expect("driver running") {
                Event::Delivered { .. } => delivered += 1,
                other => panic!("unexpected client event {other:?}"),
            },
            event = srv.events.recv() => match event.expect("driver running") {
                (_, Event::Message { channel: 0, data, delivery: Delivery::Reliable }) => {
                    received.push(data);
                }
                other => panic!("unexpected server event {other:?}"),
            },
            () = tokio::time::sleep_until(deadline) => panic!(
                "within 30 s: {delivered} of {} delivered, {} received",
                sent.len(),
                received.len()
            ),
        }
    }
    // Exactly once and in order (the loop stops at the count; a duplicate would shift the
    // rest, and anything late shows below as a message after the last).
    assert!(received == sent, "every message once, in order");
    let (tx, rx) = tokio::sync::oneshot::channel();
    cli.commands
        .send(Box::new(move |c, _| {
            let _ = tx.send(c.path_stats());
        }))
        .await
        .expect("driver running");
    let path = rx.await.expect("answered").expect("a session");

    close(&cli, &mut srv).await;
    stop.cancel();
    let stats = proxy_task.await.expect("proxy task").expect("proxy ran");
    let data: DirectionStats = stats.to_target;
    // The link was the bottleneck: datagrams waited in its queue. Yet few were dropped there.
    assert!(data.queued > 0, "the queue was used: {data}");
    let loss = data.queue_dropped as f64 / data.received as f64;
    eprintln!(
        "to server: {data}; to client: {}; queue loss {:.2} %",
        stats.to_client,
        loss * 100.0
    );
    Crossing { loss, data, path }
}

#[tokio::test]
async fn a_paste_and_a_burst_get_through_a_bottleneck_without_flooding_its_queue() {
    let run = through(link(), 1).await;
    assert!(
        run.loss < 0.05,
        "{:.1} % of the sender's datagrams dropped at the queue",
        run.loss * 100.0
    );
    // Loopback carries anything: the paste went in the largest datagrams probed.
    assert_eq!(usize::from(run.path.max_datagram), MAX_PATH_DATAGRAM);
}

#[tokio::test]
async fn a_session_finds_what_a_narrower_path_carries_through_the_proxy() {
    let narrow = Impairment {
        mtu: Some(1300),
        ..link()
    };
    // Eight pastes (half a megabyte, about 2 s of the link): time for the search, which
    // spends three probes on each size that does not fit.
    let run = through(narrow, 8).await;
    let found = usize::from(run.path.max_datagram);
    assert!((1281..=1300).contains(&found), "found {found} bytes");
    // Only probes were too large: three of the largest size and a few on the way down.
    assert!(
        (3..=12).contains(&run.data.too_large),
        "{} too large",
        run.data.too_large
    );
    assert!(
        run.loss < 0.05,
        "{:.1} % lost at the queue",
        run.loss * 100.0
    );
    eprintln!("path: {:?}", run.path);
}
