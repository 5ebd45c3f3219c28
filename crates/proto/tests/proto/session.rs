//! The session protocol over the simulated network: exactly-once, in-order delivery or a
//! failure report under loss, duplication, reordering and outages; and the handshake's
//! defences against spoofing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dgram_proto::session::{
    packet, CloseReason, Config, Delivery, Event, FailReason, MessageId, MAX_MESSAGE,
    MAX_UNRELIABLE,
};
use dgram_proto::Error;

use crate::sim::{LinkSpec, Rng, Sim};

/// Sends `count` reliable messages each way over `channels`; returns what each side sent, by
/// message id: (channel, payload).
type Sent = HashMap<MessageId, (u16, Vec<u8>)>;

fn payload(rng: &mut Rng, tag: &str, i: usize) -> Vec<u8> {
    let mut p = format!("{tag}-{i}-").into_bytes();
    // Mostly chat-sized, sometimes several fragments.
    let extra = if rng.chance(0.1) {
        rng.below(5000)
    } else {
        rng.below(200)
    };
    p.extend(std::iter::repeat_n(b'x', extra as usize));
    p
}

/// Checks the contract for one direction: the receiver got, per channel, a duplicate-free
/// subsequence of what was sent, in order; every message was reported once, delivered or
/// failed; and nothing reported delivered is missing.
fn check_direction(sent: &Sent, order: &[MessageId], reports: &[Event], received: &[Event]) {
    let mut got: HashMap<u16, Vec<Vec<u8>>> = HashMap::new();
    for e in received {
        if let Event::Message {
            channel,
            data,
            delivery: Delivery::Reliable,
        } = e
        {
            got.entry(*channel).or_default().push(data.clone());
        }
    }
    let mut outcome: HashMap<MessageId, &Event> = HashMap::new();
    for e in reports {
        let id = match e {
            Event::Delivered { id } | Event::Failed { id, .. } => *id,
            _ => continue,
        };
        assert!(
            outcome.insert(id, e).is_none(),
            "message {id} reported twice"
        );
    }
    let mut per_channel: HashMap<u16, Vec<&Vec<u8>>> = HashMap::new();
    for id in order {
        let (ch, data) = &sent[id];
        per_channel.entry(*ch).or_default().push(data);
        let report = outcome
            .get(id)
            .unwrap_or_else(|| panic!("message {id} never reported"));
        if matches!(report, Event::Delivered { .. }) {
            assert!(
                got.get(ch).is_some_and(|v| v.contains(data)),
                "message {id} reported delivered but never arrived"
            );
        }
    }
    for (ch, received) in &got {
        let sent_here = &per_channel[ch];
        let mut cursor = 0;
        let mut seen = HashSet::new();
        for data in received {
            assert!(seen.insert(data), "channel {ch}: a message arrived twice");
            let at = sent_here[cursor..]
                .iter()
                .position(|s| *s == data)
                .unwrap_or_else(|| panic!("channel {ch}: out of order or never sent"));
            cursor += at + 1;
        }
    }
}

fn exchange(seed: u64, link: LinkSpec, outage: Option<(Duration, Duration)>) -> (usize, usize) {
    let config = Config::default();
    let mut sim = Sim::new(seed, config.clone(), link);
    let c = sim.add_client("10.0.0.2:40000", config);
    sim.run_for(Duration::from_secs(15));
    let session = sim.session_of(c).expect("connected despite the loss");
    if let Some((after, length)) = outage {
        let start = sim.now + after;
        sim.outage = Some((start, start + length));
    }
    let mut rng = Rng::new(seed ^ 0xABCD);
    let (mut up, mut down) = (Sent::new(), Sent::new());
    let (mut up_order, mut down_order) = (Vec::new(), Vec::new());
    for i in 0..120 {
        let ch = rng.below(4) as u16;
        let data = payload(&mut rng, "up", i);
        let now = sim.now;
        let id = sim.clients[c]
            .client
            .send(now, ch, data.clone(), Delivery::Reliable)
            .expect("within limits")
            .expect("reliable messages have ids");
        up.insert(id, (ch, data));
        up_order.push(id);
        let data = payload(&mut rng, "down", i);
        let id = sim
            .server
            .send(now, session, ch, data.clone(), Delivery::Reliable)
            .expect("within limits")
            .expect("id");
        down.insert(id, (ch, data));
        down_order.push(id);
        sim.run_for(Duration::from_millis(rng.below(40)));
    }
    sim.run_for(Duration::from_secs(25));
    let client_events = sim.clients[c].events.clone();
    let server_events: Vec<Event> = sim
        .server_events
        .iter()
        .filter(|(s, _)| *s == session)
        .map(|(_, e)| e.clone())
        .collect();
    check_direction(&up, &up_order, &client_events, &server_events);
    check_direction(&down, &down_order, &server_events, &client_events);
    let delivered = |events: &[Event]| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count()
    };
    (delivered(&client_events), delivered(&server_events))
}

#[test]
fn lossless_link_delivers_everything_once_in_order() {
    let (up, down) = exchange(1, LinkSpec::PERFECT, None);
    assert_eq!((up, down), (120, 120));
}

#[test]
fn heavy_loss_duplication_and_reordering_never_break_the_contract() {
    let link = LinkSpec {
        loss: 0.30,
        dup: 0.10,
        reorder: 0.2,
        delay: Duration::from_millis(20),
    };
    for seed in 1..=40 {
        let (up, down) = exchange(seed, link, None);
        // At 30 % loss each way, 10 s of retries get nearly everything through.
        assert!(
            up >= 110 && down >= 110,
            "seed {seed}: {up}/{down} delivered"
        );
    }
}

#[test]
fn an_outage_delays_or_fails_messages_but_never_breaks_order() {
    let link = LinkSpec {
        loss: 0.05,
        dup: 0.05,
        reorder: 0.1,
        delay: Duration::from_millis(10),
    };
    for seed in 1..=4 {
        // A 4 s cut: everything still arrives, late.
        let (up, down) = exchange(
            seed,
            link,
            Some((Duration::from_secs(1), Duration::from_secs(4))),
        );
        assert!(up >= 115 && down >= 115, "seed {seed}: {up}/{down}");
        // A 12 s cut: messages sent just before it fail, and later ones still flow.
        let (up, down) = exchange(
            seed,
            link,
            Some((Duration::from_millis(500), Duration::from_secs(12))),
        );
        assert!(up < 120 && down < 120, "seed {seed}: some must fail");
        assert!(up > 0 && down > 0, "seed {seed}: the rest gets through");
    }
}

#[test]
fn unreliable_messages_arrive_at_most_once_and_are_never_reported() {
    let mut sim = Sim::new(
        7,
        Config::default(),
        LinkSpec {
            dup: 0.5,
            ..LinkSpec::PERFECT
        },
    );
    let c = sim.add_client("10.0.0.2:40000", Config::default());
    sim.run_for(Duration::from_secs(1));
    let now = sim.now;
    for i in 0..20u8 {
        let id = sim.clients[c]
            .client
            .send(now, 9, vec![i], Delivery::Unreliable)
            .expect("fits");
        assert_eq!(id, None);
    }
    sim.run_for(Duration::from_secs(1));
    let got: Vec<_> = sim
        .server_events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message {
                data,
                delivery: Delivery::Unreliable,
                ..
            } => Some(data[0]),
            _ => None,
        })
        .collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    assert!(!sim.clients[c]
        .events
        .iter()
        .any(|e| matches!(e, Event::Delivered { .. })));
}

#[test]
fn limits_are_errors_not_surprises() {
    let config = Config {
        max_unacked_messages: 4,
        ..Config::default()
    };
    let mut sim = Sim::new(3, config.clone(), LinkSpec::PERFECT);
    let c = sim.add_client("10.0.0.2:40000", config);
    let now = sim.now;
    assert_eq!(
        sim.clients[c]
            .client
            .send(now, 0, vec![1], Delivery::Reliable),
        Err(Error::NotConnected)
    );
    sim.run_for(Duration::from_secs(1));
    let client = &mut sim.clients[c].client;
    assert_eq!(
        client.send(now, 0, vec![0; MAX_UNRELIABLE + 1], Delivery::Unreliable),
        Err(Error::MessageTooLarge {
            size: MAX_UNRELIABLE + 1,
            limit: MAX_UNRELIABLE
        })
    );
    assert_eq!(
        client.send(now, 0, vec![0; MAX_MESSAGE + 1], Delivery::Reliable),
        Err(Error::MessageTooLarge {
            size: MAX_MESSAGE + 1,
            limit: MAX_MESSAGE
        })
    );
    for _ in 0..4 {
        client
            .send(now, 0, vec![0; 10], Delivery::Reliable)
            .expect("room");
    }
    assert!(matches!(
        client.send(now, 0, vec![0; 10], Delivery::Reliable),
        Err(Error::SendBufferFull { messages: 4, .. })
    ));
    sim.run_for(Duration::from_secs(1));
    assert!(
        sim.clients[c]
            .client
            .send(sim.now, 0, vec![0; 10], Delivery::Reliable)
            .is_ok(),
        "room again once acknowledged"
    );
}

#[test]
fn a_64_kib_message_is_split_and_reassembled() {
    let link = LinkSpec {
        loss: 0.2,
        dup: 0.05,
        reorder: 0.3,
        delay: Duration::from_millis(10),
    };
    let mut sim = Sim::new(11, Config::default(), link);
    let c = sim.add_client("10.0.0.2:40000", Config::default());
    sim.run_for(Duration::from_secs(15));
    let big: Vec<u8> = (0..MAX_MESSAGE).map(|i| (i % 251) as u8).collect();
    let now = sim.now;
    let id = sim.clients[c]
        .client
        .send(now, 1, big.clone(), Delivery::Reliable)
        .expect("fits")
        .expect("id");
    sim.run_for(Duration::from_secs(8));
    assert!(sim.clients[c].events.contains(&Event::Delivered { id }));
    let got: Vec<_> = sim
        .server_events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Message { .. }))
        .collect();
    assert_eq!(got.len(), 1);
    assert!(matches!(&got[0].1, Event::Message { data, .. } if *data == big));
}

#[test]
fn headers_cost_seven_bytes_and_the_tag_sixteen() {
    assert_eq!(packet::HEADER_LEN, 7);
    let mut sim = Sim::new(5, Config::default(), LinkSpec::PERFECT);
    let c = sim.add_client("10.0.0.2:40000", Config::default());
    sim.run_for(Duration::from_secs(1));
    sim.record = true;
    let now = sim.now;
    for text in [&b"hello"[..], b"again", b"and again"] {
        sim.clients[c]
            .client
            .send(now, 0, text.to_vec(), Delivery::Reliable)
            .expect("sent");
    }
    sim.run_for(Duration::from_millis(100));
    let tag = dgram_proto::session::TAG_LEN;
    assert_eq!(tag, 16);
    // One packet: the header, the first message in full (type, channel, seq, length: 4
    // bytes), the next two as SHORT NEXT frames (the length in the type byte), the tag; no
    // ACK frame, as nothing new came from the server since the client last acked.
    let (_, _, first) = &sim.sent[0];
    let next = packet::frame_overhead_reliable();
    assert_eq!(next, 1);
    assert_eq!(
        first.len(),
        packet::HEADER_LEN + (4 + 5) + (next + 5) + (next + 9) + tag
    );
    // The server's answer acks all three with an ACK frame alone: header, type, largest,
    // delay, missing (one byte each), tag: 29 bytes, against version 2's 36.
    let (_, _, ack) = &sim.sent[1];
    assert_eq!(ack.len(), packet::HEADER_LEN + 4 + tag);
}

#[test]
fn idle_sessions_stay_up_with_keepalives_and_time_out_without_a_server() {
    let mut sim = Sim::new(9, Config::default(), LinkSpec::PERFECT);
    let c = sim.add_client("10.0.0.2:40000", Config::default());
    sim.run_for(Duration::from_secs(1));
    let session = sim.session_of(c).expect("connected");
    sim.run_for(Duration::from_secs(120));
    assert_eq!(
        sim.session_of(c),
        Some(session),
        "two idle minutes, still up"
    );
    assert_eq!(sim.server.sessions(), 1);
    // Cut everything for longer than the idle timeout: both sides give the session up.
    let start = sim.now;
    sim.outage = Some((start, start + Duration::from_secs(40)));
    sim.run_for(Duration::from_secs(35));
    assert_eq!(sim.server.sessions(), 0);
    assert!(sim.clients[c].events.contains(&Event::Closed {
        reason: CloseReason::TimedOut
    }));
    // When the link returns, the client joins again by itself.
    sim.run_for(Duration::from_secs(15));
    assert!(sim.session_of(c).is_some_and(|s| s != session));
    let fail = FailReason::SessionClosed(CloseReason::TimedOut);
    assert_eq!(fail.to_string(), "session ended: timed out");
}
