//! The request path against tower-test's mock as the limits: a limit that is not ready holds
//! client requests back (in order, answered later, or turned away with an error past the cap),
//! while the store's reports reach the core regardless, so that held outputs are released and
//! nothing stays held.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use dgram_proto::chat::{ClientMsg, ErrorKind, ServerMsg};
use dgram_proto::Name;
use tower_test::mock;

use super::{AnyChat, Requests};
use crate::admit::{ClientRequest, Knock, MAX_WAITING};
use crate::core::{ChangeStore, Chat, ChatConfig, Op, Output, Submitted, Ticket};

/// A store that commits only when the test says so.
#[derive(Debug, Default)]
struct Held(VecDeque<Ticket>);

impl ChangeStore for Held {
    fn keeps(&self) -> bool {
        true
    }
    fn submit(&mut self, ticket: Ticket, _ops: Vec<Op>) -> Submitted {
        self.0.push_back(ticket);
        Submitted::Pending
    }
    fn backlog(&self) -> usize {
        self.0.len()
    }
}

fn chat() -> AnyChat {
    let store: Box<dyn ChangeStore + Send> = Box::new(Held::default());
    Chat::new(ChatConfig::default(), store)
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40001))
}

fn client(knock: Knock) -> ClientRequest {
    ClientRequest {
        session: 1,
        peer: peer(),
        now: Instant::now(),
        name: None,
        key: Some([1; 32]),
        knock,
    }
}

fn hello() -> Knock {
    Knock::Request(ClientMsg::Hello {
        name: Name::new("alex").expect("a valid name"),
        key: None,
        send_only: false,
    })
}

type Mocked = Requests<mock::Mock<ClientRequest, ClientRequest>>;

/// Lets the next request through the mock limits, as they received it.
async fn pass(handle: &mut mock::Handle<ClientRequest, ClientRequest>) -> ClientRequest {
    let (req, send) = handle
        .next_request()
        .await
        .expect("a request reached the limits");
    send.send_response(req.clone());
    req
}

fn welcomed(out: &[Output]) -> bool {
    matches!(out, [o] if o.session == 1 && matches!(*o.msg, ServerMsg::Welcome { key: None, .. }))
}

#[tokio::test]
async fn a_limit_that_is_not_ready_neither_loses_nor_leaks_a_commit() {
    let (limits, mut handle) = mock::pair::<ClientRequest, ClientRequest>();
    let mut path: Mocked = Requests::new(limits, chat());
    let mut out = Vec::new();

    // The opening and the hello pass the limits, each answered after its call returned.
    path.client(client(Knock::Open), &mut out);
    assert_eq!(pass(&mut handle).await.knock, Knock::Open);
    path.client(client(hello()), &mut out);
    assert_eq!(pass(&mut handle).await.knock, hello());
    path.drive(&mut out);
    assert!(
        out.is_empty(),
        "the claim's welcome waits for its commit: {out:?}"
    );
    assert_eq!(path.chat.held(), 1);
    assert_eq!(path.waiting(), 0);

    // The limits stop being ready: the next request waits for them ...
    handle.allow(0);
    let rooms = ClientMsg::Rooms { req: 7 };
    path.request(1, peer(), Instant::now(), rooms.clone(), &mut out);
    path.drive(&mut out);
    assert!(out.is_empty());
    assert_eq!(path.waiting(), 1, "held back, not dropped");

    // ... but the commit does not: the welcome is released and nothing stays held.
    let released = path.chat.committed(0);
    assert!(welcomed(&released), "{released:?}");
    assert_eq!(path.chat.held(), 0, "no held output is left behind");

    // Ready again: the request that waited is answered.
    handle.allow(1);
    path.drive(&mut out);
    assert_eq!(pass(&mut handle).await.knock, Knock::Request(rooms));
    path.drive(&mut out);
    assert!(
        matches!(&out[..], [o] if matches!(*o.msg, ServerMsg::Rooms { req: 7, .. })),
        "{out:?}"
    );
    assert_eq!(path.waiting(), 0);
    assert_eq!(path.counters.overloaded, 0);
}

#[tokio::test]
async fn past_the_cap_a_limit_that_is_not_ready_turns_requests_away_with_an_error() {
    let (limits, mut handle) = mock::pair::<ClientRequest, ClientRequest>();
    handle.allow(0);
    let mut path: Mocked = Requests::new(limits, chat());
    let mut out = Vec::new();
    for req in 0..=MAX_WAITING as u64 {
        path.client(client(Knock::Request(ClientMsg::Rooms { req })), &mut out);
    }
    assert_eq!(path.waiting(), MAX_WAITING);
    assert_eq!(path.counters.overloaded, 1);
    let last = MAX_WAITING as u64;
    assert!(
        matches!(&out[..], [o] if matches!(*o.msg, ServerMsg::Error { req: Some(r), kind: ErrorKind::Unavailable, .. } if r == last)),
        "{out:?}"
    );
    // A close is never turned away: the session cap must hear of it.
    path.client(client(Knock::Close), &mut out);
    assert_eq!(path.waiting(), MAX_WAITING + 1);
}
