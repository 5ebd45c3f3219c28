//! The server's long-term key: made at first start in the data directory as `server.key`
//! (the X25519 private key as 64 hex digits and a newline, mode 0600), read back at every
//! later start, and refused if anyone but its owner may read it. Clients pin its public half
//! (its fingerprint is logged at start, and printed by `chat-server key`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dgram_proto::session::{Keypair, KEY_LEN};

use crate::Error;

/// The key file's name inside the data directory.
pub const FILE: &str = "server.key";

/// Where a data directory keeps its key.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn problem(path: &Path, problem: impl Into<String>) -> Error {
    Error::ServerKey {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// A fresh key pair from the system's randomness.
pub fn generate() -> Result<Keypair, Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| problem(Path::new("<random>"), e.to_string()))?;
    Ok(Keypair::from_seed(seed))
}

/// The key in `dir`, made there first if there is none; `true` if it was just made.
pub fn load_or_create(dir: &Path) -> Result<(Keypair, bool), Error> {
    let path = path(dir);
    match fs::symlink_metadata(&path) {
        Ok(_) => load(&path).map(|k| (k, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| problem(&path, e.to_string()))?;
            let key = generate()?;
            create(&path, &key)?;
            Ok((key, true))
        }
        Err(e) => Err(problem(&path, e.to_string())),
    }
}

/// Reads the key at `path`, refusing a file that others may read.
pub fn load(path: &Path) -> Result<Keypair, Error> {
    check_mode(path)?;
    let text = fs::read_to_string(path).map_err(|e| problem(path, e.to_string()))?;
    parse(&text).ok_or_else(|| problem(path, "not a server key (expected 64 hex digits)"))
}

/// A key as the file holds it (the private key as 64 hex digits, blanks around allowed).
pub fn parse(text: &str) -> Option<Keypair> {
    let text = text.trim();
    let bytes: Option<Vec<u8>> = (text.len() == 2 * KEY_LEN)
        .then(|| {
            (0..KEY_LEN)
                .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
                .collect()
        })
        .flatten();
    let private: [u8; KEY_LEN] = bytes.and_then(|b| b.try_into().ok())?;
    Some(Keypair::from_private(private))
}

/// The key as the file holds it.
pub fn to_hex(key: &Keypair) -> String {
    key.private.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `key` as `dir`'s key file (a new file: an existing one is never replaced).
pub fn save(dir: &Path, key: &Keypair) -> Result<(), Error> {
    let path = path(dir);
    fs::create_dir_all(dir).map_err(|e| problem(&path, e.to_string()))?;
    create(&path, key)
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|e| problem(path, e.to_string()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(problem(
            path,
            format!(
                "others may read it (mode {:03o}); the key must be private: chmod 600 {}",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path) -> Result<(), Error> {
    Ok(())
}

fn create(path: &Path, key: &Keypair) -> Result<(), Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| problem(path, e.to_string()))?;
    writeln!(file, "{}", to_hex(key))
        .and_then(|()| file.sync_all())
        .map_err(|e| problem(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_kept_private_and_refused_when_others_can_read_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (made, fresh) = load_or_create(dir.path()).expect("made");
        assert!(fresh);
        let (again, fresh) = load_or_create(dir.path()).expect("read back");
        assert!(!fresh);
        assert_eq!(made, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = path(dir.path());
            let mode = fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = load_or_create(dir.path()).expect_err("refused");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }
}
