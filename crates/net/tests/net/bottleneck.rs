//! A session through a real bottleneck: dgram-proxy on loopback with a rate limit and a
//! drop-tail queue in front of it. A 64 KiB message and a burst of 500 small ones, queued at
//! once, must all get through, once each and in order, and under 5 % of the sender's datagrams
//! may be dropped at the queue (issue 13). Slow start would overflow a queue this small (18.9 %
//! lost) if the rising RTT did not end it first.

use std::time::Duration;

use dgram_proto::session::{Config, Delivery, Event, MAX_MESSAGE};
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

/// The messages in the order they are sent: the big one first, then the numbered small ones.
fn messages() -> Vec<Vec<u8>> {
    let big = (0..MAX_MESSAGE).map(|i| (i % 251) as u8).collect();
    let small = (0..SMALL).map(|i| format!("small message {i}").into_bytes());
    std::iter::once(big).chain(small).collect()
}

/// Sends the messages through the bottleneck, checks that each arrives once and in order and
/// that the queue was used; the share of the sender's datagrams dropped at the queue.
async fn through_the_bottleneck() -> f64 {
    let mut srv = server(Config::default()).await;
    let listen = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy_addr = listen.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let proxy_task = tokio::spawn(proxy::run(listen, srv.addr, link(), stop.clone()));
    let mut cli = client(Config::default(), proxy_addr, 3).await;
    connected(&mut cli, &mut srv).await;

    // Everything queued in one go, well within the session's flow-control bounds: only the
    // congestion window and pacing stand between the burst and the proxy's queue.
    let sent = messages();
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
    loss
}

#[tokio::test]
async fn a_paste_and_a_burst_get_through_a_bottleneck_without_flooding_its_queue() {
    let loss = through_the_bottleneck().await;
    assert!(
        loss < 0.05,
        "{:.1} % of the sender's datagrams dropped at the queue",
        loss * 100.0
    );
}
