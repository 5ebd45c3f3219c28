//! The rate-limit layer on its own, against tower-test's mock service.

use std::time::{Duration, Instant};

use dgram_net::rate_limit_layer::{Keyed, RateLimitLayer, RateLimited};
use dgram_proto::token_bucket::Rate;
use tokio_test::{assert_pending, assert_ready_ok};
use tower_test::mock;

#[derive(Debug, Clone, PartialEq)]
struct Req {
    from: u8,
    at: Instant,
}

impl Keyed for Req {
    type Key = u8;

    fn key(&self) -> Option<u8> {
        Some(self.from)
    }

    fn now(&self) -> Instant {
        self.at
    }
}

const RATE: Rate = Rate {
    per_second: 10.0,
    burst: 2,
};

#[tokio::test]
async fn over_the_limit_fails_fast_without_reaching_the_inner_service() {
    let (mut service, mut handle) =
        mock::spawn_layer::<Req, &'static str, _>(RateLimitLayer::<u8>::new(RATE, 100));
    let t0 = Instant::now();
    for _ in 0..2 {
        assert_ready_ok!(service.poll_ready());
        let response = service.call(Req { from: 1, at: t0 });
        let (req, send) = handle.next_request().await.expect("passed through");
        assert_eq!(req.from, 1);
        send.send_response("ok");
        assert_eq!(response.await.expect("answered"), "ok");
    }
    assert_ready_ok!(service.poll_ready());
    let err = service
        .call(Req { from: 1, at: t0 })
        .await
        .expect_err("third in a burst of two is limited");
    assert!(err.is::<RateLimited>(), "{err}");
    assert_pending!(handle.poll_request());
}

#[tokio::test]
async fn other_keys_and_refilled_buckets_pass() {
    let (mut service, mut handle) =
        mock::spawn_layer::<Req, &'static str, _>(RateLimitLayer::<u8>::new(RATE, 100));
    let t0 = Instant::now();
    let mut pass = |req: Req| {
        assert_ready_ok!(service.poll_ready());
        service.call(req)
    };
    for _ in 0..2 {
        drop(pass(Req { from: 1, at: t0 }));
    }
    assert!(pass(Req { from: 1, at: t0 }).await.is_err());
    let other = pass(Req { from: 2, at: t0 });
    let later = pass(Req {
        from: 1,
        at: t0 + Duration::from_millis(100),
    });
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (req, send) = handle.next_request().await.expect("passed");
        seen.push(req.from);
        send.send_response("ok");
    }
    assert_eq!(seen, vec![1, 1, 2, 1]);
    assert_eq!(other.await.expect("other key passes"), "ok");
    assert_eq!(later.await.expect("refilled bucket passes"), "ok");
}

#[tokio::test]
async fn readiness_comes_from_the_inner_service() {
    let (mut service, mut handle) =
        mock::spawn_layer::<Req, &'static str, _>(RateLimitLayer::<u8>::new(RATE, 100));
    handle.allow(0);
    assert_pending!(service.poll_ready());
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
}
