//! Rooms: a message reaches every other member exactly once; joining replays history; topics;
//! a member list; leaving.

use std::time::Duration;

use dgram_proto::chat::{ClientMsg, Presence, Room, ServerMsg, Target};

use crate::support::{server, settings, Chat};

fn lobby() -> Room {
    Room::new("#lobby").expect("room")
}

async fn join_lobby(c: &mut Chat) -> Vec<ServerMsg> {
    let req = c.req();
    c.send(ClientMsg::Join { req, room: lobby() }).await;
    c.until(|m| matches!(m, ServerMsg::Done { .. })).await;
    let history = c.until(|m| matches!(m, ServerMsg::History { .. })).await;
    vec![history]
}

#[tokio::test]
async fn a_room_of_three() {
    let srv = server(settings()).await;
    let mut members = Vec::new();
    for who in ["alex", "黎诗", "瞎驴"] {
        let (mut c, _) = Chat::join(srv.addr, who, None).await;
        join_lobby(&mut c).await;
        members.push(c);
    }
    // The first member saw the other two arrive.
    let seen = members[0]
        .until(|m| matches!(m, ServerMsg::Presence { presence: Presence::Joined(_), name } if name.as_str() == "瞎驴"))
        .await;
    assert!(matches!(seen, ServerMsg::Presence { .. }));

    let req = members[0].req();
    members[0]
        .send(ClientMsg::Send {
            req,
            txn: crate::support::txn(),
            to: Target::Room(lobby()),
            text: "hello room".into(),
        })
        .await;
    let ServerMsg::Accepted { id, .. } = members[0]
        .until(|m| matches!(m, ServerMsg::Accepted { .. }))
        .await
    else {
        unreachable!()
    };
    for c in &mut members[1..] {
        let got = c.until(|m| matches!(m, ServerMsg::Message(_))).await;
        assert!(matches!(got, ServerMsg::Message(p) if p.id == id && p.text == "hello room"));
        // Exactly once: nothing more for a while.
        let extra = c.quiet_for(Duration::from_millis(300)).await;
        assert!(!matches!(extra, Some(ServerMsg::Message(_))), "{extra:?}");
    }
    members[0]
        .until(|m| *m == ServerMsg::Delivered { id })
        .await;
    assert!(
        !matches!(
            members[0].quiet_for(Duration::from_millis(200)).await,
            Some(ServerMsg::Message(_))
        ),
        "the sender does not get its own room message back"
    );

    // Topic: set by a member, shown to all.
    let req = members[1].req();
    members[1]
        .send(ClientMsg::Topic {
            req,
            room: lobby(),
            topic: Some("UDP all day".into()),
        })
        .await;
    for c in &mut members {
        let t = c.until(|m| matches!(m, ServerMsg::Topic { .. })).await;
        assert!(matches!(t, ServerMsg::Topic { topic, .. } if topic == "UDP all day"));
    }

    // A late joiner gets the history replayed.
    let (mut egon, _) = Chat::join(srv.addr, "egon", None).await;
    let replay = join_lobby(&mut egon).await;
    assert!(
        matches!(&replay[0], ServerMsg::History { messages, .. } if messages.len() == 1 && messages[0].text == "hello room")
    );

    // Rooms and members.
    let req = egon.req();
    egon.send(ClientMsg::Rooms { req }).await;
    let rooms = egon.until(|m| matches!(m, ServerMsg::Rooms { .. })).await;
    assert!(
        matches!(rooms, ServerMsg::Rooms { rooms, .. } if rooms.len() == 1 && rooms[0].members == 4 && rooms[0].topic == "UDP all day")
    );
    let req = egon.req();
    egon.send(ClientMsg::Who {
        req,
        room: Some(lobby()),
    })
    .await;
    let who = egon.until(|m| matches!(m, ServerMsg::Who { .. })).await;
    assert!(matches!(who, ServerMsg::Who { users, .. } if users.len() == 4));

    // Leaving: the others are told; the leaver can no longer post there.
    let req = egon.req();
    egon.send(ClientMsg::Part { req, room: lobby() }).await;
    egon.until(|m| matches!(m, ServerMsg::Done { .. })).await;
    members[0]
        .until(|m| {
            matches!(
                m,
                ServerMsg::Presence {
                    presence: Presence::Left(_),
                    ..
                }
            )
        })
        .await;
    let req = egon.req();
    egon.send(ClientMsg::Send {
        req,
        txn: crate::support::txn(),
        to: Target::Room(lobby()),
        text: "still here?".into(),
    })
    .await;
    let err = egon.until(|m| matches!(m, ServerMsg::Error { .. })).await;
    assert!(matches!(err, ServerMsg::Error { message, .. } if message.contains("not in #lobby")));

    // History since an id fills a gap.
    let req = members[2].req();
    members[2]
        .send(ClientMsg::History {
            req,
            with: Target::Room(lobby()),
            since: Some(id - 1),
            before: None,
            limit: 10,
        })
        .await;
    let h = members[2]
        .until(|m| matches!(m, ServerMsg::History { req: Some(_), .. }))
        .await;
    assert!(matches!(h, ServerMsg::History { messages, .. } if messages.len() == 1));
    srv.stop().await;
}
