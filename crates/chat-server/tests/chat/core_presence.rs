//! ChatCore without sockets: who is told of whose presence. Users who share no room but have
//! exchanged DMs see each other come online, go away and go offline; a DM to an online user
//! who is away gets their away message back (IRC's RPL_AWAY); someone who shares nothing with
//! a user hears nothing of them. And history before an id, to scroll back past the newest.

use chat_server::core::ChatConfig;
use dgram_proto::chat::{ClientMsg, Presence, ServerMsg};

use crate::core_support::{drain, hello, name, ChatCore};
use crate::support::dm;

const NOW: u64 = 1_700_000_000_000;

/// The presence notices among `out`, as (session, who, presence).
fn presences(out: &[(u32, ServerMsg)]) -> Vec<(u32, String, Presence)> {
    out.iter()
        .filter_map(|(s, m)| match m {
            ServerMsg::Presence { name, presence } => {
                Some((*s, name.as_str().to_owned(), presence.clone()))
            }
            _ => None,
        })
        .collect()
}

/// alex (session 1) and egon (session 2) have exchanged a DM; 黎诗 (session 3) shares nothing
/// with either.
fn dm_partners() -> ChatCore {
    let mut core = ChatCore::new(ChatConfig::default());
    hello(&mut core, 1, "alex", None, NOW);
    hello(&mut core, 2, "egon", None, NOW);
    hello(&mut core, 3, "黎诗", None, NOW);
    core.handle(1, NOW, dm(1, "egon", "hi egon"));
    drain(&mut core);
    core
}

#[test]
fn dm_partners_see_each_other_go_away_and_offline() {
    let mut core = dm_partners();
    let away = ClientMsg::Away {
        req: 2,
        text: Some("lunch".into()),
    };
    core.handle(2, NOW, away);
    let told = presences(&drain(&mut core));
    assert_eq!(told, [(1, "egon".into(), Presence::Away("lunch".into()))]);

    core.close(2, NOW + 1);
    let told = presences(&drain(&mut core));
    assert_eq!(told, [(1, "egon".into(), Presence::Offline)]);
}

#[test]
fn a_dm_partner_coming_online_is_told() {
    let mut core = ChatCore::new(ChatConfig::default());
    let welcome = hello(&mut core, 1, "alex", None, NOW);
    assert!(matches!(welcome, ServerMsg::Welcome { .. }), "{welcome:?}");
    hello(&mut core, 2, "egon", None, NOW);
    core.handle(2, NOW, dm(1, "alex", "are you there"));
    core.close(1, NOW);
    drain(&mut core);
    // hello() drains what it caused, so open and greet by hand to see who is told.
    // The same device as session 1: the name belongs to its key.
    let alex = crate::core_support::device(1);
    core.open_as(5, crate::core_support::addr(40_005), alex);
    let greet = ClientMsg::Hello {
        name: name("alex"),
        key: None,
        send_only: false,
    };
    core.handle(5, NOW + 1, greet);
    let told = presences(&drain(&mut core));
    assert_eq!(told, [(2, "alex".into(), Presence::Online)]);
}

#[test]
fn someone_who_shares_nothing_hears_nothing() {
    let mut core = dm_partners();
    core.close(1, NOW + 1);
    let out = drain(&mut core);
    assert!(
        presences(&out).iter().all(|(s, _, _)| *s == 2),
        "only egon hears of alex: {out:?}"
    );
    assert_eq!(presences(&out).len(), 1);
}

#[test]
fn a_dm_to_someone_away_gets_their_away_message_back() {
    let mut core = dm_partners();
    let away = ClientMsg::Away {
        req: 2,
        text: Some("in a meeting until 3".into()),
    };
    core.handle(2, NOW, away);
    drain(&mut core);
    core.handle(1, NOW, dm(3, "egon", "quick question"));
    let out = drain(&mut core);
    let back = Presence::Away("in a meeting until 3".into());
    assert_eq!(presences(&out), [(1, "egon".into(), back)], "{out:?}");
    assert!(
        out.iter()
            .any(|(s, m)| *s == 2 && matches!(m, ServerMsg::Message(_))),
        "the DM still goes: {out:?}"
    );

    // Back from away: no notice any more.
    core.handle(2, NOW, ClientMsg::Away { req: 4, text: None });
    drain(&mut core);
    core.handle(1, NOW, dm(5, "egon", "another"));
    assert!(presences(&drain(&mut core)).is_empty());
}

#[test]
fn history_before_an_id_scrolls_back_past_the_newest() {
    let mut core = dm_partners();
    for i in 0..9 {
        core.handle(1, NOW, dm(10 + i, "egon", &format!("dm {i}")));
    }
    drain(&mut core);
    let ask = |before| ClientMsg::History {
        req: 30,
        with: dgram_proto::chat::Target::User(name("alex")),
        since: None,
        before,
        limit: 4,
    };
    let texts = |core: &mut ChatCore| -> Vec<(u64, String)> {
        let out = drain(core);
        let answer = out.into_iter().find_map(|(_, m)| match m {
            ServerMsg::History { messages, .. } => Some(messages),
            _ => None,
        });
        let messages = answer.expect("a history answer");
        messages.into_iter().map(|p| (p.id, p.text)).collect()
    };
    core.handle(2, NOW, ask(None));
    let newest = texts(&mut core);
    let words: Vec<&str> = newest.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(words, ["dm 5", "dm 6", "dm 7", "dm 8"]);
    core.handle(2, NOW, ask(Some(newest[0].0)));
    let older = texts(&mut core);
    let words: Vec<&str> = older.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(words, ["dm 1", "dm 2", "dm 3", "dm 4"]);
    core.handle(2, NOW, ask(Some(older[0].0)));
    let oldest = texts(&mut core);
    let words: Vec<&str> = oldest.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(words, ["hi egon", "dm 0"], "the start of the conversation");
}
