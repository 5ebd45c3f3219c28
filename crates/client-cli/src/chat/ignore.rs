//! `/ignore NAME`: whom this client does not show, as IRC clients' ignore lists. It is the
//! client's own (the server still delivers, and the sender sees their messages delivered),
//! kept for the run: new messages from an ignored name and news of their presence are not
//! shown, in the line client and the full-screen one alike; what `/history` brings back is.

use std::collections::BTreeMap;

use dgram_client::Note;
use dgram_proto::Name;

/// The names ignored, by key.
#[derive(Debug, Default)]
pub(crate) struct Ignored(BTreeMap<String, Name>);

impl Ignored {
    /// `/ignore NAME` (`None`: list them); what to say.
    pub(crate) fn ignore(&mut self, name: Option<Name>) -> String {
        let Some(name) = name else {
            return match self.0.is_empty() {
                true => "ignoring nobody".to_owned(),
                false => {
                    let names: Vec<&str> = self.0.values().map(Name::as_str).collect();
                    format!("ignoring {}", names.join(", "))
                }
            };
        };
        let said = format!("ignoring {name} (for this run; /unignore {name} undoes it)");
        self.0.insert(name.key().to_owned(), name);
        said
    }

    /// `/unignore NAME`; what to say.
    pub(crate) fn unignore(&mut self, name: &Name) -> String {
        match self.0.remove(name.key()) {
            Some(name) => format!("showing {name} again"),
            None => format!("{name} is not ignored"),
        }
    }

    /// Whether `note` is from, or about, someone ignored.
    pub(crate) fn hides(&self, note: &Note) -> bool {
        let name = match note {
            Note::Message { posted, .. } => &posted.from,
            Note::Presence { name, .. } => name,
            _ => return false,
        };
        self.0.contains_key(name.key())
    }
}

/// A message that is an action (`/me waves`): the words after `/me `. The protocol carries
/// text only, so an action travels as its command, which a client that does not know it
/// shows as typed.
pub(crate) fn action(text: &str) -> Option<&str> {
    text.strip_prefix("/me ")
        .filter(|rest| !rest.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use dgram_proto::chat::{Posted, Presence, Target};

    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    fn from(who: &str) -> Note {
        let posted = Posted {
            id: 1,
            ts: 0,
            from: name(who),
            to: Target::User(name("egon")),
            text: "hi".into(),
        };
        Note::Message {
            posted,
            replay: false,
        }
    }

    #[test]
    fn an_ignored_name_is_hidden_until_unignored() {
        let mut ignored = Ignored::default();
        assert_eq!(ignored.ignore(None), "ignoring nobody");
        assert!(ignored
            .ignore(Some(name("Spammer")))
            .starts_with("ignoring Spammer"));
        assert!(ignored.hides(&from("spammer")), "by key, whatever the case");
        assert!(!ignored.hides(&from("alex")));
        let presence = Note::Presence {
            name: name("spammer"),
            presence: Presence::Online,
        };
        assert!(ignored.hides(&presence));
        assert_eq!(ignored.ignore(None), "ignoring Spammer");
        assert_eq!(ignored.unignore(&name("spammer")), "showing Spammer again");
        assert!(!ignored.hides(&from("spammer")));
        assert_eq!(ignored.unignore(&name("spammer")), "spammer is not ignored");
    }

    #[test]
    fn an_action_is_the_words_after_me() {
        assert_eq!(action("/me waves"), Some("waves"));
        assert_eq!(action("/me "), None);
        assert_eq!(action("/meh"), None);
        assert_eq!(action("hello /me"), None);
    }
}
