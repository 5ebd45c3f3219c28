//! Room names: like user names (letters, digits, `_`, `-`, `.`; NFC; compared case-folded) but
//! up to 64 characters. Shown with a leading `#`, which is not part of the name.

use serde::{Deserialize, Serialize};

use crate::name::{deserialize_checked, validate, Spelled};
use crate::Error;

/// The most characters a room name may have.
pub const MAX_ROOM_CHARS: usize = 64;

/// A valid room name.
///
/// Equality and hashing use the case-folded key, as for names.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Room(Spelled);

impl Room {
    /// Validates and normalizes `raw` (a leading `#` is dropped).
    pub fn new(raw: &str) -> Result<Self, Error> {
        let raw = raw.strip_prefix('#').unwrap_or(raw);
        validate(raw, MAX_ROOM_CHARS).map(Self)
    }

    /// The name as its creator spelled it.
    pub fn as_str(&self) -> &str {
        self.0.display()
    }

    /// The case-folded key rooms compare by.
    pub fn key(&self) -> &str {
        self.0.key()
    }
}

impl<'de> Deserialize<'de> for Room {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_checked(d, "a room name", Self::new)
    }
}

impl TryFrom<String> for Room {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(&s)
    }
}

/// Serialized as its spelling, borrowed: no copy of the name per message encoded.
impl Serialize for Room {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl From<Room> for String {
    fn from(r: Room) -> String {
        r.as_str().to_owned()
    }
}

impl std::fmt::Display for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Room({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_names_up_to_64_characters() {
        assert_eq!(Room::new("#Lobby").unwrap(), Room::new("lobby").unwrap());
        assert_eq!(Room::new("聊天室").unwrap().as_str(), "聊天室");
        assert!(Room::new(&"r".repeat(64)).is_ok());
        assert!(matches!(
            Room::new(&"r".repeat(65)),
            Err(Error::NameTooLong {
                chars: 65,
                limit: 64
            })
        ));
        assert_eq!(Room::new("#"), Err(Error::EmptyName));
    }
}
