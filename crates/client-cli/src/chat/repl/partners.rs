//! Who the user chats with, as far as the prompt needs to know beyond the state machine: a
//! name chosen at the picker that is not online is checked at once (a `Whois`: an unknown
//! name is said, with the names online offered, and the picker comes back), and the address
//! each DM partner is seen at is looked up once (also by `Whois`: the server does not send
//! addresses with messages) so that their lines can show it as the origin did,
//! `来自[127.0.0.1:5000]`.
//!
//! The lookups the prompt makes on its own are not shown as `/whois` answers; they only fill
//! the address cache the renderer reads, or end the check of a chosen name.

use std::collections::HashMap;

use dgram_client::{Chat, Note};
use dgram_proto::chat::Target;
use dgram_proto::Name;

/// Why the prompt looked a name up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// For the address their lines show.
    Address,
    /// Chosen at the picker while not online: do they exist?
    Chosen,
}

/// What a note about a lookup of ours means for the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// Not ours: show the note as it is.
    NotOurs,
    /// Ours and taken in: nothing to show.
    Quiet,
    /// The chosen name does not exist: say this, and go back to choosing.
    Unknown(String),
}

/// The prompt's own lookups and the addresses they found.
#[derive(Debug, Default)]
pub(super) struct Partners {
    /// Lookups on their way, by name key.
    asked: HashMap<String, Lookup>,
    /// Addresses found, by name key (for the renderer).
    pub(super) addrs: HashMap<String, Vec<String>>,
}

impl Partners {
    /// The user chose `to` at the picker: a name not online is checked, and a DM partner's
    /// address looked up. Returns what to say at once, if anything.
    pub(super) fn chose(&mut self, chat: &mut Chat, to: &Target) -> Option<String> {
        let Target::User(name) = to else { return None };
        if chat.online().any(|n| n.key() == name.key()) {
            self.address_of(chat, name);
            return None;
        }
        self.ask(chat, name, Lookup::Chosen);
        Some(format!(
            "{name} is not online now; what you send waits for them ({})",
            online(chat)
        ))
    }

    /// A message came: a DM partner whose address is not known yet is looked up, once.
    pub(super) fn heard(&mut self, chat: &mut Chat, note: &Note) {
        if let Note::Message { posted, .. } = note {
            if matches!(posted.to, Target::User(_)) && posted.from.key() != chat.me().key() {
                self.address_of(chat, &posted.from);
            }
        }
    }

    /// What a note means if it answers one of our lookups.
    pub(super) fn answer(&mut self, chat: &Chat, note: &Note) -> Found {
        if let Note::Whois { name, addrs, .. } = note {
            // A /whois of the user's own finds addresses as good as ours.
            if !addrs.is_empty() {
                self.addrs.insert(name.key().to_owned(), addrs.clone());
            }
            return match self.asked.remove(name.key()) {
                Some(_) => Found::Quiet,
                None => Found::NotOurs,
            };
        }
        if let Note::Failed { what, reason } = note {
            if let Some((key, lookup)) = self.failed(what) {
                self.asked.remove(&key);
                return match lookup {
                    Lookup::Chosen => Found::Unknown(format!("{reason}; {}", online(chat))),
                    Lookup::Address => Found::Quiet,
                };
            }
        }
        Found::NotOurs
    }

    /// Whether a name chosen at the picker is still being checked.
    pub(super) fn checking(&self) -> bool {
        self.asked.values().any(|l| *l == Lookup::Chosen)
    }

    /// Which of our lookups a failed request named (`whois NAME`), if any.
    fn failed(&self, what: &str) -> Option<(String, Lookup)> {
        let name = Name::new(what.strip_prefix("whois ")?).ok()?;
        let lookup = *self.asked.get(name.key())?;
        Some((name.key().to_owned(), lookup))
    }

    fn address_of(&mut self, chat: &mut Chat, name: &Name) {
        if !self.addrs.contains_key(name.key()) {
            self.ask(chat, name, Lookup::Address);
        }
    }

    fn ask(&mut self, chat: &mut Chat, name: &Name, lookup: Lookup) {
        if self.asked.insert(name.key().to_owned(), lookup).is_none() {
            chat.whois(name.clone());
        }
    }
}

/// `online now: a, b` (or that nobody else is).
fn online(chat: &Chat) -> String {
    let me = chat.me().key();
    let names: Vec<&str> = chat
        .online()
        .filter(|n| n.key() != me)
        .map(|n| n.as_str())
        .collect();
    match names.is_empty() {
        true => "nobody else is online now".to_owned(),
        false => format!("online now: {}", names.join(", ")),
    }
}
