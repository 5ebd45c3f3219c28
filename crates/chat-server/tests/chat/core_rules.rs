//! ChatCore without sockets: the time-driven rules (expiry, lapsing claims) and the caps, with
//! the clock in the test's hands.

use chat_server::core::ChatConfig;
use dgram_proto::chat::{ClientMsg, ErrorKind, Room, ServerMsg, Target};

use crate::core_support::{addr, device, drain, hello, name, ChatCore};

const DAY: u64 = 24 * 60 * 60 * 1000;

#[test]
fn unused_claims_lapse_and_old_messages_expire() {
    let mut core = ChatCore::new(ChatConfig::default());
    let t0 = 1_700_000_000_000;
    let ServerMsg::Welcome { .. } = hello(&mut core, 1, "alex", None, t0) else {
        panic!("claimed");
    };
    let key = device(1);
    // A second session shows the key: the claim is established, and lives 90 days unused.
    hello(&mut core, 9, "alex", Some(key), t0);
    core.close(9, t0);
    let room = Room::new("lobby").expect("room");
    core.handle(
        1,
        t0,
        ClientMsg::Join {
            req: 1,
            room: room.clone(),
        },
    );
    core.handle(
        1,
        t0,
        ClientMsg::Send {
            req: 2,
            txn: crate::support::txn(),
            to: Target::Room(room.clone()),
            text: "old".into(),
        },
    );
    core.close(1, t0);
    drain(&mut core);

    // Eight days on, the room's history is gone.
    core.expire(t0 + 8 * DAY);
    assert_eq!(core.stats().expired, 1);
    // Within 90 days the name is still claimed ...
    let refused = hello(&mut core, 2, "alex", None, t0 + 89 * DAY);
    assert!(matches!(
        refused,
        ServerMsg::Error {
            kind: ErrorKind::Claimed,
            ..
        }
    ));
    // ... after that it lapses and can be claimed again.
    let again = hello(&mut core, 3, "alex", None, t0 + 91 * DAY);
    assert!(matches!(again, ServerMsg::Welcome { .. }));
    assert_eq!(core.stats().claims_lapsed, 1);
}

#[test]
fn a_full_queue_refuses_new_dms_and_history_caps_drop_the_oldest() {
    let config = ChatConfig {
        room_history: 3,
        queue: 2,
        ..ChatConfig::default()
    };
    let mut core = ChatCore::new(config);
    let now = 1_700_000_000_000;
    hello(&mut core, 1, "alex", None, now);
    let ServerMsg::Welcome { .. } = hello(&mut core, 2, "egon", None, now) else {
        panic!("claimed");
    };
    let egon_key = device(2);
    core.close(2, now);
    for i in 0..5 {
        let text = format!("dm {i}");
        core.handle(
            1,
            now,
            ClientMsg::Send {
                req: i,
                txn: crate::support::txn(),
                to: Target::User(name("egon")),
                text,
            },
        );
    }
    // Two wait for egon; the three after them are refused, each with an error to its sender.
    assert_eq!(core.stats().queue_full, 3);
    let refused: Vec<_> = drain(&mut core)
        .into_iter()
        .filter_map(|(_, m)| match m {
            ServerMsg::Error {
                kind: ErrorKind::Limit,
                req,
                message,
            } => Some((req, message)),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused
        .iter()
        .all(|(_, m)| m.starts_with("egon's inbox is full; not sent")));
    assert_eq!(
        refused.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [Some(2), Some(3), Some(4)]
    );
    hello(&mut core, 4, "egon", Some(egon_key), now);
    core.open(5, addr(1));
    let room = Room::new("r").expect("room");
    core.handle(
        1,
        now,
        ClientMsg::Join {
            req: 9,
            room: room.clone(),
        },
    );
    for i in 0..5 {
        let text = format!("room {i}");
        core.handle(
            1,
            now,
            ClientMsg::Send {
                req: 10 + i,
                txn: crate::support::txn(),
                to: Target::Room(room.clone()),
                text,
            },
        );
    }
    assert_eq!(core.stats().history_dropped, 2);
    core.handle(4, now, ClientMsg::Join { req: 20, room });
    let replay = drain(&mut core)
        .into_iter()
        .find_map(|(s, m)| match m {
            ServerMsg::History { messages, .. } if s == 4 => Some(messages),
            _ => None,
        })
        .expect("replay");
    let texts: Vec<_> = replay.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["room 2", "room 3", "room 4"]);
}

#[test]
fn a_dm_that_cannot_reach_its_recipients_session_waits_in_their_queue() {
    let mut core = ChatCore::new(ChatConfig::default());
    let now = 1_700_000_000_000;
    hello(&mut core, 1, "alex", None, now);
    let ServerMsg::Welcome { .. } = hello(&mut core, 2, "bob", None, now) else {
        panic!("claimed");
    };
    let bob_key = device(2);
    drain(&mut core);
    core.handle(
        1,
        now,
        ClientMsg::Send {
            req: 1,
            txn: crate::support::txn(),
            to: Target::User(name("bob")),
            text: "are you there".into(),
        },
    );
    let out: Vec<_> = std::iter::from_fn(|| core.poll_output()).collect();
    let to_bob = out
        .iter()
        .find(|o| o.session == 2 && matches!(*o.msg, ServerMsg::Message(_)))
        .expect("a delivery to bob's session");
    let chat = to_bob.receipt.expect("waits for a receipt");
    // Bob's session went away before the message could be handed to it.
    core.unsendable(chat, "not connected");
    let told = drain(&mut core);
    assert!(
        told.iter().any(|(s, m)| *s == 1
            && matches!(m, ServerMsg::NotDelivered { reason, .. } if reason.contains("queued"))),
        "{told:?}"
    );
    core.close(2, now);
    drain(&mut core);
    core.open_as(3, addr(3), bob_key);
    core.handle(
        3,
        now,
        ClientMsg::Hello {
            name: name("bob"),
            key: None,
            send_only: false,
        },
    );
    let back = drain(&mut core);
    assert!(
        back.iter().any(
            |(s, m)| *s == 3 && matches!(m, ServerMsg::Message(p) if p.text == "are you there")
        ),
        "{back:?}"
    );
}

#[test]
fn a_room_left_empty_and_silent_is_forgotten_but_one_with_history_stays() {
    let mut core = ChatCore::new(ChatConfig::default());
    let now = 1_700_000_000_000;
    hello(&mut core, 1, "alex", None, now);
    let rooms = |core: &mut ChatCore| {
        core.handle(1, now, ClientMsg::Rooms { req: 9 });
        drain(core)
            .into_iter()
            .find_map(|(_, m)| match m {
                ServerMsg::Rooms { rooms, .. } => Some(
                    rooms
                        .into_iter()
                        .map(|r| r.room.to_string())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .expect("rooms")
    };
    for (room, say) in [("churn", false), ("kept", true)] {
        let room = Room::new(room).expect("room");
        core.handle(
            1,
            now,
            ClientMsg::Join {
                req: 1,
                room: room.clone(),
            },
        );
        if say {
            let to = Target::Room(room.clone());
            core.handle(
                1,
                now,
                ClientMsg::Send {
                    req: 2,
                    txn: crate::support::txn(),
                    to,
                    text: "hi".into(),
                },
            );
        }
        core.handle(1, now, ClientMsg::Part { req: 3, room });
    }
    assert_eq!(rooms(&mut core), ["kept"]);
}
