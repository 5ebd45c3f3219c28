//! Checked-in bytes for every message kind: a change to the wire format fails here, so it has to
//! be a deliberate act (rerun with `DGRAM_BLESS=1` and commit the new files).

use std::path::PathBuf;

use dgram_proto::chat::{ClientMsg, Room, Target};
use dgram_proto::{Envelope, ErrorCode, Name};

use crate::support::{echo_reply, echo_request, error_reply};

fn cases() -> Vec<(&'static str, Envelope)> {
    vec![
        ("echo_request", echo_request("黎诗", 300, "hello, 瞎驴")),
        ("echo_reply", echo_reply("黎诗", 300, "HELLO, 瞎驴")),
        (
            "error",
            error_reply("echo", Some(7), ErrorCode::RATE_LIMITED, "slow down"),
        ),
        (
            "error_without_request",
            error_reply("echo", None, ErrorCode::MALFORMED, "bad"),
        ),
    ]
}

fn path(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{case}.hex"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("golden files hold hex"))
        .collect()
}

#[test]
fn every_kind_matches_its_golden_bytes() {
    let bless = std::env::var_os("DGRAM_BLESS").is_some();
    for (case, env) in cases() {
        let bytes = env.encode().expect("golden envelopes encode");
        if bless {
            std::fs::write(path(case), hex(&bytes) + "\n").expect("write golden file");
        }
        let golden = std::fs::read_to_string(path(case))
            .unwrap_or_else(|e| panic!("{case}: {e} (run with DGRAM_BLESS=1 once)"));
        assert_eq!(hex(&bytes), golden.trim(), "{case}: encoding changed");
        assert_eq!(
            Envelope::decode(&unhex(&golden)),
            Ok(env),
            "{case}: decoding changed"
        );
    }
}

#[test]
fn golden_request_is_laid_out_as_documented() {
    let bytes = echo_request("alex", 1, "hi").encode().expect("encodes");
    // magic, version, kind tag 0, id 1, sender "alex", text "hi"
    assert_eq!(
        bytes,
        [&[0xFF, b'D', b'G', 1, 0, 1, 4][..], b"alex", &[2], b"hi"].concat()
    );
}

/// Chat messages whose layout a release changed on purpose (version 2: `Send` carries `txn`).
fn chat_cases() -> Vec<(&'static str, ClientMsg)> {
    vec![
        (
            "chat_send_dm",
            ClientMsg::Send {
                req: 300,
                txn: 0x0123_4567_89AB_CDEF,
                to: Target::User(Name::new("黎诗").expect("valid name")),
                text: "hello, 瞎驴".into(),
            },
        ),
        (
            "chat_send_room",
            ClientMsg::Send {
                req: 1,
                txn: 1,
                to: Target::Room(Room::new("rust").expect("valid room")),
                text: "hi".into(),
            },
        ),
    ]
}

#[test]
fn chat_sends_match_their_golden_bytes() {
    let bless = std::env::var_os("DGRAM_BLESS").is_some();
    for (case, msg) in chat_cases() {
        let bytes = msg.encode().expect("golden messages encode");
        if bless {
            std::fs::write(path(case), hex(&bytes) + "\n").expect("write golden file");
        }
        let golden = std::fs::read_to_string(path(case))
            .unwrap_or_else(|e| panic!("{case}: {e} (run with DGRAM_BLESS=1 once)"));
        assert_eq!(hex(&bytes), golden.trim(), "{case}: encoding changed");
        assert_eq!(
            ClientMsg::decode(&unhex(&golden)),
            Ok(msg),
            "{case}: decoding changed"
        );
    }
}
