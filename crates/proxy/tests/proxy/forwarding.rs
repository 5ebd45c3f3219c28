//! Forwarding without impairments: clean both ways with datagram boundaries intact, one
//! upstream socket per client, the flow table's bound and idle expiry, and refused settings.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use dgram_proxy::{Impairment, Limits};
use tokio::net::UdpSocket;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::support::{addr, bind, drain, lossy, recv, target, within, Running, QUIET};

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
    let run = dgram_proxy::run_with(listen, to, impairment, limits, never);
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
