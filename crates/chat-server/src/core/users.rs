//! The users table: every claimed name's user, found by its case-folded key. A table of the
//! users themselves (boxed), hashed by the key inside each user, rather than a map from a key
//! to a user: a map's key would be a second name handle in every slot, 24 bytes that the
//! table's spare capacity multiplies (about 40 bytes per user, issue 17).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry, HashTable};

use super::state::User;

/// The users, by the key of their name.
#[derive(Debug, Default)]
pub(crate) struct Users {
    table: HashTable<Box<User>>,
    hasher: RandomState,
}

impl Users {
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The user whose name's key is `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&User> {
        let hash = self.hash(key);
        self.table.find(hash, |u| u.name.key() == key).map(|u| &**u)
    }

    /// The same, to change (its name stays: the table is hashed by it).
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut User> {
        let hash = self.hash(key);
        self.table
            .find_mut(hash, |u| u.name.key() == key)
            .map(|u| &mut **u)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Adds `user`, in place of any user of the same key.
    pub(crate) fn insert(&mut self, user: Box<User>) {
        let hash = self.hash(user.name.key());
        let hasher = &self.hasher;
        let entry = self.table.entry(
            hash,
            |u| u.name.key() == user.name.key(),
            |u| hasher.hash_one(u.name.key()),
        );
        match entry {
            Entry::Occupied(mut e) => *e.get_mut() = user,
            Entry::Vacant(e) => {
                e.insert(user);
            }
        }
    }

    /// Takes out the user whose name's key is `key`.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Box<User>> {
        let hash = self.hash(key);
        let found = self.table.find_entry(hash, |u| u.name.key() == key);
        found.ok().map(|e| e.remove().0)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &User> {
        self.table.iter().map(|u| &**u)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut User> {
        self.table.iter_mut().map(|u| &mut **u)
    }
}

#[cfg(test)]
mod tests {
    use dgram_proto::Name;

    use super::super::state::Owner;
    use super::*;

    fn user(raw: &str, at_ms: u64) -> Box<User> {
        let name = Name::new(raw).expect("a valid name");
        Box::new(User::new(name, Owner::Key([1; 32]), at_ms))
    }

    #[test]
    fn users_are_found_by_their_folded_key_and_replaced_by_it() {
        let mut users = Users::default();
        for raw in ["Alex", "黎诗", "ǅemal"] {
            users.insert(user(raw, 1));
            let key = Name::new(raw).expect("a valid name").key().to_owned();
            let found = users.get(&key).map(|u| u.name.as_str());
            assert_eq!(found, Some(raw));
        }
        assert!(users.get("Alex").is_none(), "the spelling is not the key");
        assert!(users.contains_key("alex"));
        // The same key again replaces the user, whatever the spelling.
        users.insert(user("ALEX", 2));
        assert_eq!(users.values().count(), 3);
        assert_eq!(users.get("alex").map(|u| u.last_used_ms), Some(2));
        if let Some(u) = users.get_mut("alex") {
            u.last_used_ms = 3;
        }
        assert_eq!(users.values().map(|u| u.last_used_ms).max(), Some(3));
        assert!(users.remove("alex").is_some());
        assert!(users.remove("alex").is_none());
        assert_eq!(users.values_mut().count(), 2);
    }
}
