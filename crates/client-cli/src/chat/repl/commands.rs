//! What a line typed at the chat prompt means: a slash command with its arguments, the
//! origin's `q` and `quit`, or text (a partner to choose, or a message to send). Parsing only;
//! what each does depends on where the user is, and is the prompt loop's business.

use dgram_proto::chat::{Room, Target};
use dgram_proto::Name;

use crate::chat::{room, target};

/// The commands, their arguments and what they do: for `/help` and for completion.
pub(crate) const COMMANDS: [(&str, &str, &str); 17] = [
    (
        "/msg",
        "NAME|#ROOM TEXT",
        "send one message without changing who you talk to",
    ),
    (
        "/to",
        "NAME|#ROOM",
        "talk to someone else (joins the room if need be)",
    ),
    ("/join", "ROOM", "join a room and talk there"),
    (
        "/part",
        "[ROOM]",
        "leave a room (the current one by default)",
    ),
    ("/rooms", "", "list the rooms"),
    ("/who", "[ROOM]", "who is online, or in a room"),
    (
        "/names",
        "[ROOM]",
        "who is in the room (the current one by default)",
    ),
    ("/topic", "[TEXT]", "show or set the current room's topic"),
    ("/away", "[TEXT]", "set an away message, or clear it"),
    (
        "/history",
        "[N]",
        "the last N messages with whoever you talk to (20)",
    ),
    ("/whois", "NAME", "the address the server sees NAME at"),
    (
        "/say",
        "TEXT",
        "send TEXT as it is, even q, quit or a /command",
    ),
    ("/me", "TEXT", "say what you do: * you TEXT"),
    (
        "/ignore",
        "[NAME]",
        "hide NAME's messages and presence (for this run); list",
    ),
    ("/unignore", "NAME", "show NAME again"),
    ("/help", "", "this list"),
    ("/quit", "", "leave (as do q and Ctrl-D)"),
];

/// History asked for when `/history` names no number, and the most it may ask for.
pub(crate) const HISTORY_DEFAULT: u32 = 20;
const HISTORY_MAX: u32 = 200;

/// A slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cmd {
    Msg {
        to: Target,
        text: String,
    },
    To(Target),
    Join(Room),
    Part(Option<Room>),
    Rooms,
    Who(Option<Room>),
    Names(Option<Room>),
    Say(String),
    Topic(Option<String>),
    Away(Option<String>),
    History(u32),
    Whois(Name),
    /// An action: sent as `/me TEXT`.
    Me(String),
    Ignore(Option<Name>),
    Unignore(Name),
    Help,
    Quit,
}

/// One line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// Blank.
    Empty,
    /// `q`: leave.
    Q,
    /// `quit`: back to choosing a partner.
    Quit,
    /// Anything else that is not a command (a leading `//` stands for a literal `/`).
    Text(String),
    Command(Cmd),
    /// A command used wrongly; what to say.
    Bad(String),
}

/// Parses a line.
pub(crate) fn parse(line: &str) -> Line {
    let trimmed = line.trim();
    match trimmed {
        "" => return Line::Empty,
        "q" => return Line::Q,
        "quit" => return Line::Quit,
        _ => {}
    }
    if let Some(literal) = trimmed.strip_prefix("//") {
        return Line::Text(format!("/{literal}"));
    }
    if !trimmed.starts_with('/') {
        return Line::Text(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let (word, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (trimmed, ""),
    };
    let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let parsed = match word {
        "/msg" | "/m" => match rest.split_once(char::is_whitespace) {
            Some((to, text)) => target(to).map(|to| Cmd::Msg {
                to,
                text: text.trim_start().to_owned(),
            }),
            None => Err("usage: /msg NAME|#ROOM TEXT".to_owned()),
        },
        "/to" | "/query" => match rest {
            "" => Err("usage: /to NAME|#ROOM".to_owned()),
            to => target(to).map(Cmd::To),
        },
        "/join" | "/j" => match rest {
            "" => Err("usage: /join ROOM".to_owned()),
            r => room(r).map(Cmd::Join),
        },
        "/part" | "/leave" => match rest {
            "" => Ok(Cmd::Part(None)),
            r => room(r).map(|r| Cmd::Part(Some(r))),
        },
        "/rooms" | "/list" => Ok(Cmd::Rooms),
        "/who" => match rest {
            "" => Ok(Cmd::Who(None)),
            r => room(r).map(|r| Cmd::Who(Some(r))),
        },
        "/names" => match rest {
            "" => Ok(Cmd::Names(None)),
            r => room(r).map(|r| Cmd::Names(Some(r))),
        },
        "/say" => match rest {
            "" => Err("usage: /say TEXT".to_owned()),
            text => Ok(Cmd::Say(text.to_owned())),
        },
        "/topic" => Ok(Cmd::Topic(optional(rest))),
        "/away" => Ok(Cmd::Away(optional(rest))),
        "/history" => match rest {
            "" => Ok(Cmd::History(HISTORY_DEFAULT)),
            n => match n.parse::<u32>() {
                Ok(n) if (1..=HISTORY_MAX).contains(&n) => Ok(Cmd::History(n)),
                _ => Err(format!("usage: /history [N], N from 1 to {HISTORY_MAX}")),
            },
        },
        "/whois" => match rest {
            "" => Err("usage: /whois NAME".to_owned()),
            n => crate::args::name(n).map(Cmd::Whois),
        },
        "/me" => match rest {
            "" => Err("usage: /me TEXT".to_owned()),
            text => Ok(Cmd::Me(format!("/me {text}"))),
        },
        "/ignore" => match rest {
            "" => Ok(Cmd::Ignore(None)),
            n => crate::args::name(n).map(|n| Cmd::Ignore(Some(n))),
        },
        "/unignore" => match rest {
            "" => Err("usage: /unignore NAME".to_owned()),
            n => crate::args::name(n).map(Cmd::Unignore),
        },
        "/help" | "/?" => Ok(Cmd::Help),
        "/quit" | "/exit" => Ok(Cmd::Quit),
        other => Err(format!(
            "unknown command {other}; /help lists them (start a line with // to send a /)"
        )),
    };
    match parsed {
        Ok(cmd) => Line::Command(cmd),
        Err(why) => Line::Bad(why),
    }
}

/// The `/help` text.
pub(crate) fn help() -> String {
    let mut out = String::from(
        "type a name (or #room) to choose who to chat with, then type messages; \
         quit goes back to choosing, q or Ctrl-D leaves",
    );
    for (cmd, args, what) in COMMANDS {
        let usage = format!("{cmd} {args}");
        out.push_str(&format!("\n  {usage:<24} {what}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Cmd {
        match parse(line) {
            Line::Command(cmd) => cmd,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn the_origins_words() {
        assert_eq!(parse("  "), Line::Empty);
        assert_eq!(parse("q"), Line::Q);
        assert_eq!(parse(" quit "), Line::Quit);
        assert_eq!(parse("quitter"), Line::Text("quitter".into()));
        assert_eq!(parse("  hello  "), Line::Text("  hello  ".into()));
        assert_eq!(parse("//shrug"), Line::Text("/shrug".into()));
    }

    #[test]
    fn commands_and_their_arguments() {
        let alex = Name::new("alex").expect("name");
        assert_eq!(
            cmd("/msg alex  hi there"),
            Cmd::Msg {
                to: Target::User(alex.clone()),
                text: "hi there".into()
            }
        );
        assert_eq!(
            cmd("/to #Lobby"),
            Cmd::To(Target::Room(Room::new("lobby").expect("room")))
        );
        assert_eq!(
            cmd("/join lobby"),
            Cmd::Join(Room::new("lobby").expect("room"))
        );
        assert_eq!(cmd("/part"), Cmd::Part(None));
        assert_eq!(cmd("/who"), Cmd::Who(None));
        assert_eq!(cmd("/names"), Cmd::Names(None));
        assert_eq!(
            cmd("/names #Lobby"),
            Cmd::Names(Some(Room::new("lobby").expect("room")))
        );
        assert_eq!(cmd("/say q"), Cmd::Say("q".into()));
        assert_eq!(cmd("/say  quit "), Cmd::Say("quit".into()));
        assert_eq!(cmd("/topic"), Cmd::Topic(None));
        assert_eq!(
            cmd("/topic new  topic"),
            Cmd::Topic(Some("new  topic".into()))
        );
        assert_eq!(cmd("/away"), Cmd::Away(None));
        assert_eq!(cmd("/history"), Cmd::History(HISTORY_DEFAULT));
        assert_eq!(cmd("/history 5"), Cmd::History(5));
        assert_eq!(cmd("/whois alex"), Cmd::Whois(alex.clone()));
        assert_eq!(cmd("/me waves  hello"), Cmd::Me("/me waves  hello".into()));
        assert_eq!(cmd("/ignore"), Cmd::Ignore(None));
        assert_eq!(cmd("/ignore alex"), Cmd::Ignore(Some(alex.clone())));
        assert_eq!(cmd("/unignore alex"), Cmd::Unignore(alex));
        assert_eq!(cmd("/quit"), Cmd::Quit);
        assert_eq!(cmd("/help"), Cmd::Help);
    }

    #[test]
    fn misuse_says_how() {
        for bad in [
            "/msg alex",
            "/join",
            "/whois",
            "/say",
            "/me",
            "/unignore",
            "/history 0",
            "/history x",
            "/to two words",
        ] {
            assert!(matches!(parse(bad), Line::Bad(_)), "{bad:?} was accepted");
        }
        let Line::Bad(why) = parse("/frobnicate") else {
            panic!("unknown command accepted");
        };
        assert!(why.contains("/help"), "{why}");
        assert!(help().contains("/whois NAME"));
    }
}
