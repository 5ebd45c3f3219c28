//! A room picked up again after a reconnect: the catch-up asks from the last message seen,
//! what was shown is not shown again, what was missed is, oldest first, and a server that
//! numbers from 1 again after a restart loses nothing.

use dgram_proto::chat::{ClientMsg, Posted, ServerMsg, Target};

use super::super::tests::{drain, name, notes, ready, room, sent, server, session, welcome};
use super::CATCH_UP_LIMIT;
use crate::event::SessionEvent;
use crate::note::Note;
use crate::state::Chat;

fn said(id: u64, ts: u64, text: &str) -> Posted {
    Posted {
        id,
        ts,
        from: name("egon"),
        to: Target::Room(room("lobby")),
        text: text.to_owned(),
    }
}

fn replay(messages: Vec<Posted>) -> ServerMsg {
    ServerMsg::History {
        req: None,
        with: Target::Room(room("lobby")),
        messages,
    }
}

/// The texts of the messages shown, with whether each was marked as history.
fn shown(chat: &mut Chat) -> Vec<(String, bool)> {
    let notes = notes(&drain(chat));
    let messages = notes.into_iter().filter_map(|n| match n {
        Note::Message { posted, replay } => Some((posted.text, replay)),
        _ => None,
    });
    messages.collect()
}

/// In #lobby, having seen the replay of messages 1 and 2, then disconnected and welcomed
/// again; returns the catch-up's request.
fn reconnected(chat: &mut Chat) -> u64 {
    let join = chat.join(room("lobby"));
    chat.handle(server(ServerMsg::Done { req: join }));
    chat.handle(server(replay(vec![said(1, 10, "one"), said(2, 20, "two")])));
    assert_eq!(
        shown(chat),
        [("one".to_owned(), true), ("two".to_owned(), true)]
    );
    chat.handle(session(SessionEvent::Closed {
        reason: "gone".into(),
    }));
    chat.handle(session(SessionEvent::Connected { resumed: false }));
    chat.handle(welcome(None));
    let out = sent(&drain(chat));
    match &out[..] {
        [ClientMsg::Hello { .. }, ClientMsg::Join { .. }, ClientMsg::History {
            req,
            with,
            since: Some(2),
            before: None,
            limit,
        }] => {
            assert_eq!(
                (with, *limit),
                (&Target::Room(room("lobby")), CATCH_UP_LIMIT)
            );
            *req
        }
        other => panic!("no catch-up from message 2: {other:?}"),
    }
}

#[test]
fn a_rejoined_room_shows_only_what_was_missed() {
    let mut chat = ready();
    let req = reconnected(&mut chat);
    // The Join's replay repeats what was seen, and has one missed message of the newest.
    chat.handle(server(replay(vec![
        said(1, 10, "one"),
        said(2, 20, "two"),
        said(4, 40, "four"),
    ])));
    assert!(
        shown(&mut chat).is_empty(),
        "the replay waits for the catch-up"
    );
    chat.handle(server(ServerMsg::History {
        req: Some(req),
        with: Target::Room(room("lobby")),
        messages: vec![said(3, 30, "three"), said(4, 40, "four")],
    }));
    assert_eq!(
        shown(&mut chat),
        [("three".to_owned(), false), ("four".to_owned(), false)]
    );
    // Live messages go on as ever, once each.
    chat.handle(server(ServerMsg::Message(said(5, 50, "five"))));
    chat.handle(server(ServerMsg::Message(said(5, 50, "five"))));
    assert_eq!(shown(&mut chat), [("five".to_owned(), false)]);
}

#[test]
fn a_server_that_forgot_numbers_anew_and_nothing_is_lost() {
    let mut chat = ready();
    let req = reconnected(&mut chat);
    // Restarted without its state: the room's history is what came since, from id 1 again.
    chat.handle(server(replay(vec![said(1, 99, "new one")])));
    chat.handle(server(ServerMsg::History {
        req: Some(req),
        with: Target::Room(room("lobby")),
        messages: vec![],
    }));
    assert_eq!(shown(&mut chat), [("new one".to_owned(), false)]);
}

#[test]
fn a_failed_catch_up_shows_what_was_held() {
    let mut chat = ready();
    let req = reconnected(&mut chat);
    chat.handle(server(replay(vec![
        said(2, 20, "two"),
        said(3, 30, "three"),
    ])));
    chat.handle(server(ServerMsg::Error {
        req: Some(req),
        kind: dgram_proto::chat::ErrorKind::NotInRoom,
        message: "you are not in #lobby".into(),
    }));
    assert_eq!(shown(&mut chat), [("three".to_owned(), false)]);
}

#[test]
fn our_own_messages_are_not_replayed_to_us() {
    let mut chat = ready();
    let join = chat.join(room("lobby"));
    chat.handle(server(ServerMsg::Done { req: join }));
    let req = chat.send(Target::Room(room("lobby")), "mine".into());
    chat.handle(server(ServerMsg::Accepted { req, id: 7, ts: 70 }));
    drain(&mut chat);
    let part = chat.part(room("lobby"));
    chat.handle(server(ServerMsg::Done { req: part }));
    let join = chat.join(room("lobby"));
    chat.handle(server(ServerMsg::Done { req: join }));
    let mut mine = said(7, 70, "mine");
    mine.from = name("alex");
    chat.handle(server(replay(vec![mine, said(8, 80, "after")])));
    assert_eq!(shown(&mut chat), [("after".to_owned(), true)]);
}
