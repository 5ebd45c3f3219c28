//! What a user holds once it does something (an away text, waiting DMs, its latest sends,
//! its rooms), made on first use and let go once empty again, so that an idle claim keeps one
//! pointer for all of it.

use std::collections::{BTreeSet, VecDeque};

use dgram_proto::chat::Posted;

use super::state::{Sent, User};

/// What a user has once it does something: an away text, DMs waiting for it, what it sent
/// lately, its rooms. Most claims hold none of it (offline for months, or online and quiet),
/// and keep one empty pointer instead of about 110 bytes of empty collections: the larger part
/// of an idle session's memory once names were claimed per session (issue 17).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    pub(crate) away: Option<String>,
    pub(crate) queue: VecDeque<Posted>,
    /// The user's latest messages by their client-chosen id, oldest first (capped): a resend
    /// of one is answered with what it got the first time.
    pub(crate) sent: VecDeque<Sent>,
    /// A tree, not a hash set: no per-set hasher state, and nothing allocated while empty.
    pub(crate) rooms: BTreeSet<String>,
}

impl Activity {
    fn is_empty(&self) -> bool {
        self.away.is_none()
            && self.queue.is_empty()
            && self.sent.is_empty()
            && self.rooms.is_empty()
    }
}

/// The activity of a user who has none, to read without allocating.
static NO_ACTIVITY: Activity = Activity {
    away: None,
    queue: VecDeque::new(),
    sent: VecDeque::new(),
    rooms: BTreeSet::new(),
};

impl User {
    /// Its away text, queue, latest sends and rooms (all empty for a user who has none).
    pub(crate) fn activity(&self) -> &Activity {
        self.activity.as_deref().unwrap_or(&NO_ACTIVITY)
    }

    /// The same, to add to: made on first use.
    pub(crate) fn activity_mut(&mut self) -> &mut Activity {
        self.activity.get_or_insert_with(Box::default)
    }

    /// Remembers a message it sent, forgetting the oldest beyond `cap`.
    pub(crate) fn remember(&mut self, sent: Sent, cap: usize) {
        let latest = &mut self.activity_mut().sent;
        latest.push_back(sent);
        while latest.len() > cap {
            latest.pop_front();
        }
    }

    /// Takes from its activity, if it has any (nothing is made for that), and lets the
    /// activity go once it holds nothing.
    pub(crate) fn trim<R>(&mut self, take: impl FnOnce(&mut Activity) -> R) -> Option<R> {
        let activity = self.activity.as_deref_mut()?;
        let taken = take(activity);
        if activity.is_empty() {
            self.activity = None;
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use dgram_proto::chat::{Posted, Target};
    use dgram_proto::Name;

    use super::super::state::{Owner, Sent, User};

    fn user() -> User {
        User::new(
            Name::new("黎诗").expect("a valid name"),
            Owner::Key([7; 32]),
            0,
        )
    }

    #[test]
    fn an_idle_user_holds_no_activity_and_gives_it_back_once_empty() {
        let mut u = user();
        assert!(u.activity.is_none());
        // Reading and taking from nothing makes nothing.
        assert!(u.activity().rooms.is_empty());
        assert_eq!(u.trim(|a| a.rooms.remove("lobby")), None);
        assert!(u.activity.is_none());
        u.activity_mut().rooms.insert("lobby".to_owned());
        u.activity_mut().away = Some("lunch".to_owned());
        assert_eq!(u.trim(|a| a.rooms.remove("lobby")), Some(true));
        assert!(u.activity.is_some(), "still away");
        u.trim(|a| a.away = None);
        assert!(u.activity.is_none(), "empty again: let go");
    }

    #[test]
    fn latest_sends_are_capped_and_a_drained_queue_lets_go() {
        let mut u = user();
        for txn in 0..5u64 {
            u.remember(
                Sent {
                    txn,
                    id: txn,
                    ts: txn,
                },
                3,
            );
        }
        let txns: Vec<u64> = u.activity().sent.iter().map(|s| s.txn).collect();
        assert_eq!(txns, [2, 3, 4]);
        let to = Target::User(Name::new("alex").expect("a valid name"));
        let posted = Posted {
            id: 9,
            ts: 1,
            from: u.name.clone(),
            to,
            text: "hi".to_owned(),
        };
        u.activity_mut().queue.push_back(posted);
        u.trim(|a| a.sent.clear());
        let drained: Vec<Posted> = u.trim(|a| a.queue.drain(..).collect()).unwrap_or_default();
        assert_eq!(drained.len(), 1);
        assert!(u.activity.is_none());
    }
}
