//! The search on its own: sizes probed, what acks and losses make of them, the raise timer.

use std::time::{Duration, Instant};

use super::*;

const TIMEOUT: Duration = Duration::from_millis(300);

fn v4() -> SocketAddr {
    "192.0.2.1:5000".parse().expect("addr")
}

struct World {
    epoch: Instant,
    now: Duration,
    next_pn: u32,
}

impl World {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            now: Duration::ZERO,
            next_pn: 1,
        }
    }

    fn stamp(&self) -> Stamp {
        Stamp::since(self.epoch, self.epoch + self.now)
    }

    /// Sends the probe that is due, if any; returns its number and size.
    fn probe(&mut self, mtu: &mut Mtu) -> Option<(u32, u16)> {
        let size = mtu.poll_probe(self.stamp(), TIMEOUT)?;
        let pn = self.next_pn;
        self.next_pn += 1;
        mtu.probe_sent(pn, size, self.stamp());
        Some((pn, size))
    }

    /// Runs a search over a path that carries `path` bytes; returns the sizes probed.
    fn search(&mut self, mtu: &mut Mtu, path: u16) -> Vec<u16> {
        let mut probed = Vec::new();
        while let Some((pn, size)) = self.probe(mtu) {
            probed.push(size);
            assert!(probed.len() < 40, "the search ends: {probed:?}");
            self.now += Duration::from_millis(50);
            if size <= path {
                mtu.on_ack(pn, 0, self.stamp());
            } else {
                // Later packets are acknowledged, the probe is not.
                self.next_pn += 3;
                mtu.on_ack(self.next_pn - 1, 0, self.stamp());
            }
        }
        probed
    }
}

#[test]
fn nothing_is_probed_until_a_packet_is_cut_short() {
    let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
    assert_eq!(mtu.current(), BASE);
    assert_eq!(w.probe(&mut mtu), None);
    mtu.cut_short();
    assert_eq!(w.probe(&mut mtu).map(|p| p.1), Some(MAX_V4));
    // One probe at a time.
    assert_eq!(w.probe(&mut mtu), None);
}

#[test]
fn a_path_that_carries_the_largest_size_takes_one_probe() {
    let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
    mtu.cut_short();
    assert_eq!(w.search(&mut mtu, 1500), vec![MAX_V4]);
    assert_eq!(mtu.current(), MAX_V4);
    w.now += RAISE_AFTER * 2;
    assert_eq!(w.probe(&mut mtu), None, "nothing larger to look for");
}

#[test]
fn a_smaller_path_is_found_within_the_granularity() {
    for path in [1200, 1201, 1280, 1300, 1400, 1451] {
        let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
        mtu.cut_short();
        let probed = w.search(&mut mtu, path);
        let found = mtu.current();
        assert!(found <= path, "{found} passes a {path}-byte path");
        assert!(
            path - found <= GRANULARITY,
            "{found} is within {GRANULARITY} of {path}: {probed:?}"
        );
        assert_eq!(probed[..3], [MAX_V4; 3], "three tries of the largest first");
        assert!(probed.len() <= 3 * 5 + 3, "{probed:?}");
    }
}

#[test]
fn one_lost_probe_is_tried_again_and_a_late_one_times_out() {
    let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
    mtu.cut_short();
    let (pn, size) = w.probe(&mut mtu).expect("a probe");
    // Its ack never comes, nor any later one: the timeout declares it lost.
    w.now += TIMEOUT - Duration::from_millis(1);
    assert_eq!(w.probe(&mut mtu), None, "still waiting");
    w.now += Duration::from_millis(1);
    let (again, same) = w.probe(&mut mtu).expect("tried again");
    assert_eq!(same, size);
    assert!(again > pn);
    mtu.on_ack(again, 0, w.stamp());
    assert_eq!(mtu.current(), MAX_V4);
}

#[test]
fn an_ack_of_other_packets_only_declares_the_probe_lost_past_the_threshold() {
    let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
    mtu.cut_short();
    let (pn, _) = w.probe(&mut mtu).expect("a probe");
    mtu.on_ack(pn + 2, 0, w.stamp());
    assert_eq!(w.probe(&mut mtu), None, "two later packets: not yet lost");
    // The probe acknowledged in a later ack's bits still counts.
    mtu.on_ack(pn + 2, 0b10, w.stamp());
    assert_eq!(mtu.current(), MAX_V4);
}

#[test]
fn a_reset_starts_over_from_the_base_size() {
    let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
    mtu.cut_short();
    w.search(&mut mtu, 1500);
    assert_eq!(mtu.current(), MAX_V4);
    mtu.reset(v4());
    assert_eq!(mtu.current(), BASE);
    assert_eq!(w.probe(&mut mtu), None, "until a packet is cut short again");
    mtu.cut_short();
    assert_eq!(w.search(&mut mtu, 1300).first(), Some(&MAX_V4));
    assert!(mtu.current() <= 1300 && mtu.current() > 1280);
}

#[test]
fn a_search_that_ended_below_the_largest_size_tries_again_later() {
    let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
    mtu.cut_short();
    w.search(&mut mtu, 1300);
    let found = mtu.current();
    w.now += RAISE_AFTER - Duration::from_secs(1);
    assert_eq!(w.probe(&mut mtu), None, "not before the raise timer");
    w.now += Duration::from_secs(1);
    // The path grew meanwhile.
    assert_eq!(w.search(&mut mtu, 1500), vec![MAX_V4]);
    assert!(mtu.current() > found);
}

#[test]
fn the_largest_size_follows_the_address_family() {
    let mut w = World::new();
    for (peer, max) in [
        ("[2001:db8::1]:5000", MAX_V6),
        ("[::ffff:192.0.2.1]:5000", MAX_V4),
        ("192.0.2.1:5000", MAX_V4),
    ] {
        let mut mtu = Mtu::new(peer.parse().expect("addr"));
        mtu.cut_short();
        assert_eq!(w.search(&mut mtu, 1500), vec![max], "{peer}");
        assert_eq!(mtu.current(), max);
    }
    // A move to an IPv6 address starts over with the IPv6 bound.
    let mut mtu = Mtu::new(v4());
    mtu.cut_short();
    w.search(&mut mtu, 1500);
    mtu.reset("[2001:db8::2]:5000".parse().expect("addr"));
    mtu.cut_short();
    assert_eq!(w.search(&mut mtu, 1500), vec![MAX_V6]);
}

#[test]
fn only_a_session_with_something_to_probe_asks_for_the_clock() {
    let (mut w, mut mtu) = (World::new(), Mtu::new(v4()));
    assert!(!mtu.may_probe(), "nothing cut short yet");
    mtu.cut_short();
    assert!(mtu.may_probe());
    let (pn, _) = w.probe(&mut mtu).expect("a probe");
    assert!(mtu.may_probe(), "a probe in flight");
    mtu.on_ack(pn, 0, w.stamp());
    assert!(
        !mtu.may_probe(),
        "the largest size found: nothing left to look for"
    );
    let mut narrow = Mtu::new(v4());
    narrow.cut_short();
    w.search(&mut narrow, 1300);
    assert!(narrow.may_probe(), "the raise timer runs");
}
