//! The DM conversations: each pair's bounded log, and who each user has a conversation with.
//!
//! Presence goes to a user's DM partners, and finding them by a pass over every conversation
//! on the server made each hello, last goodbye and away cost O(all DM pairs) (issue 17: 85 %
//! of the server's time in a DM-heavy bench). The partner index is kept here, beside the logs,
//! so every way a log comes into being or goes away keeps the two in step: the type has no
//! way to add or drop a conversation except through these methods. Users with no
//! conversation have no entry, so an idle session costs what it did.

use std::collections::hash_map::Entry;
use std::collections::VecDeque;

use foldhash::HashMap;

use dgram_proto::chat::Posted;
use dgram_proto::Name;

use super::state::UserKey;

/// A DM conversation's key: the two names, in order (see [`super::state::pair_key`]).
pub(crate) type Pair = (Name, Name);

/// Every DM conversation still in the history, with the partner index.
#[derive(Debug, Default)]
pub(crate) struct Dms {
    logs: HashMap<Pair, VecDeque<Posted>>,
    /// For each user with a conversation, the others in them. A conversation with oneself is
    /// a log but not a partnership (no one is told of their own presence).
    partners: HashMap<UserKey, Vec<Name>>,
}

impl Dms {
    /// The log of `pair`, made (and its two users linked) if it is new.
    pub(crate) fn log_mut(&mut self, pair: Pair) -> &mut VecDeque<Posted> {
        // One lookup: this is on every DM's path.
        match self.logs.entry(pair) {
            Entry::Occupied(log) => log.into_mut(),
            Entry::Vacant(new) => {
                let (a, b) = new.key();
                link(&mut self.partners, a, b);
                new.insert(VecDeque::new())
            }
        }
    }

    /// The log of `pair`, if there is one.
    pub(crate) fn get(&self, pair: &Pair) -> Option<&VecDeque<Posted>> {
        self.logs.get(pair)
    }

    /// Every log, to edit in place; a log emptied here stays (and its partners linked) until
    /// [`Dms::retain`] drops it, as the history keeping does.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut VecDeque<Posted>> {
        self.logs.values_mut()
    }

    /// Keeps the conversations `keep` says yes to; the others' users are unlinked.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Pair, &VecDeque<Posted>) -> bool) {
        let partners = &mut self.partners;
        self.logs.retain(|pair, log| {
            let kept = keep(pair, log);
            if !kept {
                unlink(partners, &pair.0, &pair.1);
            }
            kept
        });
    }

    /// The users `key` has a conversation with (never `key` itself).
    pub(crate) fn partners(&self, key: &str) -> &[Name] {
        self.partners.get(key).map_or(&[], Vec::as_slice)
    }

    /// How many conversations there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.logs.len()
    }

    /// Every conversation's pair.
    #[cfg(test)]
    pub(crate) fn pairs(&self) -> impl Iterator<Item = &Pair> {
        self.logs.keys()
    }
}

/// Makes `a` and `b` each other's partners: called once per conversation, when its log is made.
fn link(partners: &mut HashMap<UserKey, Vec<Name>>, a: &Name, b: &Name) {
    if a == b {
        return;
    }
    for (me, other) in [(a, b), (b, a)] {
        // A pair's log is made once, so `other` is not in the list yet.
        let list = partners.entry(UserKey(me.clone())).or_default();
        list.push(other.clone());
    }
}

/// Undoes [`link`] when a conversation's log is dropped.
fn unlink(partners: &mut HashMap<UserKey, Vec<Name>>, a: &Name, b: &Name) {
    if a == b {
        return;
    }
    for (me, other) in [(a, b), (b, a)] {
        if let Some(list) = partners.get_mut(me.key()) {
            list.retain(|n| n != other);
            if list.is_empty() {
                partners.remove(me.key());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("a valid name")
    }

    fn pair(a: &str, b: &str) -> Pair {
        super::super::state::pair_key(&name(a), &name(b))
    }

    #[test]
    fn partners_follow_logs_made_and_dropped() {
        let mut dms = Dms::default();
        dms.log_mut(pair("alex", "egon"));
        dms.log_mut(pair("Egon", "mia"));
        dms.log_mut(pair("ALEX", "egon")); // the same conversation, spelled otherwise
        dms.log_mut(pair("mia", "mia"));
        let mut egon: Vec<&str> = dms.partners("egon").iter().map(Name::key).collect();
        egon.sort_unstable();
        assert_eq!(egon, ["alex", "mia"]);
        assert_eq!(dms.partners("mia").len(), 1, "no partnership with oneself");
        dms.retain(|(a, b), _| !(a.key() == "egon" && b.key() == "mia"));
        assert_eq!(dms.partners("mia"), &[] as &[Name]);
        assert_eq!(dms.partners("egon").len(), 1);
        dms.retain(|_, _| false);
        assert!(
            dms.partners.is_empty(),
            "users with no conversation have no entry"
        );
    }
}
