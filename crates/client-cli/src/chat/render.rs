//! How notes read as lines of text: the local time as HH:MM:SS, a `[DM]` or `[#room]`
//! marker, the sender's name in a colour of its own, and the text. Colour (ANSI 256) only goes
//! to terminals; whatever others wrote is shown with its control characters escaped, because
//! raw escape sequences in a message could rewrite the reader's terminal.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;

use chrono::{DateTime, Local};
use dgram_proto::chat::{Posted, Presence, RoomInfo, Target, UserInfo};
use dgram_proto::Name;

use crate::output::printable;
use dgram_client::{Elsewhere, LookupFailed, Moved, Note, Outgoing, SendState};

/// Readable on dark and light backgrounds alike: no near-black, near-white or grey.
const PALETTE: [u8; 24] = [
    33, 39, 45, 69, 75, 99, 105, 135, 141, 166, 172, 178, 202, 208, 214, 34, 40, 70, 76, 106, 112,
    160, 169, 197,
];

/// Where continuation lines of a message start: under the text, past `HH:MM:SS `.
const INDENT: &str = "         ";

/// Turns notes into lines.
#[derive(Debug, Clone)]
pub(crate) struct Render {
    /// The server that later notes speak of: the one at start, then wherever the last
    /// [`Note::Moved`] rendered said. Notes are rendered in order, so each line names the
    /// address it was about, even when the front end reads behind the link.
    server: Cell<SocketAddr>,
    color: bool,
    /// Where each sender is seen, by name key, as the origin showed it on every line
    /// (`来自[127.0.0.1:5000]`): filled by the prompt's lookups, empty when it is turned off.
    addrs: RefCell<HashMap<String, String>>,
}

impl Render {
    pub(crate) fn new(server: SocketAddr, color: bool) -> Self {
        Self {
            server: Cell::new(server),
            color,
            addrs: RefCell::new(HashMap::new()),
        }
    }

    /// From now on, lines from `name` say where the server sees them (the first of their
    /// sessions' addresses, and how many more there are).
    pub(crate) fn learn_address(&self, name: &Name, addrs: &[String]) {
        let Some(first) = addrs.first() else { return };
        let more = match addrs.len() {
            1 => String::new(),
            n => format!(" +{}", n - 1),
        };
        let shown = format!(" 来自[{}]{more}", printable(first));
        self.addrs.borrow_mut().insert(name.key().to_owned(), shown);
    }

    /// The lines for `note` (several for lists), without a final newline; `me` is our name.
    pub(crate) fn note(&self, note: &Note, me: &Name) -> String {
        let now = clock(None);
        let server = self.server.get();
        match note {
            Note::Connected { first: true, .. } => format!("connected to {server}"),
            Note::Connected { resumed: true, .. } => "session resumed".to_owned(),
            Note::Connected { .. } => format!("connected to {server} again"),
            Note::Disconnected { reason } => format!(
                "disconnected from {} ({}); reconnecting, and what you send waits until then",
                server,
                printable(reason)
            ),
            Note::Moved(Moved { given, from, to }) => {
                self.server.set(*to);
                if dgram_client::follow::servers(given).len() > 1 {
                    format!(
                        "{from} does not answer; trying {to} (of {})",
                        printable(given)
                    )
                } else {
                    format!(
                        "{} now resolves to {to} (was {from}); trying there",
                        printable(given)
                    )
                }
            }
            Note::LookupFailed(LookupFailed { given, reason, .. })
                if server.ip() == crate::args::UNRESOLVED =>
            {
                format!(
                    "could not look {} up yet ({}); looking again every few seconds",
                    printable(given),
                    printable(reason)
                )
            }
            Note::LookupFailed(LookupFailed {
                given,
                reason,
                trying,
            }) => format!(
                "could not look {} up again ({}); still trying {trying}, and the name every few \
                 seconds",
                printable(given),
                printable(reason)
            ),
            Note::Welcome {
                name,
                online,
                claimed,
                again,
                rejoining,
            } => self.welcome(name, online, *claimed, *again, rejoining),
            Note::Refused { message, .. } => format!("name refused: {}", printable(message)),
            Note::Message { posted, replay } => self.message(posted, *replay, me),
            Note::Presence { name, presence } => {
                format!("{now} * {} {}", self.name(name), presence_text(presence))
            }
            Note::Sent { msg, text, state } => self.sent(&now, msg, text, state, me),
            Note::State { msg, id, state } => self.state(msg, *id, state),
            Note::Receipt { id, about, state } => self.receipt(*id, about.as_ref(), state),
            Note::Joined { room, auto: false } => format!("joined #{room}"),
            Note::Joined { room, auto: true } => format!("joined #{room} again"),
            Note::Parted { room } => format!("left #{room}"),
            Note::Rooms(rooms) => rooms_text(rooms),
            Note::Who { room: None, users } => format!("在线 / online {}", self.users(users)),
            Note::Who {
                room: Some(room),
                users,
            } => format!("in #{room} {}", self.users(users)),
            Note::Topic { room, topic } if topic.is_empty() => format!("#{room} has no topic"),
            Note::Topic { room, topic } => format!("#{room} topic: {}", printable(topic)),
            Note::Away(Some(text)) => format!("you are away: {}", printable(text)),
            Note::Away(None) => "you are back".to_owned(),
            Note::History { with, messages } => self.history(with, messages, me),
            Note::Whois { name, addrs, away } => whois(name, addrs, away.as_deref()),
            Note::Failed { what, reason } => format!("{what} failed: {}", printable(reason)),
            Note::Error { message } => format!("error: {}", printable(message)),
        }
    }

    /// One of our messages, as typed, and where it stands.
    fn sent(&self, now: &str, msg: &Outgoing, text: &str, state: &SendState, me: &Name) -> String {
        let marker = marker(&msg.to);
        let me = self.name(me);
        let text = body(text);
        let state = state.label();
        match &msg.to {
            Target::User(to) => {
                let to = self.name(to);
                format!("{now} {marker} {me} → {to}: {text}  ({state})")
            }
            Target::Room(_) => format!("{now} {marker} {me}: {text}  ({state})"),
        }
    }

    /// A conversation's history: a heading, then one line (or more) per message.
    fn history(&self, with: &Target, messages: &[Posted], me: &Name) -> String {
        if messages.is_empty() {
            return format!("no history with {with}");
        }
        let n = messages.len();
        let plural = if n == 1 { "" } else { "s" };
        let mut out = format!("history with {with} ({n} message{plural}):");
        for posted in messages {
            out.push('\n');
            out.push_str(&self.message(posted, false, me));
        }
        out
    }

    fn welcome(
        &self,
        name: &Name,
        online: &[UserInfo],
        claimed: bool,
        again: bool,
        rejoining: &[dgram_proto::chat::Room],
    ) -> String {
        let name = self.name(name);
        if again {
            let rooms: Vec<String> = rejoining.iter().map(|r| format!("#{r}")).collect();
            // A server that forgot its claims (no durable state) hands out a new key.
            let claim = if claimed {
                " (claimed anew; the new key is saved)"
            } else {
                ""
            };
            return match rooms.is_empty() {
                true => format!("reconnected as {name}{claim}"),
                false => format!(
                    "reconnected as {name}{claim}; joining {} again",
                    rooms.join(" ")
                ),
            };
        }
        let claim = if claimed {
            " (the name is yours now; its key is saved)"
        } else {
            ""
        };
        format!(
            "welcome, {name}{claim}\n在线 / online {}",
            self.users(online)
        )
    }

    fn message(&self, posted: &Posted, replay: bool, me: &Name) -> String {
        let time = clock(Some(posted.ts));
        let marker = marker(&posted.to);
        let earlier = if replay { " (earlier)" } else { "" };
        let mut from = self.name(&posted.from);
        if let Some(addr) = self.addrs.borrow().get(posted.from.key()) {
            from.push_str(addr);
        }
        let text = body(&posted.text);
        if let Some(act) = crate::chat::ignore::action(&posted.text) {
            return format!("{time} {marker}{earlier} * {from} {}", body(act));
        }
        match &posted.to {
            // Our own DM, seen from another of our sessions: say who it went to.
            Target::User(to) if posted.from == *me && to != me => {
                format!(
                    "{time} {marker}{earlier} {from} → {}: {text}",
                    self.name(to)
                )
            }
            _ => format!("{time} {marker}{earlier} {from}: {text}"),
        }
    }

    fn state(&self, msg: &Outgoing, id: Option<u64>, state: &SendState) -> String {
        let mark = mark(state);
        let id = id.map(|id| format!(" #{id}")).unwrap_or_default();
        format!(
            "{} {} → {} \"{}\"{id}: {mark}{}",
            clock(None),
            marker(&msg.to),
            self.target(&msg.to),
            printable(&msg.preview),
            printable(&state.label())
        )
    }

    /// A receipt for a message our name sent from another session: what it was, when this
    /// session saw it, and that it came from elsewhere.
    fn receipt(&self, id: u64, about: Option<&Elsewhere>, state: &SendState) -> String {
        let state = format!("{}{}", mark(state), printable(&state.label()));
        match about {
            Some(about) => format!(
                "{} {} → {} \"{}\" #{id} (sent from another session): {state}",
                clock(None),
                marker(&about.to),
                self.target(&about.to),
                printable(&about.preview),
            ),
            None => format!(
                "{} a message sent from another session (#{id}): {state}",
                clock(None)
            ),
        }
    }

    fn users(&self, users: &[UserInfo]) -> String {
        let names: Vec<String> = users
            .iter()
            .map(|u| match &u.away {
                Some(away) => format!("{} (away: {})", self.name(&u.name), printable(away)),
                None => self.name(&u.name),
            })
            .collect();
        match names.is_empty() {
            true => "(0): nobody".to_owned(),
            false => format!("({}): {}", names.len(), names.join(", ")),
        }
    }

    /// A name in its own colour: the same name gets the same colour in every run.
    pub(crate) fn name(&self, name: &Name) -> String {
        if !self.color {
            return name.as_str().to_owned();
        }
        format!("\x1b[38;5;{}m{}\x1b[0m", colour_of(name), name.as_str())
    }

    fn target(&self, target: &Target) -> String {
        match target {
            Target::User(name) => self.name(name),
            Target::Room(room) => format!("#{room}"),
        }
    }
}

/// The palette entry for a name, by a stable hash of its case-folded key (FNV-1a, not std's
/// hasher, whose keys change every run).
pub(crate) fn colour_of(name: &Name) -> u8 {
    let mut h: u32 = 0x811C_9DC5;
    for b in name.key().as_bytes() {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    PALETTE[(h % PALETTE.len() as u32) as usize]
}

/// What goes before a send state: a tick for delivered, a cross for failed.
fn mark(state: &SendState) -> &'static str {
    match state {
        SendState::Delivered => "✓ ",
        SendState::NotDelivered(_) | SendState::Refused { .. } => "✗ ",
        SendState::Queued | SendState::Sending | SendState::Accepted | SendState::Held(_) => "",
    }
}

/// `[DM]` or `[#room]`.
pub(crate) fn marker(to: &Target) -> String {
    match to {
        Target::User(_) => "[DM]".to_owned(),
        Target::Room(room) => format!("[#{room}]"),
    }
}

/// Local time as HH:MM:SS: of `ts_ms` (UTC milliseconds since the epoch), or of now.
pub(crate) fn clock(ts_ms: Option<u64>) -> String {
    let at = ts_ms
        .and_then(|ms| i64::try_from(ms).ok())
        .and_then(DateTime::from_timestamp_millis)
        .map(|utc| utc.with_timezone(&Local))
        .unwrap_or_else(Local::now);
    at.format("%H:%M:%S").to_string()
}

/// A message's text: line breaks kept (indented under the first line), other control
/// characters escaped.
fn body(text: &str) -> String {
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join(&format!("\n{INDENT}"))
}

fn presence_text(presence: &Presence) -> String {
    match presence {
        Presence::Online => "is online".to_owned(),
        Presence::Offline => "went offline".to_owned(),
        Presence::Away(text) => format!("is away: {}", printable(text)),
        Presence::Back => "is back".to_owned(),
        Presence::Joined(room) => format!("joined #{room}"),
        Presence::Left(room) => format!("left #{room}"),
    }
}

fn rooms_text(rooms: &[RoomInfo]) -> String {
    if rooms.is_empty() {
        return "no rooms yet; /join ROOM makes one".to_owned();
    }
    let mut out = format!("rooms ({}):", rooms.len());
    for r in rooms {
        out.push_str(&format!("\n  #{} ({} in)", r.room, r.members));
        if !r.topic.is_empty() {
            out.push_str(&format!(" {}", printable(&r.topic)));
        }
    }
    out
}

/// Where the server sees a user, in English and the way the origin printed a peer:
/// `来自[127.0.0.1:5000]`.
fn whois(name: &Name, addrs: &[String], away: Option<&str>) -> String {
    let away = away
        .map(|a| format!(" (away: {})", printable(a)))
        .unwrap_or_default();
    if addrs.is_empty() {
        return format!("whois {name}: not online{away}");
    }
    let lines: Vec<String> = addrs
        .iter()
        .map(|a| {
            let a = printable(a);
            format!("whois {name}: address {a} 来自[{a}]{away}")
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests;
