//! Drawing the full-screen client: the topic (or the buffer's name) at the top, the list of
//! buffers on the left with their unread counts (a mention of our name marked `!`), the
//! buffer's lines, each `HH:MM:SS sender: text mark` wrapped at word boundaries under its
//! text, the status line (name, server, connection and lag, the buffer shown) and the input
//! line.
//! Colours only when allowed (`NO_COLOR`); everything others wrote has its control characters
//! escaped.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as Row, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use dgram_client::Lag;
use dgram_proto::chat::Target;

use super::buffers::{Buffer, Buffers, Line, Mark};
use crate::chat::render::colour_of;
use crate::output::printable;

/// The width of the buffer list.
const LIST_WIDTH: u16 = 16;

/// The width of a room's member list.
const MEMBERS_WIDTH: u16 = 14;

/// What the status line says beside the buffers.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub(crate) name: String,
    pub(crate) server: String,
    pub(crate) connected: bool,
    /// The link's lag, asked for every second while connected.
    pub(crate) lag: Option<Lag>,
}

/// Everything drawn, borrowed for one frame.
pub(crate) struct View<'a> {
    pub(crate) buffers: &'a Buffers,
    pub(crate) status: &'a Status,
    pub(crate) input: &'a str,
    /// Where the cursor is in `input`, in characters.
    pub(crate) cursor: usize,
    pub(crate) colour: bool,
    /// The input line's prompt instead of the buffer's name (a question waiting).
    pub(crate) prompt: Option<String>,
}

impl View<'_> {
    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        let [top, middle, status, input] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let current = self.buffers.current();
        let list_width = LIST_WIDTH.min(middle.width / 3);
        // A room's members on the right, once known, when there is room for them.
        let room = matches!(current.target, Some(Target::Room(_))) && !current.members.is_empty();
        let members_width = match room && middle.width >= 60 {
            true => MEMBERS_WIDTH,
            false => 0,
        };
        let [list, body, members] = Layout::horizontal([
            Constraint::Length(list_width),
            Constraint::Min(1),
            Constraint::Length(members_width),
        ])
        .areas(middle);
        let title = match current.topic.is_empty() {
            true => current.title(),
            false => format!("{} — {}", current.title(), printable(&current.topic)),
        };
        frame.render_widget(Paragraph::new(title).style(self.bar()), top);
        frame.render_widget(Paragraph::new(self.list()), list);
        frame.render_widget(Paragraph::new(self.body(current, body)), body);
        if members_width > 0 {
            let names = current
                .members
                .values()
                .map(|n| Row::raw(format!(" {}", n.as_str())));
            let mut rows = vec![Row::styled(
                format!(" {} here", current.members.len()),
                Style::new().add_modifier(Modifier::BOLD),
            )];
            rows.extend(names);
            frame.render_widget(Paragraph::new(rows), members);
        }
        frame.render_widget(Paragraph::new(self.status()).style(self.bar()), status);
        let prompt = (self.prompt.clone()).unwrap_or_else(|| format!("[{}] ", current.title()));
        let shown = format!("{prompt}{}", self.input);
        frame.render_widget(Paragraph::new(shown), input);
        let col = prompt.chars().count() + self.cursor;
        let x = input.x
            + u16::try_from(col)
                .unwrap_or(u16::MAX)
                .min(input.width.saturating_sub(1));
        frame.set_cursor_position(Position::new(x, input.y));
    }

    fn bar(&self) -> Style {
        match self.colour {
            true => Style::new().bg(Color::Indexed(24)).fg(Color::White),
            false => Style::new().add_modifier(Modifier::REVERSED),
        }
    }

    /// `1 server`, `2 #lobby 3`, `3 alex 1!`: number, name, unread count, mention.
    fn list(&self) -> Vec<Row<'static>> {
        let rows = self.buffers.list.iter().enumerate().map(|(i, b)| {
            let mut text = format!("{} {}", i + 1, b.title());
            if b.unread > 0 {
                text.push_str(&format!(" {}", b.unread));
            }
            if b.mentioned {
                text.push('!');
            }
            let mut style = Style::new();
            if i == self.buffers.current {
                style = style.add_modifier(Modifier::REVERSED);
            } else if b.mentioned && self.colour {
                style = style.fg(Color::Indexed(203)).add_modifier(Modifier::BOLD);
            } else if b.mentioned || b.unread > 0 {
                style = style.add_modifier(Modifier::BOLD);
            }
            Row::styled(text, style)
        });
        rows.collect()
    }

    /// The lines of the buffer that fit, wrapped to the width: the newest, or as far back as
    /// it is scrolled (never past the oldest line held).
    fn body(&self, buffer: &Buffer, area: Rect) -> Vec<Row<'static>> {
        let width = usize::from(area.width.max(10));
        let height = usize::from(area.height);
        let want = height.saturating_add(buffer.scroll);
        let mut rows: Vec<Row<'static>> = Vec::new();
        // From the newest back, until the screen (and the scroll) is full.
        for line in buffer.lines.iter().rev() {
            let mut wrapped = self.rows(line, width);
            wrapped.append(&mut rows);
            rows = wrapped;
            if rows.len() >= want {
                break;
            }
        }
        let back = buffer.scroll.min(rows.len().saturating_sub(height));
        rows.truncate(rows.len() - back);
        let extra = rows.len().saturating_sub(height);
        rows.split_off(extra)
    }

    /// One line as rows: the time and the sender (in their colour) on the first, the text
    /// wrapped at word boundaries under itself, the mark at the end.
    fn rows(&self, line: &Line, width: usize) -> Vec<Row<'static>> {
        // An action (`/me waves`) reads `* egon waves`.
        let action = line
            .from
            .as_ref()
            .and(crate::chat::ignore::action(&line.text));
        let from = line.from.as_ref().map(|f| match action {
            Some(_) => format!("* {} ", f.as_str()),
            None => format!("{}: ", f.as_str()),
        });
        let head = format!("{} {}", line.time, from.clone().unwrap_or_default());
        let mut text = printable(&action.unwrap_or(&line.text).replace('\n', " "));
        if line.mark != Mark::None {
            text.push(' ');
            text.push_str(line.mark.symbol());
        }
        let indent = " ".repeat(9);
        let options = textwrap::Options::new(width)
            .initial_indent(&head)
            .subsequent_indent(&indent)
            .wrap_algorithm(textwrap::WrapAlgorithm::FirstFit);
        let wrapped = textwrap::wrap(&text, options);
        let mut rows = Vec::new();
        for (i, row) in wrapped.iter().enumerate() {
            let row = row.to_string();
            if i > 0 || from.is_none() || !row.starts_with(&head) {
                rows.push(Row::raw(row));
                continue;
            }
            let sender_style = match (&line.from, self.colour) {
                (Some(f), true) => Style::new().fg(Color::Indexed(colour_of(f))),
                _ => Style::new().add_modifier(Modifier::BOLD),
            };
            let sender = from.clone().unwrap_or_default();
            rows.push(Row::from(vec![
                Span::raw(format!("{} ", line.time)),
                Span::styled(sender, sender_style),
                Span::raw(row[head.len()..].to_owned()),
            ]));
        }
        rows
    }

    fn status(&self) -> String {
        let s = self.status;
        let state = match (s.connected, s.lag) {
            (true, Some(lag)) => format!("connected · {}", lag_text(&lag)),
            (true, None) => "connected".to_owned(),
            (false, _) => "reconnecting…".to_owned(),
        };
        let i = self.buffers.current + 1;
        let failed = match &self.buffers.current().lines.back().map(|l| &l.mark) {
            Some(Mark::Failed(why)) => format!(" · last message failed: {}", printable(why)),
            _ => String::new(),
        };
        format!(
            " {} @ {} · {state} · [{i}] {}{failed}",
            s.name,
            s.server,
            self.buffers.current().title()
        )
    }
}

/// The lag as the status line says it: the round trip (`lag 12ms`), or, once an answer is
/// overdue, how long it has been awaited (`lag 4.2s?`, as irssi's `(??)`: the link may be
/// gone, and the session gives up on it after 8 s of silence).
pub(crate) fn lag_text(lag: &Lag) -> String {
    match (lag.stale(), lag.waiting, lag.rtt) {
        (true, Some(waiting), _) => format!("lag {:.1}s?", waiting.as_secs_f64()),
        (_, _, Some(rtt)) if rtt.as_millis() < 1000 => format!("lag {}ms", rtt.as_millis()),
        (_, _, Some(rtt)) => format!("lag {:.1}s", rtt.as_secs_f64()),
        (_, _, None) => "lag ?".to_owned(),
    }
}
