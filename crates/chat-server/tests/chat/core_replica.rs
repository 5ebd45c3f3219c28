//! ChatCore as one instance of a cluster, without sockets: a name is online while any other
//! instance shows it so, each instance counted once however often it says so (news that
//! changes nothing there changes nothing here), and an instance declared gone (`Op::Gone`)
//! takes its names offline, once, the notice told to who shares a room with them. An instance
//! declared gone while it lives says again who is online there.

use chat_server::core::{ChangeStore, Chat, ChatConfig, MemoryStore, Op, Output};
use chat_server::core::{Submitted, Ticket};
use dgram_proto::chat::{ClientMsg, Posted, Presence, Room, ServerMsg, Target};

use crate::core_support::{addr, device, name};

const NOW: u64 = 1_700_000_000_000;

/// What alex's presence was told as, to the local sessions.
fn told(out: Vec<Output>) -> Vec<Presence> {
    out.iter()
        .filter_map(|o| match &*o.msg {
            ServerMsg::Presence { name, presence } if name.as_str() == "alex" => {
                Some(presence.clone())
            }
            _ => None,
        })
        .collect()
}

fn presence(from: &str, online: bool) -> (String, Vec<Op>) {
    let op = Op::Presence {
        user: name("alex"),
        online,
    };
    (from.to_owned(), vec![op])
}

/// alex (on other instances) and egon (here, session 2) share #lobby.
fn replica() -> Chat<MemoryStore> {
    let mut chat = Chat::new(ChatConfig::default(), MemoryStore);
    chat.id_space(1024, 1);
    let room = Room::new("lobby").expect("a room");
    let claimed = vec![
        Op::Claim {
            name: name("alex"),
            owner: [1; 32],
            at_ms: NOW,
        },
        Op::Join {
            user: name("alex"),
            room: room.clone(),
        },
    ];
    chat.replicate("x", claimed, true);
    chat.open(2, addr(40002), Some(device(2)));
    let hello = ClientMsg::Hello {
        name: name("egon"),
        key: None,
        send_only: false,
    };
    chat.handle(2, NOW, hello);
    chat.handle(2, NOW, ClientMsg::Join { req: 1, room });
    chat
}

#[test]
fn each_instance_counts_once_and_a_gone_one_takes_its_names_offline() {
    let mut chat = replica();
    let mut apply = |(from, ops): (String, Vec<Op>)| told(chat.replicate(&from, ops, true));
    assert_eq!(apply(presence("x", true)), [Presence::Online]);
    assert_eq!(apply(presence("x", true)), [], "x said so already");
    assert_eq!(apply(presence("y", true)), [], "online already");
    assert_eq!(apply(presence("x", false)), [], "still on y");
    assert_eq!(apply(presence("x", false)), [], "x had said so");
    assert_eq!(apply(presence("z", false)), [], "never on z");
    let gone = |i: &str| {
        (
            "watch".to_owned(),
            vec![Op::Gone {
                instance: i.to_owned(),
            }],
        )
    };
    assert_eq!(apply(gone("y")), [Presence::Offline]);
    assert_eq!(apply(gone("y")), [], "applied twice, told once");
    assert_eq!(apply(gone("nobody")), []);
    // Counted right after all that: back online through x.
    assert_eq!(apply(presence("x", true)), [Presence::Online]);
}

#[test]
fn presence_replayed_at_start_is_ignored_and_so_is_its_instance() {
    let mut chat = replica();
    let (from, ops) = presence("x", true);
    assert_eq!(told(chat.replicate(&from, ops, false)), []);
    let gone = vec![Op::Gone {
        instance: "x".to_owned(),
    }];
    assert_eq!(told(chat.replicate("watch", gone, true)), []);
}

/// A store that commits at once and keeps what it was given, as the cluster's log would.
#[derive(Debug, Default)]
struct Logged(Vec<Op>);

impl ChangeStore for Logged {
    fn keeps(&self) -> bool {
        true
    }
    fn submit(&mut self, _ticket: Ticket, ops: Vec<Op>) -> Submitted {
        self.0.extend(ops);
        Submitted::Committed
    }
    fn backlog(&self) -> usize {
        0
    }
}

#[test]
fn declared_gone_while_alive_it_says_again_who_is_here() {
    let mut chat = Chat::new(ChatConfig::default(), Logged::default());
    chat.id_space(1024, 1);
    chat.open(2, addr(40002), Some(device(2)));
    let hello = ClientMsg::Hello {
        name: name("egon"),
        key: None,
        send_only: false,
    };
    chat.handle(2, NOW, hello);
    chat.open(3, addr(40003), Some(device(3)));
    let hello = ClientMsg::Hello {
        name: name("bea"),
        key: None,
        send_only: false,
    };
    chat.handle(3, NOW, hello);
    chat.close(3, NOW + 1);
    chat.store_mut().0.clear();
    chat.reannounce();
    let said: Vec<&Op> = chat.store().0.iter().collect();
    let egon = Op::Presence {
        user: name("egon"),
        online: true,
    };
    assert_eq!(said, [&egon], "egon is here, bea is gone");
}

/// An instance over [`Logged`]: `who` (session `session`) here in #lobby, and `other` in it
/// through the instance `x`, online there.
fn lobby(who: &str, session: u32, other: &str) -> Chat<Logged> {
    let mut chat = Chat::new(ChatConfig::default(), Logged::default());
    chat.id_space(1024, 1);
    let room = Room::new("lobby").expect("a room");
    let there = vec![
        Op::Claim {
            name: name(other),
            owner: [1; 32],
            at_ms: NOW,
        },
        Op::Join {
            user: name(other),
            room: room.clone(),
        },
        Op::Presence {
            user: name(other),
            online: true,
        },
    ];
    chat.replicate("x", there, true);
    chat.open(session, addr(40000 + session as u16), Some(device(session)));
    let hello = ClientMsg::Hello {
        name: name(who),
        key: None,
        send_only: false,
    };
    chat.handle(session, NOW, hello);
    chat.handle(session, NOW, ClientMsg::Join { req: 1, room });
    chat.store_mut().0.clear();
    chat
}

fn post_to_lobby(chat: &mut Chat<Logged>, req: u64) -> (u64, Vec<Output>) {
    let send = ClientMsg::Send {
        req,
        txn: req,
        to: Target::Room(Room::new("lobby").expect("a room")),
        text: "hi all".into(),
    };
    let out = chat.handle(2, NOW, send);
    let id = out
        .iter()
        .find_map(|o| match &*o.msg {
            ServerMsg::Accepted { id, .. } => Some(*id),
            _ => None,
        })
        .expect("accepted");
    (id, out)
}

fn delivered(out: &[Output], id: u64) -> bool {
    out.iter()
        .any(|o| matches!(&*o.msg, ServerMsg::Delivered { id: i } if *i == id))
}

#[test]
fn a_room_posts_delivered_waits_for_the_instances_showing_its_members() {
    let mut chat = lobby("alex", 2, "bea");
    let (id, out) = post_to_lobby(&mut chat, 2);
    assert!(!delivered(&out, id), "bea, online on x, has not had it yet");
    let word = vec![Op::Received { id, failed: None }];
    assert!(delivered(&chat.replicate("x", word, true), id));

    // Gone before it says: delivered to everyone there is.
    let (id, out) = post_to_lobby(&mut chat, 3);
    assert!(!delivered(&out, id));
    let gone = vec![Op::Gone {
        instance: "x".to_owned(),
    }];
    assert!(delivered(&chat.replicate("watch", gone, true), id));
    // Nobody online elsewhere now: delivered at once, as on a single server.
    let (id, out) = post_to_lobby(&mut chat, 4);
    assert!(delivered(&out, id));
}

#[test]
fn the_instance_of_a_members_sessions_logs_when_they_have_a_post() {
    let mut chat = lobby("bea", 2, "alex");
    let posted = Posted {
        id: 7,
        ts: NOW,
        from: name("alex"),
        to: Target::Room(Room::new("lobby").expect("a room")),
        text: "hi all".into(),
    };
    let out = chat.replicate("x", vec![Op::Post(posted)], true);
    let to_bea = out
        .iter()
        .find(|o| o.session == 2 && matches!(&*o.msg, ServerMsg::Message(_)))
        .expect("bea gets it");
    assert_eq!(to_bea.receipt, Some(7));
    assert!(
        chat.store().0.is_empty(),
        "nothing logged before bea has it"
    );
    chat.track(2, 99, 7);
    let out = chat.delivered(&[(2, 99)]);
    assert!(!delivered(&out, 7), "the sender is not here to be told");
    assert_eq!(
        chat.store().0,
        [Op::Received {
            id: 7,
            failed: None
        }]
    );
}
