//! The echo client over a simulated clock and a lossy simulated link: retries, give-ups, and
//! replies matched by id however late they come.

use std::time::{Duration, Instant};

use dgram_proto::echo::{ClientConfig, EchoClient, EchoServer, Event};
use dgram_proto::{Error, MAX_DATAGRAM, MAX_PAYLOAD};

use crate::support::name;

const TIMEOUT: Duration = Duration::from_secs(1);

fn client() -> EchoClient {
    EchoClient::new(
        name("alex"),
        ClientConfig {
            timeout: TIMEOUT,
            retries: 2,
        },
        100,
    )
}

fn serve(datagram: &[u8]) -> Vec<u8> {
    let server = EchoServer::new(name("echo"), "127.0.0.1:8080".parse().expect("addr"));
    let mut out = vec![0u8; MAX_DATAGRAM];
    match server.answer("127.0.0.1:50000".parse().expect("addr"), datagram, &mut out) {
        dgram_proto::echo::Answer::Reply { len, .. } => out[..len].to_vec(),
        other => panic!("server did not answer: {other:?}"),
    }
}

#[test]
fn a_lost_request_is_retried_and_answered() {
    let t0 = Instant::now();
    let mut c = client();
    let id = c.request(t0, "hello").expect("fits");
    let first = c.poll_transmit().expect("first try");
    drop(first); // lost on the link
    assert_eq!(c.poll_timeout(), Some(t0 + TIMEOUT));
    c.handle_timeout(t0 + TIMEOUT);
    let second = c.poll_transmit().expect("second try");
    let t1 = t0 + TIMEOUT + Duration::from_millis(3);
    c.handle_datagram(t1, &serve(&second));
    assert_eq!(
        c.poll_event(),
        Some(Event::Reply {
            request_id: id,
            text: "HELLO".into(),
            rtt: t1 - t0,
            tries: 2
        })
    );
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn gives_up_after_every_try_and_a_late_reply_is_not_an_answer() {
    let t0 = Instant::now();
    let mut c = client();
    let first = c.request(t0, "one").expect("fits");
    let sent = c.poll_transmit().expect("sent");
    let mut now = t0;
    for _ in 0..3 {
        now += TIMEOUT;
        c.handle_timeout(now);
    }
    let resent: Vec<_> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(resent.len(), 2, "two retries");
    assert_eq!(
        c.poll_event(),
        Some(Event::GaveUp {
            request_id: first,
            tries: 3
        })
    );
    let second = c.request(now, "two").expect("fits");
    assert_ne!(first, second);
    // The reply to "one" arrives now; it must not answer "two".
    c.handle_datagram(now, &serve(&sent));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stray(), 1);
    let two = c.poll_transmit().expect("sent");
    c.handle_datagram(now, &serve(&two));
    assert!(
        matches!(c.poll_event(), Some(Event::Reply { request_id, text, .. })
        if request_id == second && text == "TWO")
    );
}

#[test]
fn duplicated_replies_answer_once() {
    let t0 = Instant::now();
    let mut c = client();
    c.request(t0, "dup").expect("fits");
    let reply = serve(&c.poll_transmit().expect("sent"));
    c.handle_datagram(t0, &reply);
    c.handle_datagram(t0, &reply);
    assert!(matches!(c.poll_event(), Some(Event::Reply { .. })));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stray(), 1);
}

#[test]
fn oversized_text_is_refused_before_sending() {
    let mut c = client();
    let err = c
        .request(Instant::now(), &"x".repeat(MAX_PAYLOAD + 1))
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }));
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.in_flight(), 0);
}

/// A seeded xorshift, so the lossy link is the same every run.
struct Rng(u64);

impl Rng {
    fn chance(&mut self, percent: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100 < percent
    }
}

#[test]
fn over_a_lossy_link_every_request_is_answered_or_given_up_exactly_once() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut c = client();
        let mut now = Instant::now();
        let mut ids = Vec::new();
        for i in 0..50 {
            ids.push(c.request(now, &format!("msg {i}")).expect("fits"));
        }
        let mut outcomes = std::collections::HashMap::new();
        for _ in 0..10 {
            while let Some(d) = c.poll_transmit() {
                // 30 % of requests and 30 % of replies are lost; 10 % of replies come twice.
                if rng.chance(30) {
                    continue;
                }
                let reply = serve(&d);
                if !rng.chance(30) {
                    c.handle_datagram(now, &reply);
                    if rng.chance(10) {
                        c.handle_datagram(now, &reply);
                    }
                }
            }
            while let Some(e) = c.poll_event() {
                let id = match e {
                    Event::Reply {
                        request_id,
                        ref text,
                        ..
                    } => {
                        assert!(text.starts_with("MSG "));
                        request_id
                    }
                    Event::GaveUp { request_id, .. } => request_id,
                    Event::Refused { .. } => panic!("unexpected refusal"),
                };
                assert!(outcomes.insert(id, e).is_none(), "seed {seed}: {id} twice");
            }
            now += TIMEOUT;
            c.handle_timeout(now);
        }
        assert_eq!(outcomes.len(), ids.len(), "seed {seed}: every request ends");
        assert_eq!(c.in_flight(), 0);
    }
}
