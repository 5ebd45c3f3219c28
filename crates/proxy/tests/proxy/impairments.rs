//! Each impairment on its own: total and seeded loss (replayed exactly by seed), duplication,
//! delay that keeps order, reordering, and a path MTU.

use std::collections::BTreeSet;
use std::time::Duration;

use dgram_proxy::{Impairment, Limits};
use tokio::time::Instant;

use crate::support::{
    bind, drain, lossy, recv, send_numbered, seq_of, seqs, target, within, Running, QUIET,
};

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

#[tokio::test]
async fn an_mtu_drops_exactly_the_datagrams_larger_than_it_both_ways() {
    within(async {
        let (to, mut seen) = target(true).await;
        let path = Impairment {
            mtu: Some(1300),
            ..Impairment::default()
        };
        let proxy = Running::start(to, path, Limits::default()).await;
        let client = bind().await;
        for size in [1, 1299, 1300, 1301, 1472, 1300] {
            client
                .send_to(&vec![7u8; size], proxy.addr)
                .await
                .expect("send");
        }
        let at_target: Vec<usize> = drain(&mut seen).await.iter().map(|s| s.1.len()).collect();
        assert_eq!(at_target, [1, 1299, 1300, 1300]);
        // The echoes come back through the same limit, and all fit it.
        let mut echoed = Vec::new();
        while let Some(d) = recv(&client, QUIET).await {
            echoed.push(d.len());
        }
        assert_eq!(echoed, [1, 1299, 1300, 1300]);
        let stats = proxy.stop().await;
        assert_eq!(stats.to_target.too_large, 2);
        assert_eq!(stats.to_target.forwarded, 4);
        assert_eq!(stats.to_client.too_large, 0);
        assert!(stats.to_target.to_string().contains("too large 2"));
    })
    .await;
}
