//! Long-term identities: an X25519 key pair (the server's, and each client's), the short
//! fingerprint people compare and paste, and what a client pins a server to.
//!
//! A fingerprint is `BLAKE3:` followed by the first 128 bits of the BLAKE3 hash (in
//! `derive_key` mode, context `dgram server key fingerprint v1`) of the 32-byte public key,
//! as eight groups of four lowercase hex digits joined by `-`, e.g.
//! `BLAKE3:3f9a-02c4-...`. Parsing ignores case, the prefix and the separators.

use std::fmt;
use std::str::FromStr;

use super::crypto::Rng;
use super::noise;

/// Bytes of an X25519 key, public or private.
pub const KEY_LEN: usize = 32;

/// An X25519 key pair: a server's or a client's long-term static key.
#[derive(Clone, PartialEq, Eq)]
pub struct Keypair {
    /// The secret half; never leaves its owner.
    pub private: [u8; KEY_LEN],
    /// The public half, shown to peers in the handshake.
    pub public: [u8; KEY_LEN],
}

impl Keypair {
    /// A new key pair from `rng` (seed it from the system's randomness in real use).
    pub fn generate(rng: &mut Rng) -> Self {
        let mut seed = [0u8; 32];
        rng.fill(&mut seed);
        Self::from_seed(seed)
    }

    /// The key pair that `seed` makes (the same seed, the same pair).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        // Any 32 bytes are an X25519 private key.
        Self::from_private(seed)
    }

    /// The key pair whose private half is `private` (as read back from a key file).
    pub fn from_private(private: [u8; KEY_LEN]) -> Self {
        Self {
            private,
            public: noise::public_of(&private),
        }
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private half, not even in a debug log.
        f.debug_struct("Keypair")
            .field("public", &Fingerprint::of(&self.public))
            .finish_non_exhaustive()
    }
}

/// The short, human-comparable form of a public key: `fingerprint(&key)` as a value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    /// The fingerprint of `public`.
    pub fn of(public: &[u8; KEY_LEN]) -> Self {
        let hash = blake3::derive_key("dgram server key fingerprint v1", public);
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash[..16]);
        Self(out)
    }

    /// Whether `public` has this fingerprint.
    pub fn matches(&self, public: &[u8; KEY_LEN]) -> bool {
        Self::of(public) == *self
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BLAKE3:")?;
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            write!(f, "{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not a fingerprint or a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a server key: expected a fingerprint like BLAKE3:3f9a-02c4-... (32 hex digits) or a public key (64 hex digits)")]
pub struct BadKeyText;

/// Hex digits of `s`, ignoring an optional `BLAKE3:` prefix, case, and `-`, `:` and spaces.
fn hex_bytes(s: &str) -> Result<Vec<u8>, BadKeyText> {
    let s = s.trim();
    let s = match s.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("blake3:") => &s[7..],
        _ => s,
    };
    let digits: Vec<u8> = s
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | ' '))
        .map(|c| c.to_digit(16).map(|d| d as u8).ok_or(BadKeyText))
        .collect::<Result<_, _>>()?;
    if digits.len() % 2 != 0 {
        return Err(BadKeyText);
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

impl FromStr for Fingerprint {
    type Err = BadKeyText;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex_bytes(s)?.try_into().map(Self).map_err(|_| BadKeyText)
    }
}

/// The fingerprint of `public`, as text (see the module doc for the format).
pub fn fingerprint(public: &[u8; KEY_LEN]) -> String {
    Fingerprint::of(public).to_string()
}

/// Parses a fingerprint (as [`fingerprint`] writes it) back, for comparison.
pub fn parse_fingerprint(s: &str) -> Result<Fingerprint, BadKeyText> {
    s.parse()
}

/// A public key as 64 lowercase hex digits (what `chat-server key --public` prints).
pub fn public_key_hex(public: &[u8; KEY_LEN]) -> String {
    public.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a client accepts as its server's static key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerPin {
    /// Whatever key the server shows first (trust on first use): the caller records it from
    /// [`super::Client::server_key`] once connected. Later handshakes of the same client must
    /// show that same key.
    Any,
    /// Exactly this public key.
    Key([u8; KEY_LEN]),
    /// A key with this fingerprint (pinned out of band, e.g. `--server-key`).
    Fingerprint(Fingerprint),
}

impl ServerPin {
    /// Whether `seen` satisfies the pin.
    pub fn accepts(&self, seen: &[u8; KEY_LEN]) -> bool {
        match self {
            ServerPin::Any => true,
            ServerPin::Key(key) => key == seen,
            ServerPin::Fingerprint(fp) => fp.matches(seen),
        }
    }

    /// A pin from text: 64 hex digits are a public key, 32 a fingerprint.
    pub fn parse(s: &str) -> Result<Self, BadKeyText> {
        let bytes = hex_bytes(s)?;
        match bytes.len() {
            KEY_LEN => Ok(ServerPin::Key(bytes.try_into().map_err(|_| BadKeyText)?)),
            16 => Ok(ServerPin::Fingerprint(Fingerprint(
                bytes.try_into().map_err(|_| BadKeyText)?,
            ))),
            _ => Err(BadKeyText),
        }
    }
}

impl fmt::Display for ServerPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerPin::Any => f.write_str("any key (first use)"),
            ServerPin::Key(key) => write!(f, "{}", Fingerprint::of(key)),
            ServerPin::Fingerprint(fp) => write!(f, "{fp}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_back_and_a_key_pair_is_consistent() {
        let pair = Keypair::generate(&mut Rng::from_seed([1; 32]));
        assert_eq!(Keypair::from_private(pair.private), pair);
        let text = fingerprint(&pair.public);
        assert!(
            text.starts_with("BLAKE3:") && text.len() == 7 + 32 + 7,
            "{text}"
        );
        let back = parse_fingerprint(&text.to_uppercase()).expect("parses");
        assert!(back.matches(&pair.public));
        assert_eq!(ServerPin::parse(&text), Ok(ServerPin::Fingerprint(back)));
        assert_eq!(
            ServerPin::parse(&public_key_hex(&pair.public)),
            Ok(ServerPin::Key(pair.public))
        );
        let other = Keypair::from_seed([2; 32]);
        assert!(!back.matches(&other.public));
        assert!(parse_fingerprint("BLAKE3:zz").is_err());
        assert!(ServerPin::parse("abcd").is_err());
        assert!(!format!("{pair:?}").contains(&public_key_hex(&pair.private)));
    }
}
