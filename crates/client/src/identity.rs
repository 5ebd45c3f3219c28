//! The client's long-term identity: one X25519 key pair per client home, whatever the server
//! is called. The session layer proves it in every handshake (it is the Noise static key), and
//! a chat server binds each name to the key that first claimed it, so the file *is* the
//! client's names: one home reaching a server as `localhost:8081`, `127.0.0.1:8081` or through
//! a proxy is one user.
//!
//! The file is `identity.key` under the home (`--home`, else `$XDG_CONFIG_HOME/dgram`, else
//! `~/.config/dgram`), made on first use with mode 0600 in a 0700 directory, and refused while
//! anyone but its owner may read it. It holds one line, the armored private key (the public
//! key follows from it):
//!
//! ```text
//! dgram-identity-v1:<64 hex digits: the private key>:<8 hex digits: check>
//! ```
//!
//! where the check is the first 4 bytes of the BLAKE3 hash of the private key, so that a key
//! pasted with a typo is refused rather than taken for another identity. [`export`] writes the
//! same line and [`parse`] reads it back: that is how another device gets the same names
//! (`client-cli key export` / `key import`).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use dgram_proto::session::{fingerprint, Keypair, KEY_LEN};

use crate::keys::write_private_temp;
use crate::Error;

/// The identity file's name inside the client home.
pub const IDENTITY_FILE: &str = "identity.key";

/// What starts an armored identity (and names its format's version).
const ARMOR: &str = "dgram-identity-v1";

/// The identity file of one client home.
#[derive(Debug, Clone)]
pub struct IdentityFile {
    path: PathBuf,
}

impl IdentityFile {
    /// The identity file under `home`.
    pub fn new(home: &Path) -> Self {
        Self {
            path: home.join(IDENTITY_FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity, if this home has one. A file others may read is refused (whoever read it
    /// can speak as every name it holds), as is one that does not hold an identity.
    pub fn load(&self) -> Result<Option<Keypair>, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                let path = self.path.clone();
                return Err(Error::ReadIdentity { path, source });
            }
        };
        refuse_if_shared(&self.path)?;
        parse(&text)
            .map(Some)
            .map_err(|why| Error::DamagedIdentity {
                path: self.path.clone(),
                why,
            })
    }

    /// The identity, made (from the system's randomness) and saved on first use.
    pub fn load_or_create(&self) -> Result<Keypair, Error> {
        if let Some(pair) = self.load()? {
            return Ok(pair);
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Randomness(e.to_string()))?;
        let pair = Keypair::from_seed(seed);
        self.write(&pair, false)?;
        tracing::info!(path = %self.path.display(), fingerprint = %fingerprint(&pair.public), "made this client's identity");
        Ok(pair)
    }

    /// Installs `pair` as this home's identity (a key exported from another device). An
    /// identity already there is replaced only with `force`: replacing it gives up its names
    /// unless it is saved elsewhere.
    pub fn install(&self, pair: &Keypair, force: bool) -> Result<(), Error> {
        self.write(pair, force)
    }

    /// Writes `pair` to a private temporary file and moves it into place: without `replace`,
    /// only if no identity is there (never a race that overwrites one made meanwhile).
    fn write(&self, pair: &Keypair, replace: bool) -> Result<(), Error> {
        let tmp = write_private_temp(&self.path, format!("{}\n", export(pair)).as_bytes())?;
        let placed = if replace {
            fs::rename(&tmp, &self.path)
        } else {
            // A hard link fails if the target exists, where a rename would overwrite it.
            fs::hard_link(&tmp, &self.path)
        };
        let _ = fs::remove_file(&tmp);
        match placed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::IdentityExists {
                path: self.path.clone(),
            }),
            Err(source) => Err(Error::SaveKey {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// Refuses a key file that its group or others may read or write.
#[cfg(unix)]
fn refuse_if_shared(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| Error::ReadIdentity {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::SharedIdentity {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_shared(_path: &Path) -> Result<(), Error> {
    Ok(())
}

fn check(private: &[u8; KEY_LEN]) -> String {
    hex(&blake3::hash(private).as_bytes()[..4])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `pair` as one armored line, for the identity file or another device (it is the private
/// key: whoever has it is this client).
pub fn export(pair: &Keypair) -> String {
    format!("{ARMOR}:{}:{}", hex(&pair.private), check(&pair.private))
}

/// Reads an armored identity back (surrounding whitespace and a trailing newline are fine).
pub fn parse(text: &str) -> Result<Keypair, String> {
    let mut parts = text.trim().split(':');
    let (Some(armor), Some(key), Some(sum), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("expected {ARMOR}:<64 hex digits>:<8 hex digits>"));
    };
    if armor != ARMOR {
        return Err(format!("not a dgram identity (it should start {ARMOR}:)"));
    }
    let private = decode(key).ok_or("the key is not 64 hex digits")?;
    if !sum.eq_ignore_ascii_case(&check(&private)) {
        return Err("its check digits do not match: it was copied wrongly".to_owned());
    }
    Ok(Keypair::from_private(private))
}

fn decode(text: &str) -> Option<[u8; KEY_LEN]> {
    if text.len() != 2 * KEY_LEN || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Writes an exported identity to `path` (new, mode 0600); refuses to replace a file.
pub fn export_to(pair: &Keypair, path: &Path) -> Result<(), Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(path)
        .and_then(|mut f| f.write_all(format!("{}\n", export(pair)).as_bytes()));
    written.map_err(|source| Error::WriteKey {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
