//! The chat state machine without a network: Hello and the key, queueing while disconnected,
//! rejoining after a reconnect, request fates (answers, errors, failed session messages) and
//! receipts.

use dgram_proto::chat::{ErrorKind, Posted, Room, ServerMsg, Target, UserInfo};
use dgram_proto::Name;

use super::*;
use crate::event::SubmitError;
use crate::note::SendState;

pub(super) fn name(s: &str) -> Name {
    Name::new(s).expect("valid name")
}

pub(super) fn room(s: &str) -> Room {
    Room::new(s).expect("valid room")
}

pub(super) fn server(msg: ServerMsg) -> LinkEvent {
    LinkEvent::Session(SessionEvent::Message(msg))
}

pub(super) fn session(event: SessionEvent) -> LinkEvent {
    LinkEvent::Session(event)
}

pub(super) fn drain(chat: &mut Chat) -> Vec<Action> {
    std::iter::from_fn(|| chat.poll_action()).collect()
}

pub(super) fn notes(actions: &[Action]) -> Vec<Note> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Show(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn sent(actions: &[Action]) -> Vec<ClientMsg> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transmit { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn welcome(key: Option<ClaimKey>) -> LinkEvent {
    server(ServerMsg::Welcome {
        name: name("alex"),
        key,
        online: vec![UserInfo {
            name: name("egon"),
            away: None,
        }],
    })
}

/// A client that is connected and welcomed, its actions drained.
pub(super) fn ready() -> Chat {
    let mut chat = Chat::new(name("alex"), None);
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    chat.handle(welcome(None));
    drain(&mut chat);
    chat
}

#[test]
fn hello_first_then_the_key_is_saved() {
    let mut chat = Chat::new(name("alex"), None);
    let req = chat.send(Target::User(name("egon")), "early".into());
    let early = drain(&mut chat);
    assert!(
        sent(&early).is_empty(),
        "nothing goes out before the session"
    );
    assert!(matches!(
        &notes(&early)[..],
        [Note::Sent {
            state: SendState::Queued,
            ..
        }]
    ));

    chat.handle(session(SessionEvent::Connected { resumed: false }));
    let hello = drain(&mut chat);
    assert_eq!(
        sent(&hello),
        [ClientMsg::Hello {
            name: name("alex"),
            key: None,
            send_only: false
        }]
    );
    chat.handle(welcome(Some([9; 16])));
    let after = drain(&mut chat);
    assert_eq!(after[0], Action::SaveKey([9; 16]));
    assert!(matches!(
        &after[1],
        Action::Show(Note::Welcome {
            claimed: true,
            again: false,
            ..
        })
    ));
    assert!(
        matches!(
            &sent(&after)[..],
            [ClientMsg::Send { req: r, to: Target::User(to), text, .. }]
                if *r == req && *to == name("egon") && text == "early"
        ),
        "{after:?}"
    );
    assert!(chat.is_ready());
    assert_eq!(chat.online().count(), 1);
}

#[test]
fn an_old_claim_key_is_sent_until_the_name_is_welcomed_then_never_again() {
    let mut chat = Chat::new(name("alex"), Some([5; 16]));
    let hello = |key| ClientMsg::Hello {
        name: name("alex"),
        key,
        send_only: false,
    };
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    assert_eq!(sent(&drain(&mut chat)), [hello(Some([5; 16]))]);
    // The server bound the name to this client's key: the old key has done its work.
    chat.handle(welcome(None));
    drain(&mut chat);
    chat.handle(session(SessionEvent::Closed {
        reason: "gone".into(),
    }));
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    assert_eq!(sent(&drain(&mut chat)), [hello(None)]);
}

#[test]
fn a_refused_name_stops_everything() {
    let mut chat = Chat::new(name("alex"), None);
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    drain(&mut chat);
    chat.handle(server(ServerMsg::Error {
        req: None,
        kind: ErrorKind::Claimed,
        message: "the name alex is claimed".into(),
    }));
    let actions = drain(&mut chat);
    assert!(matches!(
        &notes(&actions)[..],
        [Note::Refused {
            kind: ErrorKind::Claimed,
            ..
        }]
    ));
    chat.handle(session(SessionEvent::Closed { reason: "x".into() }));
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    assert!(sent(&drain(&mut chat)).is_empty(), "no second Hello");
    assert!(!chat.is_ready());
}

#[test]
fn a_reconnect_says_hello_rejoins_and_sends_what_waited() {
    let mut chat = ready();
    let join = chat.join(room("lobby"));
    drain(&mut chat);
    chat.handle(server(ServerMsg::Done { req: join }));
    assert!(chat.in_room(&room("lobby")));
    drain(&mut chat);

    chat.handle(session(SessionEvent::Closed {
        reason: "closed by the peer".into(),
    }));
    assert!(!chat.is_ready());
    chat.send(Target::Room(room("lobby")), "while away".into());
    let queued = drain(&mut chat);
    assert!(sent(&queued).is_empty());
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    let hello = sent(&drain(&mut chat));
    assert!(matches!(&hello[..], [ClientMsg::Hello { key: None, .. }]));
    chat.handle(welcome(None));
    let actions = drain(&mut chat);
    let shown = notes(&actions);
    assert!(
        matches!(&shown[0], Note::Welcome { again: true, rejoining, .. } if rejoining == &[room("lobby")]),
        "{shown:?}"
    );
    let out = sent(&actions);
    assert!(matches!(&out[0], ClientMsg::Join { room: r, .. } if *r == room("lobby")));
    assert!(matches!(&out[1], ClientMsg::Send { text, .. } if text == "while away"));
}

#[test]
fn a_resumed_session_needs_nothing() {
    let mut chat = ready();
    chat.handle(session(SessionEvent::Connected { resumed: true }));
    let actions = drain(&mut chat);
    assert!(sent(&actions).is_empty());
    assert!(chat.is_ready());
}

#[test]
fn sends_go_accepted_then_delivered() {
    let mut chat = ready();
    let req = chat.send(Target::User(name("egon")), "hello there".into());
    drain(&mut chat);
    chat.handle(LinkEvent::Submitted {
        req: Some(req),
        outcome: Ok(7),
    });
    chat.handle(server(ServerMsg::Accepted { req, id: 40, ts: 1 }));
    chat.handle(server(ServerMsg::NotDelivered {
        id: 40,
        reason: "egon is offline; queued".into(),
    }));
    chat.handle(server(ServerMsg::Delivered { id: 40 }));
    let states: Vec<SendState> = notes(&drain(&mut chat))
        .into_iter()
        .filter_map(|n| match n {
            Note::State { state, id, msg } => {
                assert_eq!(
                    (id, msg.req, msg.preview.as_str()),
                    (Some(40), req, "hello there")
                );
                Some(state)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            SendState::Accepted,
            SendState::Held("egon is offline; queued".into()),
            SendState::Delivered
        ]
    );
    // A transport failure after the answer is about nothing any more.
    chat.handle(session(SessionEvent::Failed {
        id: 7,
        reason: "timeout".into(),
    }));
    assert!(drain(&mut chat).is_empty());
}

#[test]
fn a_message_that_fails_on_every_session_is_at_last_not_delivered() {
    let mut chat = ready();
    let req = chat.send(Target::User(name("egon")), "lost".into());
    drain(&mut chat);
    // Each failure sends it again on the same (live) session, until the last try.
    for id in 0..u64::from(super::resend::MAX_SENDS) {
        chat.handle(LinkEvent::Submitted {
            req: Some(req),
            outcome: Ok(id),
        });
        chat.handle(session(SessionEvent::Failed {
            id,
            reason: "session ended: timed out".into(),
        }));
    }
    let actions = drain(&mut chat);
    let again = sent(&actions);
    assert_eq!(again.len(), usize::from(super::resend::MAX_SENDS) - 1);
    let shown = notes(&actions);
    assert!(
        matches!(&shown[..], [Note::State { state: SendState::NotDelivered(r), id: None, .. }] if r == "session ended: timed out"),
        "{shown:?}"
    );
    assert_eq!(chat.unanswered_sends(), 0);
}

#[test]
fn not_connected_after_all_means_wait_again() {
    let mut chat = ready();
    let req = chat.who(None);
    drain(&mut chat);
    chat.handle(session(SessionEvent::Closed {
        reason: "gone".into(),
    }));
    chat.handle(LinkEvent::Submitted {
        req: Some(req),
        outcome: Err(SubmitError::NotConnected),
    });
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    chat.handle(welcome(None));
    let out = sent(&drain(&mut chat));
    assert!(
        matches!(&out[..], [ClientMsg::Hello { .. }, ClientMsg::Who { req: r, .. }] if *r == req)
    );
}

#[test]
fn errors_answer_their_requests() {
    let mut chat = ready();
    let send = chat.send(Target::User(name("nobody")), "hi".into());
    let whois = chat.whois(name("nobody"));
    drain(&mut chat);
    for req in [send, whois] {
        chat.handle(server(ServerMsg::Error {
            req: Some(req),
            kind: ErrorKind::UnknownUser,
            message: "no user named nobody".into(),
        }));
    }
    let shown = notes(&drain(&mut chat));
    assert!(matches!(
        &shown[0],
        Note::State {
            state: SendState::Refused {
                kind: ErrorKind::UnknownUser,
                ..
            },
            ..
        }
    ));
    assert!(matches!(&shown[1], Note::Failed { what, .. } if what == "whois nobody"));
}

#[test]
fn incoming_messages_and_presence_track_who_is_online() {
    let mut chat = ready();
    let posted = Posted {
        id: 1,
        ts: 0,
        from: name("黎诗"),
        to: Target::User(name("alex")),
        text: "你好".into(),
    };
    chat.handle(server(ServerMsg::Message(posted.clone())));
    // Redelivered after a reconnect (same id): shown once.
    chat.handle(server(ServerMsg::Message(posted.clone())));
    assert!(chat.online().any(|n| *n == name("黎诗")));
    chat.handle(server(ServerMsg::Presence {
        name: name("黎诗"),
        presence: dgram_proto::chat::Presence::Offline,
    }));
    assert!(!chat.online().any(|n| *n == name("黎诗")));
    let shown = notes(&drain(&mut chat));
    assert_eq!(
        shown[0],
        Note::Message {
            posted,
            replay: false
        }
    );
    assert!(matches!(shown[1], Note::Presence { .. }), "{shown:?}");
    assert_eq!(shown.len(), 2);
}

#[test]
fn receipts_for_our_other_sessions_say_what_they_are_about() {
    let mut chat = ready();
    let posted = Posted {
        id: 57,
        ts: 5,
        from: name("Alex"),
        to: Target::User(name("egon")),
        text: "sent from my phone".into(),
    };
    chat.handle(server(ServerMsg::Message(posted)));
    chat.handle(server(ServerMsg::NotDelivered {
        id: 57,
        reason: "egon is offline; queued until they return".into(),
    }));
    chat.handle(server(ServerMsg::Delivered { id: 57 }));
    chat.handle(server(ServerMsg::Delivered { id: 58 }));
    let shown = notes(&drain(&mut chat));
    let about = Some(crate::note::Elsewhere {
        to: Target::User(name("egon")),
        preview: "sent from my phone".into(),
    });
    assert_eq!(
        &shown[1..],
        [
            Note::Receipt {
                id: 57,
                about: about.clone(),
                state: SendState::Held("egon is offline; queued until they return".into()),
            },
            Note::Receipt {
                id: 57,
                about,
                state: SendState::Delivered,
            },
            Note::Receipt {
                id: 58,
                about: None,
                state: SendState::Delivered,
            },
        ]
    );
}
