//! How notes read: markers, stable colours, escaping, the whois form and send states, and a
//! server whose name moved.

use dgram_proto::chat::{ErrorKind, Posted, Room, Target, UserInfo};
use dgram_proto::Name;

use super::*;
use dgram_client::{LookupFailed, Moved, Note, Outgoing, SendState};

fn name(s: &str) -> Name {
    Name::new(s).expect("valid name")
}

fn render(color: bool) -> Render {
    Render::new("127.0.0.1:8081".parse().expect("literal"), color)
}

fn posted(from: &str, to: Target, text: &str) -> Posted {
    Posted {
        id: 1,
        ts: 0,
        from: name(from),
        to,
        text: text.to_owned(),
    }
}

/// Drops the leading HH:MM:SS, which depends on the time zone and the clock.
fn untimed(line: &str) -> &str {
    assert_eq!(line.as_bytes()[2], b':', "{line}");
    &line[9..]
}

#[test]
fn messages_show_marker_sender_and_text() {
    let me = name("黎诗");
    let r = render(false);
    let dm = Note::Message {
        posted: posted("alex", Target::User(me.clone()), "hi"),
        replay: false,
    };
    assert_eq!(untimed(&r.note(&dm, &me)), "[DM] alex: hi");
    let room = Room::new("lobby").expect("room");
    let said = Note::Message {
        posted: posted("egon", Target::Room(room), "one\ntwo\u{1b}[2J"),
        replay: true,
    };
    assert_eq!(
        untimed(&r.note(&said, &me)),
        format!("[#lobby] (earlier) egon: one\n{INDENT}two\\u{{1b}}[2J")
    );
    let mine = Note::Message {
        posted: posted("黎诗", Target::User(name("alex")), "sent elsewhere"),
        replay: false,
    };
    assert_eq!(
        untimed(&r.note(&mine, &me)),
        "[DM] 黎诗 → alex: sent elsewhere"
    );
}

#[test]
fn senders_show_where_they_are_as_the_origin_did() {
    let me = name("黎诗");
    let r = render(false);
    r.learn_address(&name("Alex"), &["127.0.0.1:5000".into()]);
    let dm = Note::Message {
        posted: posted("alex", Target::User(me.clone()), "hi"),
        replay: false,
    };
    assert_eq!(
        untimed(&r.note(&dm, &me)),
        "[DM] alex 来自[127.0.0.1:5000]: hi"
    );
    r.learn_address(&name("alex"), &["10.0.0.1:1".into(), "10.0.0.2:2".into()]);
    assert_eq!(
        untimed(&r.note(&dm, &me)),
        "[DM] alex 来自[10.0.0.1:1] +1: hi"
    );
}

#[test]
fn names_keep_their_colour() {
    let r = render(true);
    let a = r.name(&name("alex"));
    assert_eq!(a, r.name(&name("Alex")).replace("Alex", "alex"));
    assert!(
        a.starts_with("\x1b[38;5;") && a.ends_with("alex\x1b[0m"),
        "{a:?}"
    );
    assert_eq!(colour_of(&name("alex")), colour_of(&name("ALEX")));
    let colours: std::collections::HashSet<u8> = ["alex", "黎诗", "瞎驴", "egon", "bob", "carol"]
        .iter()
        .map(|n| colour_of(&name(n)))
        .collect();
    assert!(colours.len() >= 3, "names should not all look alike");
    assert_eq!(render(false).name(&name("alex")), "alex");
}

#[test]
fn whois_speaks_english_and_the_origin() {
    let me = name("alex");
    let note = Note::Whois {
        name: name("egon"),
        addrs: vec!["127.0.0.1:5000".into()],
        away: None,
    };
    assert_eq!(
        render(false).note(&note, &me),
        "whois egon: address 127.0.0.1:5000 来自[127.0.0.1:5000]"
    );
    let gone = Note::Whois {
        name: name("egon"),
        addrs: vec![],
        away: Some("lunch".into()),
    };
    assert_eq!(
        render(false).note(&gone, &me),
        "whois egon: not online (away: lunch)"
    );
}

#[test]
fn send_states_read_plainly() {
    let me = name("alex");
    let msg = Outgoing {
        req: 3,
        to: Target::User(name("egon")),
        preview: "hello".into(),
    };
    let line = |state: SendState, id| {
        render(false).note(
            &Note::State {
                msg: msg.clone(),
                id,
                state,
            },
            &me,
        )
    };
    assert_eq!(
        untimed(&line(SendState::Accepted, Some(9))),
        "[DM] → egon \"hello\" #9: accepted"
    );
    assert_eq!(
        untimed(&line(SendState::Delivered, Some(9))),
        "[DM] → egon \"hello\" #9: ✓ delivered"
    );
    assert_eq!(
        untimed(&line(
            SendState::NotDelivered("egon is offline".into()),
            Some(9)
        )),
        "[DM] → egon \"hello\" #9: ✗ not delivered: egon is offline"
    );
    let refused = SendState::Refused {
        kind: ErrorKind::UnknownUser,
        message: "no user named egon".into(),
    };
    assert_eq!(
        untimed(&line(refused, None)),
        "[DM] → egon \"hello\": ✗ not delivered: no user named egon"
    );
    let sent = Note::Sent {
        msg: msg.clone(),
        text: "hello".into(),
        state: SendState::Sending,
    };
    assert_eq!(
        untimed(&render(false).note(&sent, &me)),
        "[DM] alex → egon: hello  (sending)"
    );
}

#[test]
fn held_and_elsewhere_read_as_what_they_are() {
    let me = name("alex");
    let held = Note::State {
        msg: Outgoing {
            req: 3,
            to: Target::User(name("egon")),
            preview: "hello".into(),
        },
        id: Some(9),
        state: SendState::Held("egon is offline; queued until they return".into()),
    };
    assert_eq!(
        untimed(&render(false).note(&held, &me)),
        "[DM] → egon \"hello\" #9: egon is offline; queued until they return"
    );
    let about = dgram_client::Elsewhere {
        to: Target::Room(Room::new("lobby").expect("room")),
        preview: "from my phone".into(),
    };
    let receipt = |about| Note::Receipt {
        id: 57,
        about,
        state: SendState::NotDelivered("a recipient's session failed".into()),
    };
    assert_eq!(
        untimed(&render(false).note(&receipt(Some(about)), &me)),
        "[#lobby] → #lobby \"from my phone\" #57 (sent from another session): ✗ not \
         delivered: a recipient's session failed"
    );
    assert_eq!(
        untimed(&render(false).note(&receipt(None), &me)),
        "a message sent from another session (#57): ✗ not delivered: a recipient's session \
         failed"
    );
}

#[test]
fn lists_and_welcomes() {
    let me = name("alex");
    let welcome = Note::Welcome {
        name: me.clone(),
        online: vec![
            UserInfo {
                name: me.clone(),
                away: None,
            },
            UserInfo {
                name: name("egon"),
                away: Some("out".into()),
            },
        ],
        claimed: true,
        again: false,
        rejoining: vec![],
    };
    assert_eq!(
        render(false).note(&welcome, &me),
        "welcome, alex (the name is yours now; its key is saved)\n\
         在线 / online (2): alex, egon (away: out)"
    );
    let again = Note::Welcome {
        name: me.clone(),
        online: vec![],
        claimed: false,
        again: true,
        rejoining: vec![Room::new("a").expect("room"), Room::new("b").expect("room")],
    };
    assert_eq!(
        render(false).note(&again, &me),
        "reconnected as alex; joining #a #b again"
    );
    let who = Note::Who {
        room: None,
        users: vec![],
    };
    assert_eq!(render(false).note(&who, &me), "在线 / online (0): nobody");
    let clock = clock(Some(0));
    assert_eq!(clock.len(), 8);
}

#[test]
fn a_moved_server_is_named_from_then_on() {
    let me = name("alex");
    let r = render(false);
    let (from, to) = ("127.0.0.1:8081", "172.18.0.5:8081");
    let failed = Note::LookupFailed(LookupFailed {
        given: "chat:8081".into(),
        reason: "failed to lookup address information".into(),
        trying: from.parse().expect("literal"),
    });
    assert_eq!(
        r.note(&failed, &me),
        "could not look chat:8081 up again (failed to lookup address information); still \
         trying 127.0.0.1:8081, and the name every few seconds"
    );
    let moved = Note::Moved(Moved {
        given: "chat:8081".into(),
        from: from.parse().expect("literal"),
        to: to.parse().expect("literal"),
    });
    assert_eq!(
        r.note(&moved, &me),
        "chat:8081 now resolves to 172.18.0.5:8081 (was 127.0.0.1:8081); trying there"
    );
    let again = Note::Connected {
        first: false,
        resumed: false,
    };
    assert_eq!(r.note(&again, &me), "connected to 172.18.0.5:8081 again");
    // One instance of a list stopped answering: the next is named, and the list.
    let failover = Note::Moved(Moved {
        given: "a:8081,b:8081".into(),
        from: to.parse().expect("literal"),
        to: from.parse().expect("literal"),
    });
    assert_eq!(
        r.note(&failover, &me),
        "172.18.0.5:8081 does not answer; trying 127.0.0.1:8081 (of a:8081,b:8081)"
    );
}

#[test]
fn an_action_reads_as_what_its_sender_does() {
    let me = name("egon");
    let note = Note::Message {
        posted: posted(
            "alex",
            Target::Room(Room::new("lobby").expect("room")),
            "/me waves",
        ),
        replay: false,
    };
    let line = render(false).note(&note, &me);
    assert_eq!(untimed(&line), "[#lobby] * alex waves");
}
