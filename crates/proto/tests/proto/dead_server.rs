//! A client notices a dead server within seconds of silence while it waits for an answer
//! ([`Config::dead_after`]), not after the idle timeout: the session ends as timed out, what
//! it carried fails, and the client handshakes again; a server that is merely slow to answer
//! over a lossy link keeps its session.

use std::time::Duration;

use dgram_proto::session::{CloseReason, Config, Delivery, Event, FailReason};

use crate::sim::{LinkSpec, Sim};

fn closed(events: &[Event]) -> bool {
    events.contains(&Event::Closed {
        reason: CloseReason::TimedOut,
    })
}

#[test]
fn a_dead_server_is_noticed_within_seconds_while_a_message_waits() {
    let config = Config::default();
    let mut sim = Sim::new(21, config.clone(), LinkSpec::PERFECT);
    let c = sim.add_client("10.0.0.2:40000", config.clone());
    sim.run_for(Duration::from_secs(1));
    let session = sim.session_of(c).expect("connected");
    // The server dies (nothing it would send arrives, nothing reaches it), then a message.
    let start = sim.now;
    sim.outage = Some((start, start + Duration::from_secs(120)));
    let now = sim.now;
    let id = sim.clients[c]
        .client
        .send(now, 0, b"are you there".to_vec(), Delivery::Reliable)
        .expect("queued")
        .expect("an id");
    let mut noticed = None;
    while sim.now < start + config.idle_timeout {
        sim.run_for(Duration::from_millis(250));
        if closed(&sim.clients[c].events) {
            noticed = Some(sim.now - start);
            break;
        }
    }
    let noticed = noticed.expect("noticed before the idle timeout");
    assert!(
        noticed >= config.dead_after && noticed <= config.dead_after + Duration::from_secs(1),
        "noticed after {noticed:?}"
    );
    assert!(sim.clients[c].events.contains(&Event::Failed {
        id,
        reason: FailReason::SessionClosed(CloseReason::TimedOut),
    }));
    // It keeps trying, and gets a new session once the server is back.
    sim.outage = None;
    sim.run_for(Duration::from_secs(5));
    assert!(sim.session_of(c).is_some_and(|s| s != session));
}

#[test]
fn a_slow_path_with_loss_keeps_its_session() {
    let link = LinkSpec {
        loss: 0.1,
        dup: 0.0,
        reorder: 0.0,
        delay: Duration::from_millis(40),
    };
    for seed in 1..=3 {
        let mut sim = Sim::new(seed, Config::default(), link);
        let c = sim.add_client("10.0.0.2:40000", Config::default());
        sim.run_for(Duration::from_secs(2));
        let session = sim.session_of(c).expect("connected");
        for i in 0..200u32 {
            let now = sim.now;
            let data = i.to_le_bytes().to_vec();
            let _ = sim.clients[c].client.send(now, 0, data, Delivery::Reliable);
            sim.run_for(Duration::from_millis(100));
        }
        assert!(!closed(&sim.clients[c].events), "seed {seed}");
        assert_eq!(sim.session_of(c), Some(session), "seed {seed}");
    }
}
