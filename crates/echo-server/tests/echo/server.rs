//! The server loop over real loopback sockets.

use std::time::Duration;

use dgram_proto::token_bucket::Rate;
use dgram_proto::{Body, Envelope, ErrorCode};
use echo_server::Settings;

use crate::support::{echo_request, start, Client, BIG};

fn unlimited() -> Settings {
    Settings {
        rate: None,
        plain_rate: None,
        ..Settings::default()
    }
}

#[tokio::test]
async fn answers_plain_and_envelope_datagrams() {
    let server = start(unlimited()).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let c = Client::new(addr);
        assert_eq!(c.ask(b"hello egon").as_deref(), Some(&b"HELLO EGON"[..]));
        let reply = c.ask(&echo_request(77, "hi 瞎驴")).expect("echo reply");
        let env = Envelope::decode(&reply).expect("decodes");
        assert_eq!(env.body.kind(), dgram_proto::Kind::EchoReply);
        assert_eq!(env.body.request_id(), Some(77));
        assert_eq!(env.body.payload(), "HI 瞎驴");
        // Boundaries hold: three sends, three separate replies, in order.
        for m in [&b"a"[..], b"bb", b"ccc"] {
            c.send(m);
        }
        let replies: Vec<_> = (0..3).filter_map(|_| c.recv()).collect();
        assert_eq!(
            replies,
            vec![b"A".to_vec(), b"BB".to_vec(), b"CCC".to_vec()]
        );
    })
    .await
    .expect("client");
    let totals = server.stop().await;
    assert_eq!(totals.plain, 4);
    assert_eq!(totals.echoed, 1);
}

#[tokio::test]
async fn bad_input_is_refused_and_the_server_stays_up() {
    let server = start(unlimited()).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let c = Client::new(addr);
        assert_eq!(c.ask(&vec![b'a'; BIG]), None, "oversized: no reply");
        let mut bad = echo_request(5, &"x".repeat(40));
        let n = bad.len();
        bad[n - 1] = 0xFF;
        let reply = c.ask(&bad).expect("an error reply");
        let Body::Error(err) = Envelope::decode(&reply).expect("decodes").body else {
            panic!("expected an error reply");
        };
        assert_eq!(err.code, ErrorCode::MALFORMED);
        let reply_kind = Envelope::decode(&reply).expect("decodes");
        assert_eq!(
            c.ask(&reply),
            None,
            "errors are never answered: {reply_kind:?}"
        );
        assert_eq!(c.ask(b"still here").as_deref(), Some(&b"STILL HERE"[..]));
    })
    .await
    .expect("client");
    let totals = server.stop().await;
    assert_eq!(totals.oversized, 1);
    assert_eq!(totals.errors_sent, 1);
    assert_eq!(totals.not_request, 1);
}

#[tokio::test]
async fn a_flood_from_one_address_slows_only_that_address() {
    let server = start(Settings {
        rate: Some(Rate {
            per_second: 20.0,
            burst: 10,
        }),
        ..Settings::default()
    })
    .await;
    let addr = server.addr;
    let (flood_answers, quiet_answers) = tokio::task::spawn_blocking(move || {
        // Different source IPs on loopback: 127.0.0.2 floods, 127.0.0.3 stays polite.
        let flood = std::net::UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        flood
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        for i in 0..200u32 {
            flood
                .send_to(format!("flood {i}").as_bytes(), addr)
                .expect("send");
        }
        let mut buf = [0u8; 64];
        let mut flood_answers = 0;
        while flood.recv_from(&mut buf).is_ok() {
            flood_answers += 1;
        }
        let quiet = std::net::UdpSocket::bind("127.0.0.3:0").expect("bind 127.0.0.3");
        quiet
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut quiet_answers = 0;
        for _ in 0..5 {
            quiet.send_to(b"polite", addr).expect("send");
            if quiet.recv_from(&mut buf).is_ok() {
                quiet_answers += 1;
            }
        }
        (flood_answers, quiet_answers)
    })
    .await
    .expect("clients");
    let totals = server.stop().await;
    assert!(
        (10..=40).contains(&flood_answers),
        "the flood got its burst and some refill (20/s while it lasted), not 200: {flood_answers}"
    );
    assert_eq!(quiet_answers, 5, "the quiet address is not slowed");
    assert_eq!(totals.rate_limited, 200 - flood_answers);
}

#[tokio::test]
async fn shutdown_is_prompt_even_when_idle() {
    let server = start(Settings::default()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let totals = server.stop().await;
    assert_eq!(totals.received, 0);
}
