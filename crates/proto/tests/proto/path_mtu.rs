//! Path MTU discovery over the simulated link: a bulk sender grows its datagrams to what the
//! path carries and no further, loses nothing to its probes (no loss counted, no window cut),
//! finds the size again when the path shrinks under it or an outage collapses its window, and
//! a chat session of short lines never probes at all.

use std::time::Duration;

use dgram_proto::session::{Config, Delivery, Event};
use dgram_proto::{MAX_DATAGRAM, MAX_PATH_DATAGRAM};

use crate::sim::{LinkSpec, Sim};

const CLIENT: &str = "10.0.0.2:40000";

/// A connected client on a path that carries `path_mtu` bytes (the link 10 ms each way).
fn world(seed: u64, path_mtu: usize) -> (Sim, usize) {
    let link = LinkSpec {
        delay: Duration::from_millis(10),
        ..LinkSpec::PERFECT
    };
    let mut sim = Sim::new(seed, Config::default(), link);
    sim.path_mtu = path_mtu;
    sim.record = true;
    let c = sim.add_client(CLIENT, Config::default());
    sim.run_for(Duration::from_millis(200));
    assert!(sim.clients[c].client.is_connected());
    (sim, c)
}

/// Sends `count` reliable messages of `size` bytes, as fast as the send buffer takes them,
/// for at most `within`; returns how many the server received.
fn bulk(sim: &mut Sim, c: usize, count: usize, size: usize, within: Duration) -> usize {
    let mut queued = 0;
    let until = sim.now + within;
    while sim.now < until {
        while queued < count {
            let now = sim.now;
            let data = vec![queued as u8; size];
            match sim.clients[c].client.send(now, 1, data, Delivery::Reliable) {
                Ok(_) => queued += 1,
                Err(_) => break,
            }
        }
        sim.run_for(Duration::from_millis(5));
        if received(sim) == count {
            break;
        }
    }
    received(sim)
}

fn received(sim: &Sim) -> usize {
    sim.server_events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Message { .. }))
        .count()
}

/// The largest datagram the client put on the wire, and how many exceeded `MAX_DATAGRAM`.
fn client_sizes(sim: &Sim) -> (usize, usize) {
    let client = CLIENT.parse().expect("addr");
    let sizes = sim.sent.iter().filter(|(from, ..)| *from == client);
    let largest = sizes.clone().map(|(.., b)| b.len()).max().unwrap_or(0);
    let over = sizes.filter(|(.., b)| b.len() > MAX_DATAGRAM).count();
    (largest, over)
}

#[test]
fn a_bulk_sender_grows_its_datagrams_to_the_largest_size_a_wide_path_carries() {
    let (mut sim, c) = world(1, 1500);
    assert_eq!(bulk(&mut sim, c, 3000, 100, Duration::from_secs(10)), 3000);
    let path = sim.clients[c].client.path_stats().expect("stats");
    assert_eq!(usize::from(path.max_datagram), MAX_PATH_DATAGRAM);
    assert_eq!(client_sizes(&sim).0, MAX_PATH_DATAGRAM);
    assert_eq!(path.lost_packets, 0);
    assert_eq!(path.congestion_events, 0);
}

#[test]
fn a_narrower_path_is_found_and_the_probes_that_did_not_fit_cost_nothing() {
    for (seed, path_mtu) in [(2, 1300), (3, 1400), (4, 1250)] {
        let (mut sim, c) = world(seed, path_mtu);
        // Long enough for the search (each size that does not fit takes three probes).
        assert_eq!(
            bulk(&mut sim, c, 20_000, 100, Duration::from_secs(10)),
            20_000
        );
        let path = sim.clients[c].client.path_stats().expect("stats");
        let found = usize::from(path.max_datagram);
        eprintln!(
            "path {path_mtu}: found {found}, {} dropped, {:?} taken",
            sim.too_large, sim.now
        );
        assert!(
            found <= path_mtu && found + 20 >= path_mtu,
            "{found} for a path of {path_mtu}"
        );
        assert!(sim.too_large > 0, "probes larger than the path were sent");
        assert!(sim.too_large <= 12, "{} probes dropped", sim.too_large);
        // Only probes were too large, and losing them counted as no loss.
        assert_eq!(path.lost_packets, 0);
        assert_eq!(path.congestion_events, 0);
    }
}

#[test]
fn a_path_that_carries_only_the_base_size_stays_at_it() {
    let (mut sim, c) = world(5, MAX_DATAGRAM);
    assert_eq!(bulk(&mut sim, c, 2000, 100, Duration::from_secs(10)), 2000);
    let path = sim.clients[c].client.path_stats().expect("stats");
    assert_eq!(usize::from(path.max_datagram), MAX_DATAGRAM);
    assert_eq!(path.lost_packets, 0);
}

#[test]
fn a_path_that_shrinks_under_a_session_is_searched_again_and_nothing_is_lost() {
    let (mut sim, c) = world(6, 1500);
    assert_eq!(bulk(&mut sim, c, 2000, 100, Duration::from_secs(10)), 2000);
    assert_eq!(
        usize::from(
            sim.clients[c]
                .client
                .path_stats()
                .expect("stats")
                .max_datagram
        ),
        MAX_PATH_DATAGRAM
    );
    // A route change: the path now drops everything over 1300 bytes, without a word.
    sim.path_mtu = 1300;
    sim.server_events.clear();
    assert_eq!(
        bulk(&mut sim, c, 20_000, 100, Duration::from_secs(30)),
        20_000
    );
    let path = sim.clients[c].client.path_stats().expect("stats");
    assert!(path.persistent_congestion > 0, "the black hole was noticed");
    let found = usize::from(path.max_datagram);
    assert!((1281..=1300).contains(&found), "found {found}");
}

#[test]
fn short_lines_never_probe() {
    let (mut sim, c) = world(7, 1500);
    for i in 0..50u8 {
        let now = sim.now;
        let line = format!("line {i} of a conversation").into_bytes();
        sim.clients[c]
            .client
            .send(now, 1, line, Delivery::Reliable)
            .expect("queued");
        sim.run_for(Duration::from_millis(300));
    }
    assert_eq!(received(&sim), 50);
    assert_eq!(client_sizes(&sim).1, 0, "no datagram over the base size");
}

#[test]
fn an_outage_that_collapses_the_window_starts_the_search_over_before_any_ack() {
    let (mut sim, c) = world(8, 1500);
    assert_eq!(bulk(&mut sim, c, 2000, 100, Duration::from_secs(10)), 2000);
    let stats = |sim: &Sim| sim.clients[c].client.path_stats().expect("stats");
    assert_eq!(usize::from(stats(&sim).max_datagram), MAX_PATH_DATAGRAM);
    // Nothing crosses for 3 s while 500 more messages wait: no ack can tell the sender
    // anything, so only its timers can find the persistent congestion.
    let start = sim.now;
    sim.outage = Some((start, start + Duration::from_secs(3)));
    sim.server_events.clear();
    assert_eq!(bulk(&mut sim, c, 500, 100, Duration::from_millis(2900)), 0);
    let path = stats(&sim);
    assert!(path.persistent_congestion > 0, "the outage was noticed");
    assert_eq!(
        usize::from(path.max_datagram),
        MAX_DATAGRAM,
        "back to the base size"
    );
    sim.run_for(Duration::from_secs(20));
    assert_eq!(received(&sim), 500, "everything arrives after the outage");
}
