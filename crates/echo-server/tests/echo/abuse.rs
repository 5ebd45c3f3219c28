//! The echo server against an attacker on loopback: a loop with another echo service (an RFC 862
//! echo, or a second dgram server) dies out within a few packets, and a flood from many source addresses (127.0.0.2, 127.0.0.3, ...)
//! leaves a legitimate client on 127.0.0.1 its replies.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dgram_proto::Envelope;
use echo_server::Settings;

use crate::support::{echo_request, start};

/// An RFC 862 echo on 127.0.0.1: sends every datagram back to its source unchanged, for
/// `quiet` after the last one (at most `limit` in all), and returns how many it answered.
/// `first` goes out before it starts listening: the spoofed datagram, "from" this echo.
fn rfc862_echo(socket: &UdpSocket, first: &[(SocketAddr, Vec<u8>)], quiet: Duration) -> usize {
    let limit = 100_000;
    socket.set_read_timeout(Some(quiet)).expect("timeout");
    for (to, datagram) in first {
        socket.send_to(datagram, to).expect("send");
    }
    let mut buf = [0u8; 2048];
    let mut answered = 0;
    while answered < limit {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            break;
        };
        socket.send_to(&buf[..n], from).expect("echo back");
        answered += 1;
    }
    answered
}

#[tokio::test]
async fn a_loop_with_an_rfc862_echo_dies_within_a_few_packets() {
    let server = start(Settings::default()).await;
    let addr = server.addr;
    let (one, thirty) = tokio::task::spawn_blocking(move || {
        let echo = UdpSocket::bind("127.0.0.1:0").expect("bind");
        // One datagram "from" the other echo to ours, as a spoofer would send it.
        let one = rfc862_echo(
            &echo,
            &[(addr, b"ping, said nobody".to_vec())],
            Duration::from_millis(300),
        );
        // Thirty different ones from another echo's address, all at once.
        let echo = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let many: Vec<_> = (0..30)
            .map(|i| (addr, format!("ping {i}").into_bytes()))
            .collect();
        let thirty = rfc862_echo(&echo, &many, Duration::from_millis(300));
        (one, thirty)
    })
    .await
    .expect("echo");
    let totals = server.stop().await;
    println!("loop packets: 1 spoofed -> {one} echoed, 30 spoofed -> {thirty} echoed; {totals:?}");
    assert_eq!(one, 1, "our reply came back once and was not answered");
    // The plain-reply burst (20 by default) answered some of the thirty; each came back once.
    assert!(thirty <= 30, "{thirty} packets");
    assert_eq!(totals.plain as usize, one + thirty);
    assert_eq!(totals.looped as usize, one + thirty, "each bounced reply");
    assert_eq!(totals.plain_limited as usize, 30 - thirty);
}

/// Two sockets on one loopback port with SO_REUSEPORT: the first for a server, the second to
/// send a datagram "from" that server, as a spoofer would.
fn shared_port() -> (tokio::net::UdpSocket, UdpSocket) {
    use socket2::{Domain, Socket, Type};
    let open = |addr: SocketAddr| {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("socket");
        s.set_reuse_port(true).expect("SO_REUSEPORT");
        s.bind(&addr.into()).expect("bind");
        UdpSocket::from(s)
    };
    let server = open("127.0.0.1:0".parse().expect("literal"));
    let addr = server.local_addr().expect("addr");
    let spoofer = open(addr);
    server.set_nonblocking(true).expect("nonblocking");
    let server = tokio::net::UdpSocket::from_std(server).expect("tokio socket");
    (server, spoofer)
}

#[tokio::test]
async fn a_loop_between_two_dgram_echo_servers_dies_after_two_packets() {
    let a = start(Settings::default()).await;
    let (b_socket, spoofer) = shared_port();
    let b_shutdown = tokio_util::sync::CancellationToken::new();
    let b = tokio::spawn(echo_server::run(
        b_socket,
        b_shutdown.clone(),
        Settings::default(),
    ));
    // Neither server has run yet (this test's runtime has one thread and nothing awaited):
    // the spoofed datagram waits in A's socket, and the spoofer's socket is gone before A
    // answers, so A's answer reaches B.
    spoofer.send_to(b"ping, said B", a.addr).expect("send");
    drop(spoofer);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = a.stop().await;
    b_shutdown.cancel();
    let b = b.await.expect("joins").expect("B ends cleanly");
    println!("A: {a:?}\nB: {b:?}");
    assert_eq!(
        (a.plain, b.plain),
        (1, 1),
        "A answered the spoof, B answered A"
    );
    assert_eq!(
        (a.looped, b.looped),
        (1, 0),
        "A saw its own reply come back"
    );
    assert_eq!(a.received + b.received, 3, "three packets in all");
}

/// The 16 million addresses of 127.0.0.0/8 after 127.0.0.1, one per flood datagram.
fn flood_source(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i % 16_000_000)
}

#[tokio::test]
async fn a_flood_from_many_sources_leaves_a_legitimate_client_its_replies() {
    // The default rates, with a table of sources 1/512 of the default size, so that a flood a
    // test can afford (about 10,000 new sources a second) refills it faster than the client
    // asks, as a flood of a few million sources a second would the default table.
    let tracked = 128;
    let settings = Settings {
        max_tracked_sources: tracked,
        ..Settings::default()
    };
    let server = start(settings).await;
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let flood = tokio::task::spawn_blocking({
        let stop = stop.clone();
        move || {
            let started = Instant::now();
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
                let source = UdpSocket::bind((flood_source(sent), 0)).expect("bind 127.x.y.z");
                // Envelopes and plain datagrams alike, one each from a fresh source.
                let datagram = if sent % 2 == 0 {
                    echo_request(u64::from(sent), "flood")
                } else {
                    b"flood".to_vec()
                };
                source.send_to(&datagram, addr).expect("send");
                sent += 1;
                if sent % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            (sent, started.elapsed())
        }
    });
    let legit = tokio::task::spawn_blocking(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        // Let the flood fill the table first.
        std::thread::sleep(Duration::from_millis(300));
        let requests = 200u64;
        let mut rtts = Vec::new();
        let mut buf = [0u8; 2048];
        for id in 0..requests {
            let sent = Instant::now();
            socket
                .send_to(&echo_request(id, "legit"), addr)
                .expect("send");
            while let Ok((n, _)) = socket.recv_from(&mut buf) {
                let reply = Envelope::decode(&buf[..n]).expect("an echo reply");
                if reply.body.request_id() == Some(id) {
                    rtts.push(sent.elapsed());
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        (requests, rtts)
    });
    let (requests, mut rtts) = legit.await.expect("legit client");
    stop.store(true, Ordering::Relaxed);
    let (flooded, took) = flood.await.expect("flood");
    let totals = server.stop().await;
    rtts.sort();
    let p99 = rtts.get(rtts.len() * 99 / 100).copied();
    let answered = rtts.len() as f64 / requests as f64;
    println!(
        "flood: {flooded} datagrams from as many sources in {took:?}; legit: {}/{requests} \
         answered ({:.1} %), p99 {p99:?}; {totals:?}",
        rtts.len(),
        answered * 100.0
    );
    assert!(
        flooded > 100 * tracked as u32,
        "the flood overran the table: {flooded}"
    );
    assert!(answered >= 0.99, "{:.1} % answered", answered * 100.0);
}
