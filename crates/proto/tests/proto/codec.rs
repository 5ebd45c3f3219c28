//! The codec's promises: round trips, limits, and no panic or over-allocation on any input.

use dgram_proto::chat::{ClientMsg, Room, ServerMsg, Target, MAX_ROOM_CHARS};
use dgram_proto::{
    Body, Envelope, Error, ErrorCode, Name, CHAT_PREFIX, MAX_DATAGRAM, MAX_NAME_CHARS, MAX_PAYLOAD,
    VERSION,
};
use proptest::prelude::*;

use crate::support::{echo_reply, echo_request, error_reply, name};

fn arb_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{1,32}",
        "[\u{4e00}-\u{9fff}]{1,32}",
        Just("黎诗".to_string()),
    ]
    .prop_map(|s| Name::new(&s).expect("generated names are valid"))
}

fn arb_envelope() -> impl Strategy<Value = Envelope> {
    let text = prop_oneof![".{0,200}", "[ -~]{0,1050}"];
    (arb_name(), 0..4u8, any::<u64>(), text, any::<u16>()).prop_map(|(n, kind, id, text, code)| {
        let sender = n.as_str().to_owned();
        match kind {
            0 => echo_request(&sender, id, &text),
            1 => echo_reply(&sender, id, &text),
            2 => error_reply(&sender, Some(id), ErrorCode(code), &text),
            _ => error_reply(&sender, None, ErrorCode(code), &text),
        }
    })
}

proptest! {
    #[test]
    fn envelopes_round_trip(env in arb_envelope()) {
        let bytes = env.encode().expect("envelopes within limits encode");
        prop_assert!(bytes.len() <= MAX_DATAGRAM);
        prop_assert_eq!(Envelope::decode(&bytes), Ok(env));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1300)) {
        let _ = Envelope::decode(&bytes);
        let mut prefixed = vec![0xFF, b'D', b'G', VERSION];
        prefixed.extend_from_slice(&bytes);
        let _ = Envelope::decode(&prefixed);
    }

    #[test]
    fn mutated_envelopes_never_panic(
        env in arb_envelope(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = env.encode().expect("encodes");
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = Envelope::decode(&bytes);
        let _ = Envelope::decode(&bytes[..cut.index(bytes.len() + 1)]);
    }
}

#[test]
fn the_largest_payload_fits_with_the_longest_name() {
    let longest = "\u{10348}".repeat(MAX_NAME_CHARS); // 4 bytes each
    let text = "x".repeat(MAX_PAYLOAD);
    let env = echo_request(&longest, u64::MAX, &text);
    let bytes = env.encode().expect("the largest envelope encodes");
    assert!(bytes.len() <= MAX_DATAGRAM, "{} bytes", bytes.len());
    let env = error_reply(&longest, Some(u64::MAX), ErrorCode(u16::MAX), &text);
    assert!(env.encode().expect("encodes").len() <= MAX_DATAGRAM);
}

#[test]
fn an_oversized_payload_is_an_error_naming_size_and_limit() {
    let env = echo_request("alex", 1, &"x".repeat(MAX_PAYLOAD + 1));
    let err = env.encode().unwrap_err();
    assert_eq!(
        err,
        Error::PayloadTooLarge {
            size: MAX_PAYLOAD + 1,
            limit: MAX_PAYLOAD
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "payload of {} bytes exceeds the limit of {MAX_PAYLOAD} bytes",
            MAX_PAYLOAD + 1
        )
    );
}

#[test]
fn a_small_buffer_is_an_oversized_error_not_a_truncation() {
    let env = echo_request("alex", 1, "hello");
    let full = env.encode().expect("encodes");
    let mut small = vec![0u8; full.len() - 1];
    assert_eq!(
        env.encode_into(&mut small),
        Err(Error::Oversized {
            size: full.len(),
            limit: full.len() - 1
        })
    );
    assert_eq!(
        env.encode_into(&mut [0u8; 2]),
        Err(Error::Oversized {
            size: full.len(),
            limit: 2
        })
    );
}

/// Encodes `env` and lets `edit` change its bytes.
fn edited(env: Envelope, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = env.encode().expect("encodes");
    edit(&mut bytes);
    bytes
}

#[test]
fn every_decode_error_is_reached() {
    let base = || echo_request("alex", 1, "hi");
    assert_eq!(Envelope::decode(b"hello"), Err(Error::Foreign));
    assert_eq!(Envelope::decode(b""), Err(Error::Foreign));
    assert_eq!(Envelope::decode(&[0xFF, b'D', b'G']), Err(Error::Truncated));
    assert_eq!(
        Envelope::decode(&edited(base(), |b| b[3] = 9)),
        Err(Error::UnsupportedVersion {
            got: 9,
            supported: VERSION
        })
    );
    assert_eq!(
        Envelope::decode(&[0u8; MAX_DATAGRAM + 1]),
        Err(Error::Oversized {
            size: MAX_DATAGRAM + 1,
            limit: MAX_DATAGRAM
        })
    );
    assert_eq!(
        Envelope::decode(&edited(base(), |b| {
            b.pop();
        })),
        Err(Error::Truncated)
    );
    assert_eq!(
        Envelope::decode(&edited(base(), |b| b.push(0))),
        Err(Error::TrailingBytes { extra: 1 })
    );
    assert_eq!(
        Envelope::decode(&edited(base(), |b| b[4] = 9)),
        Err(Error::UnknownKind { tag: 9 })
    );
    // The last two bytes are the text "hi".
    assert_eq!(
        Envelope::decode(&edited(base(), |b| {
            let n = b.len();
            b[n - 1] = 0xC0;
        })),
        Err(Error::InvalidUtf8)
    );
    // 0xFF announces a 16-byte integer, which no id may be.
    assert!(matches!(
        Envelope::decode(&edited(base(), |b| b[5] = 0xFF)),
        Err(Error::Malformed { .. })
    ));
    // Sender "alex" becomes "al x".
    assert_eq!(
        Envelope::decode(&edited(base(), |b| b[9] = b' ')),
        Err(Error::NameCharacter { ch: ' ' })
    );
}

#[test]
fn a_payload_longer_than_the_limit_is_refused_on_decode() {
    // A name that is one byte long leaves room for a text over MAX_PAYLOAD in 1200 bytes.
    let text = "x".repeat(MAX_PAYLOAD + 100);
    let mut bytes = vec![0xFF, b'D', b'G', VERSION, 0, 1, 1, b'a', 0xFB];
    bytes.extend_from_slice(&u16::try_from(text.len()).expect("fits").to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    assert!(bytes.len() <= MAX_DATAGRAM);
    assert_eq!(
        Envelope::decode(&bytes),
        Err(Error::PayloadTooLarge {
            size: MAX_PAYLOAD + 100,
            limit: MAX_PAYLOAD
        })
    );
}

#[test]
fn name_errors_surface_through_decoding() {
    let too_long = "a".repeat(MAX_NAME_CHARS + 1);
    let mut bytes = vec![0xFF, b'D', b'G', VERSION, 0, 1, too_long.len() as u8];
    bytes.extend_from_slice(too_long.as_bytes());
    bytes.push(0);
    assert_eq!(
        Envelope::decode(&bytes),
        Err(Error::NameTooLong {
            chars: MAX_NAME_CHARS + 1,
            limit: MAX_NAME_CHARS
        })
    );
    let empty = [0xFF, b'D', b'G', VERSION, 0, 1, 0, 0];
    assert_eq!(Envelope::decode(&empty), Err(Error::EmptyName));
}

#[test]
fn accessors_describe_the_body() {
    let env = error_reply("echo", None, ErrorCode::MALFORMED, "bad");
    assert_eq!(env.body.request_id(), None);
    assert_eq!(env.body.payload(), "bad");
    assert_eq!(env.version(), VERSION);
    assert!(matches!(env.body, Body::Error(_)));
    assert_eq!(name("Alex"), name("alex"));
}

#[test]
fn chat_messages_round_trip_and_refuse_garbage() {
    let msg = ClientMsg::Send {
        req: 7,
        txn: 0xDEAD_BEEF_0000_0001,
        to: Target::Room(Room::new("#大厅").expect("room")),
        text: "hi".into(),
    };
    assert_eq!(ClientMsg::decode(&msg.encode().expect("encodes")), Ok(msg));
    assert!(ClientMsg::decode(b"C\x02\xff\xff").is_err());
    assert!(ClientMsg::decode(b"no").is_err());
    assert!(Room::new(&"r".repeat(MAX_ROOM_CHARS + 1)).is_err());
}

#[test]
fn a_request_of_the_older_chat_protocol_is_refused_by_version_and_told_to_upgrade() {
    // A version-1 Send, as a client before message ids wrote it: prefix, then the body without
    // a txn. It is turned away by its version byte, not misread as a version-2 request.
    let mut old = vec![b'C', 1];
    old.extend_from_slice(&ClientMsg::Rooms { req: 3 }.encode().expect("encodes")[2..]);
    assert_eq!(
        ClientMsg::decode(&old),
        Err(Error::UnsupportedVersion {
            got: 1,
            supported: CHAT_PREFIX[1]
        })
    );
    // The answer an old client gets is in its own version, and says what to do.
    let notice = ServerMsg::upgrade_notice(1).expect("version 1 can be told");
    assert_eq!(&notice[..2], &[b'C', 1]);
    let mut as_current = notice.clone();
    as_current[1] = CHAT_PREFIX[1];
    match ServerMsg::decode(&as_current) {
        Ok(ServerMsg::Error {
            req: None, message, ..
        }) => {
            assert!(message.contains("upgrade"), "{message}");
        }
        other => panic!("not an error: {other:?}"),
    }
    assert_eq!(ServerMsg::upgrade_notice(CHAT_PREFIX[1] + 1), None);
    assert_eq!(ServerMsg::upgrade_notice(0), None);
}
