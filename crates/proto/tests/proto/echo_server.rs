//! The echo server's rules: what it answers, and what it refuses to answer.

use std::net::SocketAddr;

use dgram_proto::echo::{Answer, Drop, EchoServer, ReplyKind};
use dgram_proto::{Body, Envelope, ErrorCode, Kind, MAX_DATAGRAM};

use crate::support::{echo_reply, echo_request, error_reply, name};

fn server() -> EchoServer {
    EchoServer::new(name("echo"), "127.0.0.1:8080".parse().expect("addr"))
}

const CLIENT: &str = "127.0.0.1:40000";

fn answer(from: &str, datagram: &[u8]) -> (Answer, Vec<u8>) {
    let peer: SocketAddr = from.parse().expect("addr");
    let mut out = vec![0u8; MAX_DATAGRAM];
    let answer = server().answer(peer, datagram, &mut out);
    if let Answer::Reply { len, .. } = answer {
        out.truncate(len);
    }
    (answer, out)
}

#[test]
fn plain_datagrams_get_the_origins_answer() {
    let (a, out) = answer(CLIENT, "hello, 黎诗! abc-XYZ".as_bytes());
    assert!(matches!(
        a,
        Answer::Reply {
            kind: ReplyKind::Plain,
            ..
        }
    ));
    assert_eq!(out, "HELLO, 黎诗! ABC-XYZ".as_bytes());
    let (_, out) = answer(CLIENT, &[0xC0, b'a', 0x00, 0xFE]);
    assert_eq!(
        out,
        [0xC0, b'A', 0x00, 0xFE],
        "non-UTF-8 bytes are left alone"
    );
}

#[test]
fn echo_requests_get_replies_with_the_same_id_and_length() {
    let req = echo_request("alex", 42, "hi 瞎驴, bye")
        .encode()
        .expect("encodes");
    let (a, out) = answer(CLIENT, &req);
    assert_eq!(
        a,
        Answer::Reply {
            len: req.len(),
            kind: ReplyKind::Echo
        }
    );
    assert_eq!(
        Envelope::decode(&out),
        Ok(echo_reply("alex", 42, "HI 瞎驴, BYE"))
    );
}

#[test]
fn loops_are_never_started() {
    let req = echo_request("alex", 1, "x").encode().expect("encodes");
    assert_eq!(
        answer("127.0.0.1:8080", &req).0,
        Answer::Drop(Drop::OwnPort)
    );
    assert_eq!(answer("10.1.2.3:8080", b"x").0, Answer::Drop(Drop::OwnPort));
    assert_eq!(
        answer("127.0.0.1:7", b"x").0,
        Answer::Drop(Drop::ReservedPort)
    );
    assert_eq!(
        answer("127.0.0.1:0", b"x").0,
        Answer::Drop(Drop::ReservedPort)
    );
    assert_eq!(
        answer("127.0.0.1:1024", b"x").0.clone(),
        answer(CLIENT, b"x").0
    );
    let reply = echo_reply("alex", 1, "X").encode().expect("encodes");
    assert_eq!(
        answer(CLIENT, &reply).0,
        Answer::Drop(Drop::NotARequest(Kind::EchoReply))
    );
    let err = error_reply("echo", None, ErrorCode::MALFORMED, "bad")
        .encode()
        .expect("encodes");
    assert_eq!(
        answer(CLIENT, &err).0,
        Answer::Drop(Drop::NotARequest(Kind::Error))
    );
}

#[test]
fn oversized_datagrams_are_dropped_not_truncated() {
    let big = vec![b'a'; MAX_DATAGRAM + 1];
    assert_eq!(
        answer(CLIENT, &big).0,
        Answer::Drop(Drop::Oversized(MAX_DATAGRAM + 1))
    );
}

#[test]
fn malformed_envelopes_get_an_error_no_larger_than_themselves() {
    let mut req = echo_request("alex", 1, &"y".repeat(100))
        .encode()
        .expect("encodes");
    let n = req.len();
    req[n - 1] = 0xFF; // invalid UTF-8 in the text
    let (a, out) = answer(CLIENT, &req);
    assert!(matches!(a, Answer::Reply { kind: ReplyKind::Error, len } if len <= req.len()));
    let env = Envelope::decode(&out).expect("the error reply decodes");
    let Body::Error(e) = env.body else {
        panic!("expected an error, got {env:?}")
    };
    assert_eq!(e.code, ErrorCode::MALFORMED);
    assert_eq!(e.message, "text is not valid UTF-8");

    let mut future = req.clone();
    future[3] = 2;
    let (_, out) = answer(CLIENT, &future);
    let Body::Error(e) = Envelope::decode(&out).expect("decodes").body else {
        panic!("expected an error")
    };
    assert_eq!(e.code, ErrorCode::UNSUPPORTED_VERSION);

    // Too short to carry an error reply without amplifying: dropped.
    let tiny = [0xFF, b'D', b'G', 1, 0];
    assert!(matches!(
        answer(CLIENT, &tiny).0,
        Answer::Drop(Drop::Malformed(_))
    ));
}
