//! User names: which strings are names, their normal form, and the key they compare by.
//!
//! A name is what people type to pick a partner (the origin's `alex`, `黎诗`, `瞎驴`, `egon`), so
//! two spellings a person cannot tell apart must be the same name: names are NFC-normalized and
//! compared by a case-folded key. Characters that can disguise a name (controls, format and
//! bidi-override characters, spaces) are refused outright.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use crate::Error;

/// The most characters a name may have, counted after NFC normalization.
pub const MAX_NAME_CHARS: usize = 32;

/// The most bytes a valid name takes in UTF-8 (every character is at most four bytes).
pub const MAX_NAME_BYTES: usize = MAX_NAME_CHARS * 4;

/// A valid user name: 1 to 32 letters, digits, `_`, `-` or `.`, in NFC.
///
/// Equality, ordering and hashing use the case-folded key, so `Alex` and `alex` are one name;
/// [`Name::as_str`] keeps the spelling its owner chose.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Spelled);

impl Name {
    /// Validates and normalizes `raw`.
    pub fn new(raw: &str) -> Result<Self, Error> {
        validate(raw, MAX_NAME_CHARS).map(Self)
    }

    /// The name as its owner spelled it (NFC).
    pub fn as_str(&self) -> &str {
        self.0.display()
    }

    /// The case-folded key that names compare by.
    pub fn key(&self) -> &str {
        self.0.key()
    }
}

/// A spelling and its case-folded key in one shared buffer. Names are cloned into every
/// message, history entry and receipt; a clone is then a reference count, not two copies.
/// A spelling that is its own key (`alex`) is stored once. Equality, ordering and hashing go
/// by the key alone, and hash as the key's `str` does (the users table looks names up by
/// `&str` through `Borrow`), so that `Name` and `Room` derive them.
#[derive(Clone)]
pub(crate) struct Spelled {
    buf: Arc<str>,
    /// `buf[..display_end]` is the spelling, `buf[key_start..]` the key.
    display_end: u32,
    key_start: u32,
}

impl Spelled {
    pub(crate) fn new(display: &str, key: &str) -> Self {
        // Only validated names and rooms get here: at most 64 characters, a few hundred bytes.
        let end = u32::try_from(display.len()).expect("a validated name is short");
        if display == key {
            return Self {
                buf: Arc::from(display),
                display_end: end,
                key_start: 0,
            };
        }
        let mut buf = String::with_capacity(display.len() + key.len());
        buf.push_str(display);
        buf.push_str(key);
        Self {
            buf: Arc::from(buf),
            display_end: end,
            key_start: end,
        }
    }

    pub(crate) fn display(&self) -> &str {
        // Both bounds are char boundaries: they were the joined strings' lengths.
        &self.buf[..self.display_end as usize]
    }

    pub(crate) fn key(&self) -> &str {
        &self.buf[self.key_start as usize..]
    }
}

/// Checks `raw` against the name rules with at most `max_chars` characters; returns its NFC
/// form and its case-folded key in one buffer. Room names share the rules with a longer limit.
///
/// An ASCII name (the common case, and every name a decoded message carries is checked again)
/// needs no normalization and folds case by lowercasing, which is what Unicode case folding
/// does to ASCII; a lowercase one is its own key and is copied once.
pub(crate) fn validate(raw: &str, max_chars: usize) -> Result<Spelled, Error> {
    if !raw.is_ascii() {
        let (display, key) = validate_unicode(raw, max_chars)?;
        return Ok(Spelled::new(&display, &key));
    }
    if let Some(ch) = raw.chars().find(|&ch| !is_name_char(ch)) {
        return Err(Error::NameCharacter { ch });
    }
    match raw.len() {
        0 => Err(Error::EmptyName),
        chars if chars > max_chars => Err(Error::NameTooLong {
            chars,
            limit: max_chars,
        }),
        _ if raw.bytes().any(|b| b.is_ascii_uppercase()) => {
            Ok(Spelled::new(raw, &raw.to_ascii_lowercase()))
        }
        _ => Ok(Spelled::new(raw, raw)),
    }
}

fn validate_unicode(raw: &str, max_chars: usize) -> Result<(String, String), Error> {
    let display: String = raw.nfc().collect();
    let mut chars = 0;
    for ch in display.chars() {
        chars += 1;
        if !is_name_char(ch) {
            return Err(Error::NameCharacter { ch });
        }
    }
    if chars == 0 {
        return Err(Error::EmptyName);
    }
    if chars > max_chars {
        return Err(Error::NameTooLong {
            chars,
            limit: max_chars,
        });
    }
    // Folding can decompose (e.g. 'ǰ'), so the key is normalized again.
    let key = caseless::default_case_fold_str(&display).nfc().collect();
    Ok((display, key))
}

/// Letters and digits of any script (the Unicode Alphabetic and Numeric properties, which keep
/// the combining vowel signs some scripts need), plus `_`, `-` and `.`. Controls, format
/// characters (which include the bidi overrides), spaces, symbols and punctuation are neither.
fn is_name_char(ch: char) -> bool {
    ch.is_alphanumeric() || matches!(ch, '_' | '-' | '.')
}

/// Reads a name or room from its spelling, validated by `parse`: from the decoder's bytes where
/// it lends them (bincode does), so that a decoded message copies each name once, into its
/// shared buffer, not first into a `String` as well.
pub(crate) fn deserialize_checked<'de, D, T>(
    d: D,
    what: &'static str,
    parse: fn(&str) -> Result<T, Error>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Checked<T> {
        what: &'static str,
        parse: fn(&str) -> Result<T, Error>,
    }
    impl<T> serde::de::Visitor<'_> for Checked<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.what)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(Checked { what, parse })
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_checked(d, "a user name", Self::new)
    }
}

impl TryFrom<String> for Name {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(&s)
    }
}

/// Serialized as its spelling, borrowed: no copy of the name per message encoded.
impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.as_str().to_owned()
    }
}

impl PartialEq for Spelled {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Spelled {}

impl Hash for Spelled {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for Spelled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Spelled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({:?})", self.as_str())
    }
}

impl std::str::FromStr for Name {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_names_are_valid() {
        for raw in [
            "alex",
            "黎诗",
            "瞎驴",
            "egon",
            "a.b-c_d",
            "Ünïcødé",
            "Ελένη",
            "x1",
        ] {
            let name = Name::new(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(name.as_str(), raw);
        }
    }

    #[test]
    fn names_compare_case_folded_and_normalized() {
        assert_eq!(Name::new("Alex").unwrap(), Name::new("ALEX").unwrap());
        assert_eq!(Name::new("Straße").unwrap(), Name::new("STRASSE").unwrap());
        // "é" precomposed and as 'e' + combining acute are one name, stored in NFC.
        let decomposed = Name::new("Ame\u{301}lie").unwrap();
        assert_eq!(decomposed, Name::new("Am\u{e9}lie").unwrap());
        assert_eq!(decomposed.as_str(), "Am\u{e9}lie");
        assert_ne!(Name::new("alex").unwrap(), Name::new("egon").unwrap());
    }

    #[test]
    fn rejects_empty_long_and_disguising_names() {
        assert_eq!(Name::new(""), Err(Error::EmptyName));
        let long = "a".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            Name::new(&long),
            Err(Error::NameTooLong {
                chars: 33,
                limit: 32
            })
        );
        assert!(Name::new(&"黎".repeat(MAX_NAME_CHARS)).is_ok());
        for (raw, ch) in [
            ("al ex", ' '),
            ("alex\u{202e}", '\u{202e}'),
            ("al\u{200b}ex", '\u{200b}'),
            ("al\u{7}ex", '\u{7}'),
            ("alex!", '!'),
            ("a\u{feff}", '\u{feff}'),
        ] {
            assert_eq!(Name::new(raw), Err(Error::NameCharacter { ch }), "{raw:?}");
        }
    }

    proptest::proptest! {
        /// The ASCII shortcut answers exactly as the full Unicode path does: the same names,
        /// keys and errors.
        #[test]
        fn ascii_shortcut_agrees_with_the_unicode_path(raw in "[ -~]{0,40}") {
            let shortcut = validate(&raw, MAX_NAME_CHARS)
                .map(|s| (s.display().to_owned(), s.key().to_owned()));
            proptest::prop_assert_eq!(shortcut, validate_unicode(&raw, MAX_NAME_CHARS));
        }
    }
}
