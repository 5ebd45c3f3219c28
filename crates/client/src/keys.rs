//! Claim keys on disk. The first Hello with a free name claims it, and the server answers with
//! a key that proves the claim from then on; it keeps only the key's hash, so losing the file
//! loses the name (until the claim lapses unused).
//!
//! Layout, under the home directory (`--home`, else `$XDG_CONFIG_HOME/dgram`, else
//! `~/.config/dgram`): `keys/SERVER/NAME.key`, where SERVER is the server as given, in a
//! canonical form (an address as std prints it, a host name in lower case, the port without
//! leading zeros) written `HOST_PORT` (`:` in an IPv6 address written `-`), and NAME is the
//! name's case-folded key, so `Alex` and `alex` share one file, as do `Chat:8081` and
//! `chat:8081` (a key an earlier release filed under the spelling as typed is still read).
//! Names are letters, digits, `_`, `-` and `.` only, so NAME never holds a
//! path separator, and with `.key` after it is never `.` or `..`. The file is the key as 32
//! lowercase hex digits and a newline; directories are made 0700 and the file 0600, since
//! anyone who reads it can speak as the name.

use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dgram_proto::chat::ClaimKey;
use dgram_proto::Name;

use crate::Error;

/// Where the claim key for one name on one server lives.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
    /// Where an earlier release filed the same key, when that differs (the server as typed,
    /// before spellings were made canonical): read when `path` has none, so no key is lost.
    earlier: Option<PathBuf>,
}

impl KeyFile {
    /// The file for `name` on `server` (as the user gave it: `chat:8081` or `127.0.0.1:8081`)
    /// under `home`. The server is named as given (spelled as [`canonical`] has it), not as
    /// resolved, so that a key survives the server moving to another address (a container
    /// recreated on a new network).
    pub fn new(home: &Path, server: &str, name: &Name) -> Self {
        let file = |server: &str| {
            let (host, port) = server.rsplit_once(':').unwrap_or((server, ""));
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let server_dir = format!("{host}_{port}")
                .replace(':', "-")
                .replace(['/', '\\'], "_");
            home.join("keys")
                .join(server_dir)
                .join(format!("{}.key", name.key()))
        };
        let path = file(&canonical(server));
        let earlier = Some(file(server.trim())).filter(|p| *p != path);
        Self { path, earlier }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved key, if there is one. A file that exists but does not hold a key is an
    /// error, not "no key": sending no key would never get the name back, and the user should
    /// know which file is damaged.
    pub fn load(&self) -> Result<Option<ClaimKey>, Error> {
        match read_key(&self.path)? {
            Some(key) => Ok(Some(key)),
            None => match &self.earlier {
                Some(earlier) => read_key(earlier),
                None => Ok(None),
            },
        }
    }

    /// Saves `key`, replacing any older one: written to a private temporary file first and
    /// renamed over, so a crash never leaves half a key behind.
    pub fn save(&self, key: &ClaimKey) -> Result<(), Error> {
        let tmp = write_private_temp(&self.path, format!("{}\n", encode_hex(key)).as_bytes())?;
        fs::rename(&tmp, &self.path).map_err(|source| Error::SaveKey {
            path: self.path.clone(),
            source,
        })
    }
}

fn read_key(path: &Path) -> Result<Option<ClaimKey>, Error> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            let path = path.to_owned();
            return Err(Error::ReadKey { path, source });
        }
    };
    match decode_hex(text.trim()) {
        Some(key) => Ok(Some(key)),
        None => Err(Error::DamagedKey {
            path: path.to_owned(),
        }),
    }
}

/// One spelling for each server, so that one server is one key directory however it is
/// written: an address (`[0:0:0:0:0:0:0:1]:8081`, `127.0.0.1:08081`) as std prints it, else
/// the host in lower case (DNS names are case-insensitive) with a numeric port printed plainly.
pub(crate) fn canonical(server: &str) -> String {
    let server = server.trim();
    if let Ok(addr) = server.parse::<SocketAddr>() {
        return addr.to_string();
    }
    match server.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .map_or_else(|_| port.to_owned(), |p| p.to_string());
            format!("{}:{port}", host.to_lowercase())
        }
        None => server.to_lowercase(),
    }
}

#[cfg(unix)]
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Makes `path`'s directory (0700) and writes `bytes` to a private temporary file beside
/// `path`, for the caller to move into place; on failure the temporary file is removed.
pub(crate) fn write_private_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, Error> {
    let dir = path.parent().ok_or(Error::NoKeyDirectory)?;
    create_private_dir(dir).map_err(|source| Error::CreateKeyDirectory {
        path: dir.to_owned(),
        source,
    })?;
    let tmp = path.with_extension(format!("key.tmp-{}", std::process::id()));
    if let Err(source) = write_private(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::WriteKey { path: tmp, source });
    }
    Ok(tmp)
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Set at creation, so the key is never readable by others, not even for a moment.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn encode_hex(key: &ClaimKey) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<ClaimKey> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 16];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// The home directory for claim keys when none is given: `$XDG_CONFIG_HOME/dgram`, else
/// `~/.config/dgram`; `None` when neither variable holds an absolute path.
pub fn default_home() -> Option<PathBuf> {
    // The XDG spec says relative values are invalid and to be ignored.
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    if let Some(config) = xdg {
        return Some(config.join("dgram"));
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Some(home.join(".config").join("dgram")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory, removed when dropped.
    fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("dgram-keys-")
            .tempdir()
            .expect("a temporary directory")
    }

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    #[test]
    fn keys_round_trip_privately_per_server_and_name() {
        let scratch = scratch();
        let home = scratch.path();
        let server = "127.0.0.1:8081";
        let file = KeyFile::new(home, server, &name("Alex"));
        assert!(file.path().ends_with("keys/127.0.0.1_8081/alex.key"));
        assert_eq!(file.load().expect("no file is no key"), None);
        let key: ClaimKey = *b"0123456789abcdef";
        file.save(&key).expect("save");
        assert_eq!(file.load().expect("load"), Some(key));
        let again: ClaimKey = [0xff; 16];
        file.save(&again).expect("save over");
        assert_eq!(
            KeyFile::new(home, server, &name("alex"))
                .load()
                .expect("load"),
            Some(again)
        );
        let v6 = KeyFile::new(home, "[::1]:8081", &name("alex"));
        assert!(v6.path().ends_with("keys/--1_8081/alex.key"), "{v6:?}");
        assert_eq!(v6.load().expect("another server"), None);
        let named = KeyFile::new(home, "chat:8081", &name("alex"));
        assert!(
            named.path().ends_with("keys/chat_8081/alex.key"),
            "{named:?}"
        );
        // One server, however it is written, is one directory.
        let same = |a: &str, b: &str| {
            let (a, b) = (
                KeyFile::new(home, a, &name("alex")),
                KeyFile::new(home, b, &name("alex")),
            );
            assert_eq!(a.path(), b.path());
        };
        same("Chat:8081", "chat:8081");
        same("CHAT.Example.ORG:8081", "chat.example.org:8081");
        same("chat:08081", "chat:8081");
        same("[0:0:0:0:0:0:0:1]:8081", "[::1]:8081");
        same("127.0.0.1:08081", server);
        same(" [::1]:8081 ", "[::1]:8081");
        // A key an earlier release filed under the server as typed is still found.
        let typed = home.join("keys").join("Chat_8081");
        fs::create_dir_all(&typed).expect("mkdir");
        fs::write(typed.join("egon.key"), format!("{}\n", encode_hex(&key))).expect("write");
        assert_eq!(
            KeyFile::new(home, "Chat:8081", &name("egon"))
                .load()
                .expect("load"),
            Some(key)
        );
        assert_ne!(
            KeyFile::new(home, "chat:8081", &name("alex")).path(),
            KeyFile::new(home, "chat:8082", &name("alex")).path()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode(file.path()), 0o600);
            assert_eq!(mode(file.path().parent().expect("dir")), 0o700);
        }
    }

    #[test]
    fn dotted_names_stay_inside_the_server_directory() {
        let scratch = scratch();
        let home = scratch.path();
        let file = KeyFile::new(home, "127.0.0.1:1", &name(".."));
        assert_eq!(
            file.path().parent(),
            Some(home.join("keys").join("127.0.0.1_1").as_path())
        );
        assert_eq!(file.path().file_name(), Some("...key".as_ref()));
    }

    #[test]
    fn a_damaged_key_file_is_an_error() {
        let scratch = scratch();
        let home = scratch.path();
        let file = KeyFile::new(home, "127.0.0.1:8081", &name("egon"));
        file.save(&[7; 16]).expect("save");
        fs::write(file.path(), "not a key\n").expect("damage");
        let err = file.load().expect_err("damaged");
        assert!(
            err.to_string().contains("does not hold a claim key"),
            "{err}"
        );
        assert_eq!(decode_hex(&"0".repeat(32)), Some([0; 16]));
        assert_eq!(decode_hex(&"g".repeat(32)), None);
        assert_eq!(decode_hex("ééééééééééééééé"), None);
    }
}
