//! The session-cap layer on its own, against tower-test's mock service.

use std::net::IpAddr;

use chat_server::session_cap::{SessionCapExceeded, SessionCapLayer, SessionKeyed};
use tokio_test::assert_ready_ok;
use tower_test::mock;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Open,
    Say,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Req {
    session: u32,
    ip: [u8; 4],
    kind: Kind,
}

impl SessionKeyed for Req {
    fn session(&self) -> u32 {
        self.session
    }
    fn ip(&self) -> IpAddr {
        IpAddr::from(self.ip)
    }
    fn opens(&self) -> bool {
        self.kind == Kind::Open
    }
    fn closes(&self) -> bool {
        self.kind == Kind::Close
    }
}

fn req(session: u32, ip: u8, kind: Kind) -> Req {
    Req {
        session,
        ip: [10, 0, 0, ip],
        kind,
    }
}

#[tokio::test]
async fn openings_over_the_cap_are_refused_until_one_closes() {
    let (mut service, mut handle) = mock::spawn_layer::<Req, (), _>(SessionCapLayer::new(2));
    handle.allow(100);
    let mut call = |r: Req| {
        assert_ready_ok!(service.poll_ready());
        service.call(r)
    };
    let first = call(req(1, 1, Kind::Open));
    let second = call(req(2, 1, Kind::Open));
    let refused = call(req(3, 1, Kind::Open))
        .await
        .expect_err("third from 10.0.0.1");
    let err = refused
        .downcast::<SessionCapExceeded>()
        .expect("the cap's own error");
    assert_eq!(err.limit, 2);
    let elsewhere = call(req(4, 2, Kind::Open));
    let talk = call(req(1, 1, Kind::Say));
    let closed = call(req(1, 1, Kind::Close));
    let again = call(req(5, 1, Kind::Open));
    let mut passed = Vec::new();
    for _ in 0..6 {
        let (r, send) = handle.next_request().await.expect("passed through");
        passed.push(r.session);
        send.send_response(());
    }
    assert_eq!(
        passed,
        vec![1, 2, 4, 1, 1, 5],
        "session 3 never reached the service"
    );
    for f in [first, second, elsewhere, talk, closed, again] {
        f.await.expect("answered");
    }
}
