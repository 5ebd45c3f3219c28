//! Messages lost with their session: sent again with the same ids, in order, shown once; a
//! message refused outright, or failing on every try, is reported not delivered.

use dgram_proto::chat::{ServerMsg, Target};

use super::tests::{drain, name, notes, ready, sent, server, session, welcome};
use super::*;
use crate::event::SubmitError;
use crate::note::SendState;

/// The txn of each Send among `actions`, by request.
fn txns(actions: &[Action]) -> Vec<(RequestId, u64)> {
    sent(actions)
        .into_iter()
        .filter_map(|m| match m {
            ClientMsg::Send { req, txn, .. } => Some((req, txn)),
            _ => None,
        })
        .collect()
}

#[test]
fn messages_lost_with_the_session_go_again_in_order_with_their_ids() {
    let mut chat = ready();
    let a = chat.send(Target::User(name("egon")), "first".into());
    let b = chat.send(Target::User(name("egon")), "second".into());
    let first = txns(&drain(&mut chat));
    assert_eq!(first.len(), 2);
    assert_ne!(first[0].1, first[1].1, "every message has its own id");
    for (req, id) in [(a, 1), (b, 2)] {
        chat.handle(LinkEvent::Submitted {
            req: Some(req),
            outcome: Ok(id),
        });
    }
    // The server was killed: the session fails what it carried, then ends.
    for id in [1, 2] {
        chat.handle(session(SessionEvent::Failed {
            id,
            reason: "session ended: lost".into(),
        }));
    }
    chat.handle(session(SessionEvent::Closed {
        reason: "lost".into(),
    }));
    // The retries that raced the end were not taken by the session.
    for req in [a, b] {
        chat.handle(LinkEvent::Submitted {
            req: Some(req),
            outcome: Err(SubmitError::NotConnected),
        });
    }
    let meanwhile = drain(&mut chat);
    assert!(
        !notes(&meanwhile).iter().any(|n| matches!(
            n,
            Note::State {
                state: SendState::NotDelivered(_),
                ..
            }
        )),
        "nothing is reported failed: {meanwhile:?}"
    );
    // Each is said to wait, once: it was shown sending, and now waits for a session.
    let queued: Vec<RequestId> = notes(&meanwhile)
        .iter()
        .filter_map(|n| match n {
            Note::State {
                msg,
                state: SendState::Queued,
                ..
            } => Some(msg.req),
            _ => None,
        })
        .collect();
    assert_eq!(queued, [a, b], "{meanwhile:?}");
    let c = chat.send(Target::User(name("egon")), "third".into());
    drain(&mut chat);
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    chat.handle(welcome(None));
    let after = drain(&mut chat);
    let again = txns(&after);
    assert_eq!(again[..2], first[..], "the same requests and ids, in order");
    assert_eq!(again[2].0, c);
    // Each is shown sending once: the resends add no line of their own.
    let sending = notes(&after)
        .iter()
        .filter(|n| {
            matches!(
                n,
                Note::State {
                    state: SendState::Sending,
                    ..
                }
            )
        })
        .count();
    assert_eq!(sending, 1, "{after:?}");
    // The server answers the resend with the original id: one final state for it.
    chat.handle(server(ServerMsg::Accepted {
        req: a,
        id: 9,
        ts: 1,
    }));
    let states: Vec<_> = notes(&drain(&mut chat))
        .into_iter()
        .filter_map(|n| match n {
            Note::State { state, id, .. } => Some((id, state)),
            _ => None,
        })
        .collect();
    assert_eq!(states, [(Some(9), SendState::Accepted)]);
    assert_eq!(chat.unanswered_sends(), 2);
}

#[test]
fn a_refused_message_is_not_sent_again() {
    let mut chat = ready();
    let req = chat.send(Target::User(name("egon")), "too big".into());
    drain(&mut chat);
    chat.handle(LinkEvent::Submitted {
        req: Some(req),
        outcome: Err(SubmitError::NoId),
    });
    let actions = drain(&mut chat);
    assert!(sent(&actions).is_empty());
    assert!(matches!(
        &notes(&actions)[..],
        [Note::State {
            state: SendState::NotDelivered(_),
            ..
        }]
    ));
}
