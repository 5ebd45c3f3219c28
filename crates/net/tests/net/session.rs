//! Sessions over real loopback sockets: the drivers carry proto's state machines end to end,
//! directly and through the loss-injecting proxy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use dgram_proto::session::{Config, Delivery, Event};
use dgram_proxy::{self as proxy, Impairment};
use tokio_util::sync::CancellationToken;

use crate::support::{client, close, connected, server};

const MESSAGES: usize = 1000;
const CHANNELS: u16 = 4;

/// A proxy to put between client and server.
struct Proxy {
    listen: tokio::net::UdpSocket,
    addr: SocketAddr,
    impairment: Impairment,
    shutdown: CancellationToken,
}

/// Sends MESSAGES reliable messages from a client to a server, directly or through `via`, and
/// checks that each arrives once, in order per channel, and is reported delivered.
async fn thousand_messages(via: Option<Proxy>) -> Option<proxy::ProxyStats> {
    let mut srv = server(Config::default()).await;
    let (target, proxy_task) = match via {
        Some(p) => {
            let stop = p.shutdown.clone();
            let task = tokio::spawn(proxy::run(p.listen, srv.addr, p.impairment, p.shutdown));
            (p.addr, Some((task, stop)))
        }
        None => (srv.addr, None),
    };
    let mut cli = client(Config::default(), target, 1).await;
    connected(&mut cli, &mut srv).await;

    let mut sent = 0;
    let mut delivered = 0;
    let mut received: HashMap<u16, Vec<usize>> = HashMap::new();
    let mut total_received = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while delivered < MESSAGES || total_received < MESSAGES {
        assert!(
            tokio::time::Instant::now() < deadline,
            "1000 messages within 60 s"
        );
        // Keep up to 200 in flight: the session's own backpressure would refuse more.
        while sent < MESSAGES && sent - delivered < 200 {
            let i = sent;
            let channel = (i % usize::from(CHANNELS)) as u16;
            let data = format!("message {i} on channel {channel}").into_bytes();
            cli.commands
                .send(Box::new(move |c, now| {
                    c.send(now, channel, data, Delivery::Reliable)
                        .expect("within the session's limits");
                }))
                .await
                .expect("driver running");
            sent += 1;
        }
        tokio::select! {
            event = cli.events.recv() => match event.expect("driver running") {
                Event::Delivered { .. } => delivered += 1,
                other => panic!("unexpected client event {other:?}"),
            },
            event = srv.events.recv() => match event.expect("driver running") {
                (_, Event::Message { channel, data, delivery: Delivery::Reliable }) => {
                    let text = String::from_utf8(data).expect("utf-8");
                    let i: usize = text
                        .split(' ')
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .expect("numbered");
                    received.entry(channel).or_default().push(i);
                    total_received += 1;
                }
                other => panic!("unexpected server event {other:?}"),
            },
            () = tokio::time::sleep(Duration::from_secs(15)) => panic!("stalled: {delivered} delivered, {total_received} received"),
        }
    }
    for channel in 0..CHANNELS {
        let got = &received[&channel];
        let expected: Vec<usize> = (0..MESSAGES)
            .filter(|i| i % usize::from(CHANNELS) == usize::from(channel))
            .collect();
        assert_eq!(got, &expected, "channel {channel}: once each, in order");
    }
    close(&cli, &mut srv).await;
    let (task, stop) = proxy_task?;
    stop.cancel();
    Some(task.await.expect("proxy task").expect("proxy ran"))
}

#[tokio::test]
async fn a_thousand_messages_over_loopback() {
    assert!(thousand_messages(None).await.is_none());
}

#[tokio::test]
async fn a_thousand_messages_through_a_lossy_proxy() {
    // The proxy needs the server's address before it starts; the server needs nothing, so the
    // proxy forwards to a server started first, and the client talks to the proxy.
    let listen = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy_addr = listen.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let impairment = Impairment {
        loss: 0.20,
        dup: 0.05,
        reorder: 0.10,
        delay: Duration::from_millis(2),
        seed: 42,
        ..Impairment::default()
    };
    let stats = thousand_messages(Some(Proxy {
        listen,
        addr: proxy_addr,
        impairment,
        shutdown,
    }))
    .await
    .expect("proxy stats");
    // The link really was bad both ways, and the session made up for it.
    for direction in [&stats.to_target, &stats.to_client] {
        assert!(direction.dropped > 0, "{direction}");
        assert!(direction.duplicated > 0, "{direction}");
    }
}
