//! The full-screen client as a whole, its session pointed where nothing answers: a paste over
//! the limit goes in parts only on a yes (a no gives the text back), an action reads as done,
//! and `/ignore` hides a name until `/unignore`.

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use dgram_client::Note;

use super::input::Input;
use super::tests::{has, lobby, name, said, status};

/// A full-screen client whose session points where nothing answers: what it asks waits.
async fn tui(home: &std::path::Path) -> super::Tui {
    use dgram_client::{Identity, KeyFile, ServerTarget, Session};
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().expect("literal");
    let id = Identity {
        server: ServerTarget::new("127.0.0.1:9", addr),
        keys: KeyFile::new(home, "127.0.0.1:9", &name("egon")),
        name: name("egon"),
        key: dgram_client::process_identity(),
    };
    let session = Session::open(&id).await.expect("a session");
    let render = crate::chat::render::Render::new(addr, false);
    super::Tui {
        session,
        buffers: super::buffers::Buffers::new(name("egon"), render),
        status: status(),
        input: Input::default(),
        colour: false,
        offer: None,
        ignored: crate::chat::ignore::Ignored::default(),
    }
}

/// The texts of the messages the client has asked to send.
fn sent(tui: &mut super::Tui) -> Vec<String> {
    let actions = std::iter::from_fn(|| tui.session.chat.poll_action());
    let sent = actions.filter_map(|a| match a {
        dgram_client::Action::Show(Note::Sent { text, .. }) => Some(text),
        _ => None,
    });
    sent.collect()
}

#[tokio::test]
async fn a_long_paste_goes_in_parts_only_on_a_yes() {
    let home = tempfile::tempdir().expect("a temporary directory");
    let mut tui = tui(home.path()).await;
    tui.line("/join lobby");
    sent(&mut tui);
    let text = "word ".repeat(2000);
    tui.line(&text);
    assert!(sent(&mut tui).is_empty(), "nothing goes before the answer");
    assert_eq!(tui.offer.as_ref().map(|o| o.parts), Some(3));
    let rows = tui.view_rows();
    assert!(has(&rows, "send it as 3"), "{rows:#?}");
    tui.line("n");
    assert!(sent(&mut tui).is_empty(), "a no sends nothing");
    assert_eq!(tui.input.text, text, "and gives the text back to edit");
    assert!(tui.offer.is_none());

    tui.input.text.clear();
    tui.line(&text);
    tui.line("y");
    let parts = sent(&mut tui);
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(
        parts.concat().split_whitespace().count(),
        2000,
        "every word, once"
    );
    tui.session.close().await.expect("close");
}

impl super::Tui {
    /// The screen as drawn now, 80 by 12.
    fn view_rows(&self) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(80, 12)).expect("a test terminal");
        let view = self.view();
        terminal.draw(|f| view.draw(f)).expect("drawn");
        let buffer = terminal.backend().buffer();
        let rows = (0..12).map(|y| (0..80).map(|x| buffer[(x, y)].symbol()).collect::<String>());
        rows.collect()
    }
}

#[tokio::test]
async fn an_action_reads_as_done_and_an_ignored_name_is_not_shown() {
    let home = tempfile::tempdir().expect("a temporary directory");
    let mut tui = tui(home.path()).await;
    tui.line("/ignore spammer");
    tui.note(&said("spammer", lobby(), "buy now"));
    tui.note(&said("alex", lobby(), "/me waves"));
    tui.buffers.open(&lobby());
    let rows = tui.view_rows();
    assert!(has(&rows, "* alex waves"), "{rows:#?}");
    assert!(!has(&rows, "buy now"), "{rows:#?}");
    tui.line("/unignore spammer");
    tui.note(&said("spammer", lobby(), "buy later"));
    assert!(has(&tui.view_rows(), "spammer: buy later"));
    tui.session.close().await.expect("close");
}
