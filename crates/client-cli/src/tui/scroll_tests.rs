//! The full-screen client's scroll-back, mouse, resizing and status line, drawn to ratatui's
//! test backend: the wheel scrolls as PageUp does, a resized terminal is drawn at its new size,
//! scrolling back past what is held asks for the history before the oldest message again and
//! again until the conversation's start (within a bounded buffer), the lag shows in the status
//! line, a text over the limit is offered with its count, and presence news goes to the DM.

use std::time::Duration;

use crossterm::event::{Event, KeyModifiers, MouseEvent, MouseEventKind};
use dgram_client::{Lag, Note};
use dgram_proto::chat::{Posted, Presence, Target};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::commands::Offer;
use super::history::{HISTORY_ASK, KEEP};
use super::input::{Act, Input, WHEEL};
use super::tests::{buffers, draw, has, lobby, name, said, screen, status};
use super::view::lag_text;

fn wheel(kind: MouseEventKind) -> Event {
    Event::Mouse(MouseEvent {
        kind,
        column: 20,
        row: 5,
        modifiers: KeyModifiers::NONE,
    })
}

fn posted(id: u64, text: &str) -> Posted {
    Posted {
        id,
        ts: 0,
        from: name("alex"),
        to: lobby(),
        text: text.to_owned(),
    }
}

fn message(id: u64, text: &str) -> Note {
    Note::Message {
        posted: posted(id, text),
        replay: false,
    }
}

#[test]
fn the_mouse_wheel_scrolls_the_buffer_shown() {
    let mut input = Input::default();
    let up = input.event(&wheel(MouseEventKind::ScrollUp));
    assert_eq!(
        up,
        Act::Scroll {
            up: true,
            rows: WHEEL
        }
    );
    let down = input.event(&wheel(MouseEventKind::ScrollDown));
    assert_eq!(
        down,
        Act::Scroll {
            up: false,
            rows: WHEEL
        }
    );
    assert_eq!(input.event(&wheel(MouseEventKind::Moved)), Act::Other);

    let mut b = buffers();
    b.open(&lobby());
    for i in 0..30 {
        b.note(&said("alex", lobby(), &format!("line {i:02}")));
    }
    assert!(has(&screen(&b, 80, 12), "line 29"));
    // Four turns up: twelve rows back, as the loop applies what the wheel asks.
    for _ in 0..4 {
        let Act::Scroll { up, rows } = input.event(&wheel(MouseEventKind::ScrollUp)) else {
            panic!("the wheel scrolls");
        };
        b.scroll(up, rows);
    }
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "line 17") && !has(&rows, "line 18"), "{rows:#?}");
    b.scroll(false, WHEEL * 4);
    assert!(has(&screen(&b, 80, 12), "line 29"));
}

#[test]
fn a_resized_terminal_is_drawn_at_its_new_size() {
    let mut input = Input::default();
    assert_eq!(input.event(&Event::Resize(40, 12)), Act::Other, "a redraw");
    let mut b = buffers();
    b.open(&lobby());
    b.note(&Note::Who {
        room: Some(dgram_proto::chat::Room::new("lobby").expect("room")),
        users: vec![dgram_proto::chat::UserInfo {
            name: name("alex"),
            away: None,
        }],
    });
    let text = "a line long enough to need wrapping once the terminal is made narrow";
    b.note(&said("alex", lobby(), text));
    let mut terminal = Terminal::new(TestBackend::new(100, 12)).expect("a test terminal");
    let wide = draw(&mut terminal, &b, &status(), None);
    assert!(
        has(&wide, "1 here"),
        "the member list at 100 columns: {wide:#?}"
    );
    assert!(
        has(&wide, "alex: a line long enough to need wrapping"),
        "{wide:#?}"
    );

    terminal.backend_mut().resize(40, 16);
    let narrow = draw(&mut terminal, &b, &status(), None);
    assert_eq!(narrow.len(), 16);
    assert!(
        narrow.iter().all(|r| r.chars().count() <= 40),
        "{narrow:#?}"
    );
    assert!(!has(&narrow, "1 here"), "no member list at 40: {narrow:#?}");
    for word in text.split(' ') {
        let whole = narrow.iter().any(|r| r.split(' ').any(|w| w == word));
        assert!(whole, "{word:?} was cut: {narrow:#?}");
    }
    assert!(
        has(&narrow, "connected"),
        "the status line stays: {narrow:#?}"
    );

    terminal.backend_mut().resize(100, 12);
    assert_eq!(draw(&mut terminal, &b, &status(), None), wide, "and back");
}

#[test]
fn scrolling_back_asks_before_the_oldest_until_the_start() {
    let mut b = buffers();
    b.open(&lobby());
    b.note(&message(500, "held here"));
    assert_eq!(b.wants_history(), None, "not scrolled back yet");
    b.scroll(true, 10);
    assert_eq!(b.wants_history(), Some((lobby(), Some(500))));
    assert_eq!(b.wants_history(), None, "one request at a time");
    let page: Vec<Posted> = (300..500).map(|i| posted(i, &format!("m{i}"))).collect();
    b.note(&Note::History {
        with: lobby(),
        messages: page,
    });
    assert_eq!(b.current().lines.len(), 201, "in front, no notice line");
    // Still short of the oldest line: nothing to ask.
    assert_eq!(b.wants_history(), None);
    b.scroll(true, 300);
    assert_eq!(
        b.wants_history(),
        Some((lobby(), Some(300))),
        "the next page"
    );
    let page: Vec<Posted> = (290..300).map(|i| posted(i, &format!("m{i}"))).collect();
    b.note(&Note::History {
        with: lobby(),
        messages: page,
    });
    b.scroll(true, 300);
    assert_eq!(b.wants_history(), Some((lobby(), Some(290))));
    b.note(&Note::History {
        with: lobby(),
        messages: Vec::new(),
    });
    b.scroll(true, 300);
    assert_eq!(b.wants_history(), None, "the start was reached");
    let rows = screen(&b, 80, 12);
    assert!(
        has(&rows, "the start of the conversation with #lobby"),
        "{rows:#?}"
    );
    assert!(has(&rows, "m290"), "{rows:#?}");
    b.scroll(false, 10_000);
    let rows = screen(&b, 80, 12);
    let at = |text: &str| rows.iter().position(|r| r.contains(text));
    assert!(
        at("m499") < at("held here") && at("m499").is_some(),
        "{rows:#?}"
    );
}

#[test]
fn a_buffer_never_holds_more_than_its_cap() {
    let mut b = buffers();
    b.open(&lobby());
    let first = 10_000;
    let keep = KEEP as u64;
    for id in first..first + keep + 50 {
        b.note(&message(id, &format!("m{id}")));
    }
    assert_eq!(
        b.current().lines.len(),
        KEEP,
        "the newest push the oldest out"
    );
    b.scroll(true, KEEP * 3);
    assert_eq!(b.wants_history(), None, "a full buffer asks for no more");

    // One short of full: a page of history fills it, and says the rest is not kept.
    let mut b = buffers();
    b.open(&lobby());
    for id in first..first + keep - 10 {
        b.note(&message(id, &format!("m{id}")));
    }
    b.scroll(true, KEEP * 3);
    let Some((with, before)) = b.wants_history() else {
        panic!("scrolled back past what is held");
    };
    assert_eq!(before, Some(first));
    let page: Vec<Posted> = (first - u64::from(HISTORY_ASK)..first)
        .map(|i| posted(i, &format!("m{i}")))
        .collect();
    b.note(&Note::History {
        with,
        messages: page,
    });
    assert_eq!(b.current().lines.len(), KEEP + 1, "the cap and its notice");
    assert_eq!(b.wants_history(), None);
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "older lines are not kept here"), "{rows:#?}");
    assert!(
        has(&rows, &format!("m{}", first - 9)),
        "the newest of the page: {rows:#?}"
    );
}

#[test]
fn the_status_line_shows_the_lag_and_a_stale_link() {
    let ms = Duration::from_millis;
    let fresh = Lag {
        rtt: Some(ms(12)),
        waiting: None,
    };
    assert_eq!(lag_text(&fresh), "lag 12ms");
    let slow = Lag {
        rtt: Some(ms(1500)),
        waiting: Some(ms(200)),
    };
    assert_eq!(lag_text(&slow), "lag 1.5s");
    let stale = Lag {
        rtt: Some(ms(12)),
        waiting: Some(ms(4200)),
    };
    assert_eq!(lag_text(&stale), "lag 4.2s?");
    assert_eq!(lag_text(&Lag::default()), "lag ?");

    let b = buffers();
    let mut shown = status();
    shown.lag = Some(stale);
    let mut terminal = Terminal::new(TestBackend::new(80, 8)).expect("a test terminal");
    let rows = draw(&mut terminal, &b, &shown, None);
    assert!(
        has(&rows, "egon @ 127.0.0.1:8081 · connected · lag 4.2s?"),
        "{rows:#?}"
    );
    shown.connected = false;
    let rows = draw(&mut terminal, &b, &shown, None);
    assert!(
        has(&rows, "reconnecting…") && !has(&rows, "lag"),
        "{rows:#?}"
    );
}

#[test]
fn a_text_over_the_limit_is_offered_with_its_count_first() {
    let text = "word ".repeat(2000);
    let offer = Offer::new(lobby(), text.clone());
    assert_eq!(offer.parts, 3, "10000 bytes in parts of 4096 at most");
    assert!(
        offer.question().contains("10000 bytes") && offer.question().contains("as 3 messages?"),
        "{}",
        offer.question()
    );
    let mut b = buffers();
    b.open(&lobby());
    b.note_here(offer.question());
    let mut terminal = Terminal::new(TestBackend::new(80, 8)).expect("a test terminal");
    let rows = draw(&mut terminal, &b, &status(), Some(offer.prompt()));
    assert!(has(&rows, "[send as 3 messages? y/n]"), "{rows:#?}");
    assert!(has(&rows, "send it as 3"), "{rows:#?}");
}

#[test]
fn presence_news_goes_where_we_talk_with_them() {
    let mut b = buffers();
    b.note(&said("alex", Target::User(name("egon")), "hi"));
    let away = Note::Presence {
        name: name("alex"),
        presence: Presence::Away("lunch".into()),
    };
    b.note(&away);
    let gone = Note::Presence {
        name: name("黎诗"),
        presence: Presence::Offline,
    };
    b.note(&gone);
    let rows = screen(&b, 80, 12);
    assert!(
        has(&rows, "2 alex 1"),
        "the message is unread, not the news: {rows:#?}"
    );
    b.select(1);
    let rows = screen(&b, 80, 12);
    assert!(
        has(&rows, "alex is away: lunch"),
        "in the DM buffer: {rows:#?}"
    );
    assert!(!has(&rows, "黎诗"), "{rows:#?}");
    b.select(0);
    let rows = screen(&b, 80, 12);
    assert!(has(&rows, "黎诗 went offline"), "no DM buffer: {rows:#?}");
}
