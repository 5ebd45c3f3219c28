//! The encrypted session (issue 12): tampered packets at every byte and replays are dropped and
//! counted, a copy of a Join once data flows gets no answer, a pinned or learned server key is
//! enforced before any Diffie-Hellman, a replayed resume cannot move a session, peers of
//! another version are told to upgrade, and nothing a session carries crosses the wire in
//! clear.

use std::time::{Duration, Instant};

use dgram_proto::session::{
    Client, Config, Delivery, Event, Fingerprint, HandshakeError, Keypair, ServerPin,
};
use dgram_proto::MAX_DATAGRAM;

use crate::handshake_support::{
    addr, connected, hello, hello_of_version, hs, is_data, is_hs, ATTACKER, CLIENT,
};
use crate::sim::{LinkSpec, Sim};

/// The client's data packets to the server recorded so far.
fn client_data(sim: &Sim) -> Vec<Vec<u8>> {
    sim.sent
        .iter()
        .filter(|(from, to, b)| *from == addr(CLIENT) && *to == sim.server_addr && is_data(b))
        .map(|(_, _, b)| b.clone())
        .collect()
}

fn messages(sim: &Sim) -> usize {
    sim.server_events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Message { .. }))
        .count()
}

/// A connected pair after the client sent one reliable message; the packet that carried it.
fn sent_one() -> (Sim, Vec<u8>) {
    let (mut sim, c) = connected();
    let before = client_data(&sim).len();
    let now = sim.now;
    sim.clients[c]
        .client
        .send(now, 0, b"attack at dawn".to_vec(), Delivery::Reliable)
        .expect("queued");
    sim.run_for(Duration::from_millis(200));
    assert_eq!(messages(&sim), 1);
    let data = client_data(&sim);
    let carrier = data[before..]
        .iter()
        .find(|b| b.len() > 35)
        .expect("the message's packet")
        .clone();
    (sim, carrier)
}

#[test]
fn a_packet_changed_at_any_byte_is_dropped_and_counted() {
    let (mut sim, carrier) = sent_one();
    let server = sim.server_addr;
    for i in 0..carrier.len() {
        let before = sim.server.stats();
        let mut bad = carrier.clone();
        bad[i] ^= 0x01;
        sim.inject(addr(CLIENT), server, bad);
        sim.run_for(Duration::from_millis(20));
        let after = sim.server.stats();
        let dropped = (after.malformed - before.malformed)
            + (after.unmatched - before.unmatched)
            + (after.forged - before.forged);
        assert_eq!(dropped, 1, "byte {i}: {before:?} -> {after:?}");
        // Past the magic, the version and the session id, only authentication can tell.
        if i >= 7 {
            assert_eq!(after.forged, before.forged + 1, "byte {i}");
        }
    }
    assert_eq!(messages(&sim), 1, "no tampered copy was delivered");
}

#[test]
fn a_replayed_packet_is_dropped_and_counted_and_moves_nothing() {
    let (mut sim, carrier) = sent_one();
    let server = sim.server_addr;
    let session = sim.server_events[0].0;
    let replayed = sim.server.stats().replayed;
    sim.inject(addr(CLIENT), server, carrier.clone());
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.server.stats().replayed, replayed + 1);
    // From another address it is not even looked at, and the session stays where it is.
    let unmatched = sim.server.stats().unmatched;
    sim.inject(addr(ATTACKER), server, carrier);
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.server.stats().unmatched, unmatched + 1);
    assert_eq!(sim.server.peer(session), Some(addr(CLIENT)));
    assert_eq!(messages(&sim), 1, "delivered exactly once");
}

#[test]
fn a_copy_of_the_join_after_data_gets_no_answer_and_moves_nothing() {
    // Until the client's data shows it has the keys, a repeated Join gets the same Welcome
    // again (the first may have been lost); after, the server keeps no copy of that answer.
    let (mut sim, _carrier) = sent_one();
    let server = sim.server_addr;
    let session = sim.server_events[0].0;
    let join = sim
        .sent
        .iter()
        .find(|(from, to, b)| *from == addr(CLIENT) && *to == server && is_hs(b, 2))
        .map(|(_, _, b)| b.clone())
        .expect("the Join");
    let welcomes = |sim: &Sim| {
        let to_client = |(from, to, b): &&(_, _, Vec<u8>)| {
            *from == sim.server_addr && *to == addr(CLIENT) && is_hs(b, 3)
        };
        sim.sent.iter().filter(to_client).count()
    };
    let (before, replayed) = (welcomes(&sim), sim.server.stats().replayed);
    // Its ephemeral key changed (the Noise message starts after type, nonce, cookie and
    // length): under the session's nonce it is a replay as well, found before any DH (the
    // server no longer keeps the first message's key to compare).
    let mut other_key = join.clone();
    other_key[3 + 16 + 16 + 2] ^= 1;
    let bad_handshake = sim.server.stats().bad_handshake;
    sim.inject(addr(CLIENT), server, join);
    sim.inject(addr(CLIENT), server, other_key);
    sim.run_for(Duration::from_millis(50));
    assert_eq!(welcomes(&sim), before, "no second Welcome");
    assert_eq!(sim.server.stats().replayed, replayed + 2);
    assert_eq!(sim.server.stats().bad_handshake, bad_handshake);
    assert_eq!(sim.server.peer(session), Some(addr(CLIENT)));
    let now = sim.now;
    sim.clients[0]
        .client
        .send(now, 0, b"still here".to_vec(), Delivery::Reliable)
        .expect("queued");
    sim.run_for(Duration::from_millis(200));
    assert_eq!(messages(&sim), 2, "the session goes on");
}

#[test]
fn a_client_pinned_to_one_key_refuses_a_server_with_another_before_any_join() {
    let mut sim = Sim::new(3, Config::default(), LinkSpec::PERFECT);
    sim.record = true;
    let other = Keypair::from_seed([0x42; 32]);
    let pin = ServerPin::Key(other.public);
    let me = Keypair::from_seed([1; 32]);
    let c = sim.add_client_with(CLIENT, Config::default(), me, pin);
    sim.run_for(Duration::from_secs(2));
    let seen = sim.server_identity.public;
    let expected = HandshakeError::KeyMismatch {
        expected: pin,
        seen,
    };
    assert!(sim.clients[c]
        .events
        .contains(&Event::HandshakeFailed { error: expected }));
    let text = expected.to_string();
    assert!(text.contains(&Fingerprint::of(&seen).to_string()), "{text}");
    assert!(
        text.contains(&Fingerprint::of(&other.public).to_string()),
        "{text}"
    );
    assert_eq!(sim.server.sessions(), 0);
    // It never sent a Join: its key and its request stay with it.
    assert!(sim
        .sent
        .iter()
        .filter(|(from, ..)| *from == addr(CLIENT))
        .all(|(_, _, b)| is_hs(b, 0)));
    // And it gave up for good: nothing more is sent.
    let sent = sim.sent.len();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.sent.len(), sent);
}

#[test]
fn a_fingerprint_pin_connects_and_a_learned_key_is_enforced_after_a_restart() {
    let mut sim = Sim::new(4, Config::default(), LinkSpec::PERFECT);
    let real = sim.server_identity.public;
    let pin = ServerPin::Fingerprint(Fingerprint::of(&real));
    let c = sim.add_client_with(CLIENT, Config::default(), Keypair::from_seed([2; 32]), pin);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.session_of(c).is_some());
    assert_eq!(sim.clients[c].client.server_key(), Some(real));
    // The server comes back with another key (stolen address, or a reinstall): the client,
    // which proved the first key, refuses the second.
    sim.server_identity = Keypair::from_seed([0x66; 32]);
    sim.restart_server([8; 32]);
    let now = sim.now;
    sim.clients[c]
        .client
        .send(now, 0, b"are you there".to_vec(), Delivery::Reliable)
        .expect("queued");
    sim.run_for(Duration::from_secs(12));
    assert!(sim.clients[c].events.iter().any(|e| matches!(
        e,
        Event::HandshakeFailed {
            error: HandshakeError::KeyMismatch { seen, .. }
        } if *seen == Keypair::from_seed([0x66; 32]).public
    )));
}

#[test]
fn a_replayed_resume_from_another_address_does_not_move_the_session() {
    let (mut sim, c) = connected();
    let session = sim.session_of(c).expect("connected");
    let moved = addr("10.0.0.2:41111");
    sim.clients[c].addr = moved;
    let now = sim.now;
    sim.clients[c]
        .client
        .send(now, 0, b"from the new port".to_vec(), Delivery::Reliable)
        .expect("queued");
    sim.run_for(Duration::from_secs(6));
    assert_eq!(sim.server.peer(session), Some(moved));
    let join = sim
        .sent
        .iter()
        .rev()
        .find(|(from, _, b)| *from == moved && is_hs(b, 2))
        .map(|(_, _, b)| b.clone())
        .expect("the resume's Join");
    let server = sim.server_addr;
    // As it was: its cookie is for the client's address, not the attacker's.
    let bad_cookie = sim.server.stats().bad_cookie;
    sim.inject(addr(ATTACKER), server, join.clone());
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.server.stats().bad_cookie, bad_cookie + 1);
    // With a cookie the attacker got for the same nonce: the Noise prologue binds the cookie,
    // so the first message no longer checks out.
    let mut ask = hello(0);
    ask[3..19].copy_from_slice(&join[3..19]);
    sim.inject(addr(ATTACKER), server, ask);
    sim.run_for(Duration::from_millis(50));
    let cookie = crate::handshake_support::cookie_sent_to(&sim, addr(ATTACKER)).expect("cookie");
    let mut spliced = join;
    spliced[19..35].copy_from_slice(&cookie);
    let bad_handshake = sim.server.stats().bad_handshake;
    sim.inject(addr(ATTACKER), server, spliced);
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.server.stats().bad_handshake, bad_handshake + 1);
    assert_eq!(sim.server.peer(session), Some(moved), "not moved");
}

/// A version 2 Join as a v2 client padded it: its layout was this version's, only the
/// version nibble and the Noise prologue differ, and neither is read before the version.
fn v2_join(nonce: u8) -> Vec<u8> {
    let mut p = vec![0xFF, b'S', 0x22];
    p.extend([nonce; 16]);
    p.extend([0x33; 16]);
    p.extend(96u16.to_le_bytes());
    p.extend([0x44; 96]);
    p.resize(1200, 0);
    p
}

#[test]
fn a_peer_of_another_version_is_told_to_upgrade() {
    // Old (v1 to v3) clients' Hellos and a v2 Join get a small version Reject, not silence;
    // from v2 on the Reject's layout is the same, so an old client reads it and says "upgrade".
    let (mut sim, _) = connected();
    let server = sim.server_addr;
    let old = [1, 2, 3].map(|v| hello_of_version(v, 9));
    for (n, packet) in old.into_iter().chain([v2_join(9)]).enumerate() {
        sim.inject(addr(ATTACKER), server, packet);
        sim.run_for(Duration::from_millis(50));
        assert_eq!(sim.server.stats().other_version, n as u64 + 1);
        let (_, _, reject) = sim
            .sent
            .iter()
            .rev()
            .find(|(_, to, _)| *to == addr(ATTACKER))
            .expect("an answer");
        assert_eq!(
            (reject[0], reject[1], reject[2], &reject[3..19], reject[19]),
            (0xFF, b'S', hs(4), &[9u8; 16][..], 4)
        );
        assert_eq!(reject.len(), 20);
    }

    // A client facing a newer server (a v5 Reject) is told to upgrade itself; facing an older
    // one (v3, v2 or v1), that the server must be upgraded. Either way it stops trying.
    for (version, upgrade_client) in [(5u8, true), (3, false), (2, false), (1, false)] {
        let now = Instant::now();
        let to = addr("10.0.0.1:8081");
        let mut client = Client::new(
            Config::default(),
            [5; 32],
            to,
            now,
            Keypair::from_seed([6; 32]),
            ServerPin::Any,
        );
        let mut buf = [0u8; MAX_DATAGRAM];
        let t = client.poll_transmit(now, &mut buf).expect("a Hello");
        assert_eq!(t.len, 1200);
        let mut answer = vec![0xFF, b'S', (version << 4) | 4];
        answer.extend_from_slice(&buf[3..19]);
        answer.push(4);
        client.handle_datagram(now, to, &answer);
        let event = client.poll_event().expect("an event");
        let Event::HandshakeFailed { error } = event else {
            panic!("{event:?}");
        };
        let text = error.to_string();
        assert_eq!(
            text.contains("upgrade the client"),
            upgrade_client,
            "{text}"
        );
        assert_eq!(
            text.contains("server must be upgraded"),
            !upgrade_client,
            "{text}"
        );
        assert!(client
            .poll_transmit(now + Duration::from_secs(5), &mut buf)
            .is_none());
    }
}

#[test]
fn nothing_a_session_carries_crosses_the_wire_in_clear() {
    let mut sim = Sim::new(11, Config::default(), LinkSpec::PERFECT);
    sim.record = true;
    let me = Keypair::from_seed([0x31; 32]);
    let c = sim.add_client_with(CLIENT, Config::default(), me.clone(), ServerPin::Any);
    sim.run_for(Duration::from_secs(1));
    let session = sim.session_of(c).expect("connected");
    let now = sim.now;
    let (up, down) = (
        b"the client's secret plan".to_vec(),
        b"the server's reply".to_vec(),
    );
    sim.clients[c]
        .client
        .send(now, 3, up.clone(), Delivery::Reliable)
        .expect("queued");
    sim.server
        .send(now, session, 3, down.clone(), Delivery::Unreliable)
        .expect("queued");
    // And a resume from a new port, whose proof travels too.
    sim.clients[c].addr = addr("10.0.0.2:42222");
    sim.run_for(Duration::from_secs(6));
    assert!(sim
        .server_events
        .iter()
        .any(|(_, e)| matches!(e, Event::Migrated { .. })));
    assert_eq!(sim.server.peer_key(session), Some(me.public));
    let secrets: [&[u8]; 4] = [&up, &down, &me.private, &sim.server_identity.private];
    for (_, _, datagram) in &sim.sent {
        for secret in secrets {
            assert!(
                !datagram
                    .windows(secret.len().min(12))
                    .any(|w| secret.starts_with(w)),
                "a secret crossed the wire in clear"
            );
        }
        // The client's static key is sent encrypted too (IK's `s`): not even it is visible.
        assert!(!datagram.windows(32).any(|w| w == me.public));
    }
}
