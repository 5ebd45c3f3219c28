//! The full-screen client drawn to ratatui's test backend: the buffer list with unread counts
//! and mentions, delivery marks changing in place, lines wrapped at word boundaries on a
//! narrow terminal, and the keys that switch buffers or keep a paste whole.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use dgram_client::{Note, Outgoing, SendState};
use dgram_proto::chat::{Posted, Room, Target};
use dgram_proto::Name;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::buffers::Buffers;
use super::input::{Act, Input};
use super::view::{Status, View};
use crate::chat::render::Render;

pub(super) fn name(s: &str) -> Name {
    Name::new(s).expect("valid name")
}

pub(super) fn lobby() -> Target {
    Target::Room(Room::new("lobby").expect("room"))
}

pub(super) fn buffers() -> Buffers {
    let render = Render::new("127.0.0.1:8081".parse().expect("literal"), false);
    Buffers::new(name("egon"), render)
}

pub(super) fn said(from: &str, to: Target, text: &str) -> Note {
    Note::Message {
        posted: Posted {
            id: 1,
            ts: 0,
            from: name(from),
            to,
            text: text.to_owned(),
        },
        replay: false,
    }
}

/// The screen's rows, `width` by `height`.
pub(super) fn screen(buffers: &Buffers, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    draw(&mut terminal, buffers, &status(), None)
}

/// The status line's part as a connected client has it.
pub(super) fn status() -> Status {
    Status {
        name: "egon".into(),
        server: "127.0.0.1:8081".into(),
        connected: true,
        lag: None,
    }
}

/// Draws one frame on `terminal` (at whatever size its backend has now) and reads it back.
pub(super) fn draw(
    terminal: &mut Terminal<TestBackend>,
    buffers: &Buffers,
    status: &Status,
    prompt: Option<String>,
) -> Vec<String> {
    let view = View {
        buffers,
        status,
        input: "",
        cursor: 0,
        colour: false,
        prompt,
    };
    terminal.draw(|f| view.draw(f)).expect("drawn");
    let buffer = terminal.backend().buffer();
    let (width, height) = (buffer.area.width, buffer.area.height);
    let rows = (0..height).map(|y| {
        let mut row = String::new();
        let mut x = 0;
        // A wide character's second cell is not a character of its own.
        while x < width {
            let symbol = buffer[(x, y)].symbol();
            row.push_str(symbol);
            x += u16::try_from(textwrap::core::display_width(symbol).max(1)).unwrap_or(1);
        }
        row.trim_end().to_owned()
    });
    rows.collect()
}

pub(super) fn has(rows: &[String], text: &str) -> bool {
    rows.iter().any(|r| r.contains(text))
}

#[test]
fn the_list_counts_unread_lines_and_marks_mentions() {
    let mut b = buffers();
    b.note(&said("alex", lobby(), "hi all"));
    b.note(&said(
        "alex",
        Target::User(name("egon")),
        "egon, look at this",
    ));
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "1 server"), "{rows:#?}");
    assert!(has(&rows, "2 #lobby 1"), "{rows:#?}");
    assert!(has(&rows, "3 alex 1!"), "{rows:#?}");
    b.select(1);
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "alex: hi all"), "{rows:#?}");
    assert!(!has(&rows, "#lobby 1"), "shown means read: {rows:#?}");
    assert!(has(&rows, "3 alex 1!"), "{rows:#?}");
    b.cycle(true);
    assert!(!has(&screen(&b, 80, 12), "alex 1!"));
}

#[test]
fn a_delivery_mark_changes_in_place() {
    let mut b = buffers();
    b.open(&lobby());
    let msg = Outgoing {
        req: 4,
        to: lobby(),
        preview: "hello".into(),
    };
    b.note(&Note::Sent {
        msg: msg.clone(),
        text: "hello".into(),
        state: SendState::Sending,
    });
    let row_of = |rows: &[String]| rows.iter().position(|r| r.contains("egon: hello"));
    let rows = screen(&b, 60, 10);
    let at = row_of(&rows).expect("the message is shown");
    assert!(rows[at].ends_with("hello …"), "{rows:#?}");
    for (state, mark) in [
        (SendState::Accepted, "hello ✓"),
        (SendState::Delivered, "hello ✓✓"),
    ] {
        b.note(&Note::State {
            msg: msg.clone(),
            id: Some(9),
            state,
        });
        let rows = screen(&b, 60, 10);
        assert_eq!(row_of(&rows), Some(at), "{rows:#?}");
        assert!(rows[at].ends_with(mark), "{rows:#?}");
    }
    b.note(&Note::Sent {
        msg: Outgoing { req: 5, ..msg },
        text: "for later".into(),
        state: SendState::Queued,
    });
    assert!(has(&screen(&b, 60, 10), "egon: for later ⧗"));
}

#[test]
fn lines_wrap_at_word_boundaries_at_40_columns() {
    let mut b = buffers();
    b.open(&lobby());
    let text = "wrapping keeps every dictionary word whole however narrow the screen is";
    b.note(&said("alex", lobby(), text));
    let rows = screen(&b, 40, 12);
    for word in text.split(' ') {
        let whole = rows.iter().any(|r| r.split(' ').any(|w| w == word));
        assert!(whole, "{word:?} was cut: {rows:#?}");
    }
}

#[test]
fn keys_switch_buffers_and_a_paste_stays_one_message() {
    let key = |code, modifiers| Event::Key(KeyEvent::new(code, modifiers));
    let mut input = Input::default();
    assert_eq!(
        input.event(&key(KeyCode::Char('2'), KeyModifiers::ALT)),
        Act::Select(1)
    );
    assert_eq!(
        input.event(&key(KeyCode::Char('n'), KeyModifiers::CONTROL)),
        Act::Cycle(true)
    );
    assert_eq!(
        input.event(&key(KeyCode::Char('p'), KeyModifiers::CONTROL)),
        Act::Cycle(false)
    );
    input.event(&Event::Paste("one\r\ntwo".into()));
    assert_eq!(
        input.event(&key(KeyCode::Enter, KeyModifiers::NONE)),
        Act::Submit("one\ntwo".into())
    );
    assert_eq!(
        input.event(&key(KeyCode::Up, KeyModifiers::NONE)),
        Act::Edit
    );
    assert_eq!(input.text, "one\ntwo", "the history has it");
    input.text.clear();
    input.cursor = 0;
    assert_eq!(
        input.event(&key(KeyCode::Char('d'), KeyModifiers::CONTROL)),
        Act::Quit
    );
}

#[test]
fn a_room_lists_its_members_as_they_come_and_go() {
    let mut b = buffers();
    b.open(&lobby());
    let users = ["egon", "alex"].map(|n| dgram_proto::chat::UserInfo {
        name: name(n),
        away: None,
    });
    b.note(&Note::Who {
        room: Some(Room::new("lobby").expect("room")),
        users: users.to_vec(),
    });
    let rows = screen(&b, 80, 12);
    assert!(
        has(&rows, "2 here") && has(&rows, " alex") && has(&rows, " egon"),
        "{rows:#?}"
    );
    b.note(&Note::Presence {
        name: name("黎诗"),
        presence: dgram_proto::chat::Presence::Joined(Room::new("lobby").expect("room")),
    });
    b.note(&Note::Presence {
        name: name("alex"),
        presence: dgram_proto::chat::Presence::Offline,
    });
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "2 here") && has(&rows, " 黎诗"), "{rows:#?}");
    assert!(!rows.iter().any(|r| r.ends_with(" alex")), "{rows:#?}");
}

#[test]
fn page_up_scrolls_back_through_what_is_held() {
    let mut b = buffers();
    b.open(&lobby());
    for i in 0..30 {
        b.note(&said("alex", lobby(), &format!("line {i:02}")));
    }
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "line 29") && !has(&rows, "line 20"), "{rows:#?}");
    b.scroll(true, 10);
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "line 19") && !has(&rows, "line 29"), "{rows:#?}");
    b.scroll(true, 100);
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "line 00"), "never past the oldest: {rows:#?}");
    b.scroll(false, 1000);
    assert!(has(&screen(&b, 80, 12), "line 29"));
}

#[test]
fn tab_completes_names_rooms_and_commands() {
    let words: Vec<String> = ["/query", "/quit", "alex", "Alice", "黎诗", "#lobby"]
        .map(str::to_owned)
        .to_vec();
    let typed = |text: &str| {
        let mut input = Input::default();
        input.event(&Event::Paste(text.into()));
        input.complete(&words);
        input.text
    };
    assert_eq!(typed("/qe"), "/qe");
    assert_eq!(typed("/qu"), "/qu");
    assert_eq!(typed("/que"), "/query ");
    assert_eq!(typed("hi 黎"), "hi 黎诗 ");
    assert_eq!(typed("/join #lo"), "/join #lobby ");
    assert_eq!(typed("al"), "al");
    assert_eq!(typed("ali"), "Alice ");
}

#[test]
fn lines_that_name_us_gather_in_the_mentions_buffer() {
    let mut b = buffers();
    b.note(&said("alex", lobby(), "has egon seen this?"));
    b.note(&said("alex", lobby(), "nothing for him"));
    let rows = screen(&b, 80, 12);
    assert!(
        has(&rows, "2 #lobby 2!") && has(&rows, "3 mentions 1!"),
        "{rows:#?}"
    );
    b.select(2);
    let rows = screen(&b, 80, 12);
    assert!(
        has(&rows, "alex: [#lobby] has egon seen this?"),
        "{rows:#?}"
    );
    assert!(!has(&rows, "nothing for him"), "{rows:#?}");
}

#[test]
fn why_says_what_a_cross_stands_for() {
    let mut b = buffers();
    b.open(&lobby());
    let msg = Outgoing {
        req: 4,
        to: lobby(),
        preview: "x".into(),
    };
    b.note(&Note::Sent {
        msg: msg.clone(),
        text: "into the void".into(),
        state: SendState::Sending,
    });
    b.note(&Note::State {
        msg,
        id: None,
        state: SendState::NotDelivered("session ended: timed out".into()),
    });
    assert!(has(&screen(&b, 80, 10), "egon: into the void ✗"));
    b.explain();
    let rows = screen(&b, 80, 10);
    assert!(
        has(&rows, "✗ \"into the void\": session ended: timed out"),
        "{rows:#?}"
    );
}
