//! `listen --json`: one JSON object per event, each with an `event` field naming its kind.
//!
//! | event | fields |
//! | --- | --- |
//! | `connected` | `server`, `resumed` |
//! | `welcome` | `name`, `claimed`, `again`, `online` (names), `rejoining` (rooms) |
//! | `disconnected` | `reason` |
//! | `server_moved` | `given` (`--server`), `from`, `to`: the name resolves to `to` now, tried from now on |
//! | `lookup_failed` | `given`, `reason`, `trying` (the address still tried); once per run of failures |
//! | `message` | `id`, `ts` (UTC ms), `from`, `to` (`name` or `#room`), `kind` (`dm`/`room`), `room` (for room messages), `text`, `replay` |
//! | `presence` | `name`, `presence` (`online`, `offline`, `away`, `back`, `joined`, `left`), `text` (away), `room` (joined/left) |
//! | `receipt` | `id`, `state` (`delivered`, `held`: a DM queued for its offline recipient, `not_delivered`), `reason`; `to` and `preview` when this session saw the message |
//! | `joined`, `parted` | `room`, `auto` |
//! | `topic` | `room`, `topic` |
//! | `error` | `message` (and `what` for a failed request) |
//!
//! Names and rooms are given as their owners spell them.

use std::net::SocketAddr;

use dgram_proto::chat::{Posted, Presence, Target};
use dgram_proto::Name;
use serde_json::{json, Value};

use dgram_client::{LookupFailed, Moved, Note, SendState};

/// The JSON object for a note, or `None` for notes `listen` does not report (answers to
/// requests it never makes). Every kind of note is named below, so that a new one cannot
/// miss `listen --json` unnoticed.
pub(crate) fn note(note: &Note, server: SocketAddr) -> Option<Value> {
    Some(match note {
        Note::Connected { resumed, .. } => {
            json!({"event": "connected", "server": server.to_string(), "resumed": resumed})
        }
        Note::Disconnected { reason } => json!({"event": "disconnected", "reason": reason}),
        Note::Moved(Moved { given, from, to }) => json!({
            "event": "server_moved",
            "given": given,
            "from": from.to_string(),
            "to": to.to_string(),
        }),
        Note::LookupFailed(LookupFailed {
            given,
            reason,
            trying,
        }) => json!({
            "event": "lookup_failed",
            "given": given,
            "reason": reason,
            "trying": trying.to_string(),
        }),
        Note::Welcome {
            name,
            online,
            claimed,
            again,
            rejoining,
        } => json!({
            "event": "welcome",
            "name": name.as_str(),
            "claimed": claimed,
            "again": again,
            "online": online.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            "rejoining": rejoining.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        }),
        Note::Refused { message, .. } => json!({"event": "error", "message": message}),
        Note::Message { posted, replay } => message(posted, *replay),
        Note::Presence { name, presence } => self::presence(name, presence),
        Note::Receipt { id, state, about } => {
            let mut v = receipt(*id, state);
            if let Some(about) = about {
                v["to"] = json!(about.to.to_string());
                v["preview"] = json!(about.preview);
            }
            v
        }
        Note::State {
            id: Some(id),
            state,
            ..
        } => receipt(*id, state),
        Note::Joined { room, auto } => {
            json!({"event": "joined", "room": room.as_str(), "auto": auto})
        }
        Note::Parted { room } => json!({"event": "parted", "room": room.as_str(), "auto": false}),
        Note::Topic { room, topic } => {
            json!({"event": "topic", "room": room.as_str(), "topic": topic})
        }
        Note::Failed { what, reason } => {
            json!({"event": "error", "what": what, "message": reason})
        }
        Note::Error { message } => json!({"event": "error", "message": message}),
        // `listen` makes no requests beyond joins, so it has no sends of its own (a receipt
        // for another session's message is a `Receipt`), and none of these answers.
        Note::Sent { .. }
        | Note::State { id: None, .. }
        | Note::Rooms(_)
        | Note::Who { .. }
        | Note::Away(_)
        | Note::History { .. }
        | Note::Whois { .. } => return None,
    })
}

fn presence(name: &Name, presence: &Presence) -> Value {
    let mut v = json!({"event": "presence", "name": name.as_str()});
    let (word, text, room) = match presence {
        Presence::Online => ("online", None, None),
        Presence::Offline => ("offline", None, None),
        Presence::Away(t) => ("away", Some(t.as_str()), None),
        Presence::Back => ("back", None, None),
        Presence::Joined(r) => ("joined", None, Some(r.as_str())),
        Presence::Left(r) => ("left", None, Some(r.as_str())),
    };
    v["presence"] = json!(word);
    if let Some(text) = text {
        v["text"] = json!(text);
    }
    if let Some(room) = room {
        v["room"] = json!(room);
    }
    v
}

fn message(posted: &Posted, replay: bool) -> Value {
    let mut v = json!({
        "event": "message",
        "id": posted.id,
        "ts": posted.ts,
        "from": posted.from.as_str(),
        "to": posted.to.to_string(),
        "text": posted.text,
        "replay": replay,
    });
    match &posted.to {
        Target::User(_) => v["kind"] = json!("dm"),
        Target::Room(room) => {
            v["kind"] = json!("room");
            v["room"] = json!(room.as_str());
        }
    }
    v
}

fn receipt(id: u64, state: &SendState) -> Value {
    let mut v = json!({"event": "receipt", "id": id, "state": state.code()});
    if let SendState::NotDelivered(reason) | SendState::Held(reason) = state {
        v["reason"] = json!(reason);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use dgram_proto::chat::Room;

    fn server() -> SocketAddr {
        "127.0.0.1:8081".parse().expect("literal")
    }

    #[test]
    fn messages_say_kind_and_room() {
        let posted = Posted {
            id: 7,
            ts: 1_700_000_000_000,
            from: Name::new("alex").expect("name"),
            to: Target::Room(Room::new("Lobby").expect("room")),
            text: "hi\nthere".into(),
        };
        let v = note(
            &Note::Message {
                posted,
                replay: false,
            },
            server(),
        )
        .expect("reported");
        assert_eq!(v["event"], "message");
        assert_eq!(v["kind"], "room");
        assert_eq!(v["room"], "Lobby");
        assert_eq!(v["to"], "#Lobby");
        assert_eq!(v["text"], "hi\nthere");
        assert_eq!(v["id"], 7);
    }

    #[test]
    fn receipts_and_presence() {
        let v = note(
            &Note::Receipt {
                id: 3,
                about: None,
                state: SendState::NotDelivered("queued".into()),
            },
            server(),
        )
        .expect("reported");
        assert_eq!(
            v,
            json!({"event": "receipt", "id": 3, "state": "not_delivered", "reason": "queued"})
        );
        let v = note(
            &Note::Presence {
                name: Name::new("黎诗").expect("name"),
                presence: Presence::Away("lunch".into()),
            },
            server(),
        )
        .expect("reported");
        assert_eq!(
            v,
            json!({"event": "presence", "name": "黎诗", "presence": "away", "text": "lunch"})
        );
        assert!(note(&Note::Away(None), server()).is_none());
    }

    #[test]
    fn a_moved_server_names_both_addresses() {
        let (from, to) = (server(), "127.0.0.1:8082".parse().expect("literal"));
        let moved = Note::Moved(Moved {
            given: "chat.test:8081".to_owned(),
            from,
            to,
        });
        assert_eq!(
            note(&moved, to),
            Some(json!({"event": "server_moved", "given": "chat.test:8081",
                "from": from.to_string(), "to": to.to_string()}))
        );
    }

    #[test]
    fn a_failed_lookup_names_the_address_still_tried() {
        let failed = Note::LookupFailed(LookupFailed {
            given: "chat:8081".into(),
            reason: "no such host".into(),
            trying: server(),
        });
        assert_eq!(
            note(&failed, server()),
            Some(json!({"event": "lookup_failed", "given": "chat:8081",
                "reason": "no such host", "trying": "127.0.0.1:8081"}))
        );
    }
}
