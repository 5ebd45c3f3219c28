//! The loss-injecting proxy on loopback, between test clients and a test target: clean
//! forwarding both ways, per-client upstream sockets, loss, replay by seed, duplication, delay,
//! reordering, the flow table's bound and idle expiry, and refused settings.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use dgram_net::proxy::{self, Impairment, Limits, ProxyStats};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// No test may take longer than this, whatever goes wrong.
const BUDGET: Duration = Duration::from_secs(30);

/// How long without a datagram counts as "nothing more is coming" on loopback.
const QUIET: Duration = Duration::from_millis(300);

async fn within<F: Future>(test: F) -> F::Output {
    let outcome = timeout(BUDGET, test).await;
    outcome.expect("the test ran out of time")
}

async fn bind() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await;
    socket.expect("bind on loopback")
}

fn addr(socket: &UdpSocket) -> SocketAddr {
    socket.local_addr().expect("local address")
}

/// A proxy running on this test's runtime.
struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<ProxyStats, dgram_net::Error>>,
}

impl Running {
    async fn start(to: SocketAddr, impairment: Impairment, limits: Limits) -> Self {
        let listen = bind().await;
        let addr = addr(&listen);
        let shutdown = CancellationToken::new();
        let run = proxy::run_with(listen, to, impairment, limits, shutdown.clone());
        let task = tokio::spawn(run);
        Self {
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) -> ProxyStats {
        self.shutdown.cancel();
        timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the proxy stops when cancelled")
            .expect("the proxy does not panic")
            .expect("the proxy does not fail")
    }
}

/// What the target received: from whom, what, and when.
type Seen = (SocketAddr, Vec<u8>, Instant);

/// A target that reports every datagram and, if `echo`, sends it back to its sender.
async fn target(echo: bool) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let socket = bind().await;
    let addr = addr(&socket);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            if echo {
                let _ = socket.send_to(&buf[..len], from).await;
            }
            let seen = (from, buf[..len].to_vec(), Instant::now());
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// Everything the target reports until it has been quiet for [`QUIET`].
async fn drain(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<Seen> {
    let mut all = Vec::new();
    while let Ok(Some(one)) = timeout(QUIET, seen.recv()).await {
        all.push(one);
    }
    all
}

/// The sequence numbers the target reports until it has been quiet, in the order it got them.
async fn seqs(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<u32> {
    drain(seen).await.iter().map(|s| seq_of(&s.1)).collect()
}

/// The next datagram `socket` receives within `wait`.
async fn recv(socket: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    let (len, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(buf[..len].to_vec())
}

/// Sends `count` datagrams carrying their sequence number, in small bursts with pauses, so that
/// no socket buffer on the way overflows and only the proxy decides what is lost.
async fn send_numbered(client: &UdpSocket, to: SocketAddr, count: u32) {
    for seq in 0..count {
        client.send_to(&seq.to_be_bytes(), to).await.expect("send");
        if seq % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn seq_of(datagram: &[u8]) -> u32 {
    let bytes: [u8; 4] = datagram.try_into().expect("a 4-byte sequence number");
    u32::from_be_bytes(bytes)
}

fn lossy(loss: f64, seed: u64) -> Impairment {
    Impairment {
        loss,
        seed,
        ..Impairment::default()
    }
}

#[tokio::test]
async fn clean_proxy_passes_both_ways_with_boundaries_intact() {
    within(async {
        let (to, mut seen) = target(true).await;
        let proxy = Running::start(to, Impairment::default(), Limits::default()).await;
        let clients = [bind().await, bind().await];
        for size in [0, 1, 1200, 9000, 65_000] {
            for (i, client) in clients.iter().enumerate() {
                let datagram: Vec<u8> = (0..size).map(|b| (b as u8) ^ (i as u8)).collect();
                client.send_to(&datagram, proxy.addr).await.expect("send");
                let reply = recv(client, Duration::from_secs(2)).await;
                assert_eq!(reply.as_deref(), Some(&datagram[..]), "size {size}");
            }
        }
        let sources: HashSet<SocketAddr> = drain(&mut seen).await.iter().map(|s| s.0).collect();
        assert_eq!(sources.len(), 2, "one upstream per client: {sources:?}");
        for client in &clients {
            assert!(!sources.contains(&addr(client)));
        }
        let stats = proxy.stop().await;
        assert_eq!(stats.flows_opened, 2);
        for way in [stats.to_target, stats.to_client] {
            assert_eq!((way.received, way.forwarded, way.dropped), (10, 10, 0));
        }
    })
    .await;
}

#[tokio::test]
async fn total_loss_passes_nothing() {
    within(async {
        let (to, mut seen) = target(true).await;
        let proxy = Running::start(to, lossy(1.0, 1), Limits::default()).await;
        let client = bind().await;
        send_numbered(&client, proxy.addr, 50).await;
        assert_eq!(recv(&client, QUIET).await, None);
        assert!(drain(&mut seen).await.is_empty());
        let stats = proxy.stop().await;
        assert_eq!(stats.to_target.received, 50);
        assert_eq!(stats.to_target.dropped, 50);
        assert_eq!(stats.to_target.forwarded, 0);
    })
    .await;
}

/// Runs 2000 numbered datagrams one way through a proxy; the numbers that got through.
async fn delivered(impairment: Impairment) -> BTreeSet<u32> {
    let (to, mut seen) = target(false).await;
    let proxy = Running::start(to, impairment, Limits::default()).await;
    let client = bind().await;
    send_numbered(&client, proxy.addr, 2000).await;
    let got = seqs(&mut seen).await;
    let stats = proxy.stop().await;
    assert_eq!(
        stats.to_target.received, 2000,
        "the system lost some on the way in"
    );
    assert_eq!(got.len() as u64, stats.to_target.forwarded);
    got.into_iter().collect()
}

#[tokio::test]
async fn seeded_loss_is_in_band_and_replays_exactly() {
    within(async {
        let first = delivered(lossy(0.2, 42)).await;
        let fraction = first.len() as f64 / 2000.0;
        assert!((0.7..=0.9).contains(&fraction), "delivered {fraction}");
        assert_eq!(
            delivered(lossy(0.2, 42)).await,
            first,
            "same seed, same drops"
        );
        assert_ne!(
            delivered(lossy(0.2, 43)).await,
            first,
            "another seed, other drops"
        );
        // Duplicating draws from the same positions of the stream, so the drops stay put.
        let with_dups = Impairment {
            dup: 0.5,
            ..lossy(0.2, 42)
        };
        assert_eq!(delivered(with_dups).await, first);
    })
    .await;
}

#[tokio::test]
async fn dup_one_doubles_every_datagram_both_ways() {
    within(async {
        let (to, mut seen) = target(true).await;
        let doubling = Impairment {
            dup: 1.0,
            ..Impairment::default()
        };
        let proxy = Running::start(to, doubling, Limits::default()).await;
        let client = bind().await;
        send_numbered(&client, proxy.addr, 20).await;
        let mut at_client = Vec::new();
        while let Some(datagram) = recv(&client, QUIET).await {
            at_client.push(seq_of(&datagram));
        }
        let at_target = seqs(&mut seen).await;
        for seq in 0..20 {
            assert_eq!(at_target.iter().filter(|s| **s == seq).count(), 2, "{seq}");
            // Twice to the target, each echoed, each echo doubled again.
            assert_eq!(at_client.iter().filter(|s| **s == seq).count(), 4, "{seq}");
        }
        let stats = proxy.stop().await;
        let (t, c) = (stats.to_target, stats.to_client);
        let counts = (t.duplicated, t.forwarded, c.duplicated, c.forwarded);
        assert_eq!(counts, (20, 40, 40, 80));
    })
    .await;
}

#[tokio::test]
async fn delay_holds_each_way_and_keeps_order() {
    within(async {
        let (to, mut seen) = target(true).await;
        let delay = Duration::from_millis(100);
        let slow = Impairment {
            delay,
            ..Impairment::default()
        };
        let proxy = Running::start(to, slow, Limits::default()).await;
        let client = bind().await;
        for seq in 0u32..3 {
            let sent = Instant::now();
            client
                .send_to(&seq.to_be_bytes(), proxy.addr)
                .await
                .expect("send");
            let reply = recv(&client, Duration::from_secs(5)).await;
            let rtt = sent.elapsed();
            assert_eq!(reply.as_deref(), Some(&seq.to_be_bytes()[..]));
            let (_, _, arrived) = seen.recv().await.expect("the target saw it");
            assert!(arrived - sent >= delay, "one way took {:?}", arrived - sent);
            assert!(rtt >= 2 * delay, "a round trip took {rtt:?}");
            assert!(rtt < 2 * delay + Duration::from_secs(2), "{rtt:?}");
        }
        // A base delay alone holds everything equally long: nothing overtakes.
        send_numbered(&client, proxy.addr, 100).await;
        let order = seqs(&mut seen).await;
        assert_eq!(order, (0..100).collect::<Vec<_>>());
        let stats = proxy.stop().await;
        assert_eq!(stats.to_target.delayed, 103);
        assert_eq!(stats.to_target.reordered, 0);
    })
    .await;
}

#[tokio::test]
async fn reorder_makes_datagrams_overtake() {
    within(async {
        let (to, mut seen) = target(false).await;
        let shuffling = Impairment {
            reorder: 0.5,
            seed: 7,
            ..Impairment::default()
        };
        let proxy = Running::start(to, shuffling, Limits::default()).await;
        let client = bind().await;
        send_numbered(&client, proxy.addr, 200).await;
        let order = seqs(&mut seen).await;
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..200).collect::<Vec<_>>(),
            "nothing lost or doubled"
        );
        let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(inversions > 0, "arrived in order: {order:?}");
        let stats = proxy.stop().await;
        assert!(stats.to_target.reordered > 0);
        assert_eq!(stats.to_target.reordered, stats.to_target.delayed);
    })
    .await;
}

/// Whether a datagram sent through the proxy came back.
async fn ping(client: &UdpSocket, proxy: SocketAddr) -> bool {
    client.send_to(b"ping", proxy).await.expect("send");
    recv(client, QUIET).await.is_some()
}

#[tokio::test]
async fn flow_table_is_bounded_and_idle_flows_expire() {
    within(async {
        let (to, mut seen) = target(true).await;
        let idle_timeout = Duration::from_millis(400);
        let limits = Limits {
            max_flows: 2,
            idle_timeout,
            ..Limits::default()
        };
        let proxy = Running::start(to, Impairment::default(), limits).await;
        let [a, b, c] = [bind().await, bind().await, bind().await];
        let p = proxy.addr;
        assert!(ping(&a, p).await && ping(&b, p).await);
        assert!(
            !ping(&c, p).await,
            "a third client got in past a table of two"
        );
        // Once a and b have been idle long enough, their flows are gone and c gets in.
        tokio::time::sleep(idle_timeout * 2).await;
        assert!(ping(&c, p).await, "c still shut out after a and b expired");
        assert!(ping(&a, p).await, "a is shut out after coming back");
        drain(&mut seen).await;
        let stats = proxy.stop().await;
        assert_eq!(stats.to_target.no_flow, 1);
        assert_eq!(stats.flows_opened, 4);
        assert!(stats.flows_expired >= 2, "{stats:?}");
    })
    .await;
}

/// Runs a proxy that should refuse to start; its error.
async fn refusal(to: Option<SocketAddr>, impairment: Impairment, limits: Limits) -> String {
    let listen = bind().await;
    let to = to.unwrap_or_else(|| addr(&listen));
    let never = CancellationToken::new();
    let run = proxy::run_with(listen, to, impairment, limits, never);
    let outcome = timeout(Duration::from_secs(1), run).await;
    outcome
        .expect("refused at once")
        .expect_err("refused")
        .to_string()
}

#[tokio::test]
async fn bad_settings_are_refused_at_once() {
    let (to, _seen) = target(false).await;
    let (clean, limits) = (Impairment::default(), Limits::default());
    assert!(refusal(Some(to), lossy(1.5, 0), limits)
        .await
        .contains("loss"));
    let no_flows = Limits {
        max_flows: 0,
        ..limits
    };
    assert!(refusal(Some(to), clean, no_flows)
        .await
        .contains("max_flows"));
    let nowhere = SocketAddr::from(([0, 0, 0, 0], 9));
    assert!(refusal(Some(nowhere), clean, limits)
        .await
        .contains("0.0.0.0:9"));
    // Forwarding to itself would loop every datagram forever.
    assert!(refusal(None, clean, limits)
        .await
        .contains("cannot forward"));
}
