//! The servers this client has met and their keys, as SSH's `known_hosts` keeps them: the
//! first connection to a server records the key it proved, and every later connection to it
//! must show the same, or the client refuses (see [`KnownHosts::changed_help`]).
//!
//! The file is `known_hosts` under the client's home (`--home`, else `$XDG_CONFIG_HOME/dgram`,
//! else `~/.config/dgram`). One line per server: the server as the user gave it (in the
//! canonical spelling of [`crate::keys::canonical`], so `Chat:8081` and `chat:8081` are one),
//! a space, the server's public key as 64 hex digits, and a comment with its fingerprint.
//! Lines starting with `#` and blank lines are ignored.
//!
//! A list of servers (`--server a:8081,b:8081`) is one service whose instances all hold one
//! key, so it is one line, keyed by the list: each server in its canonical spelling, sorted
//! and without repeats, joined by commas (`b:8081,a:8081` is the same service). Its one key
//! is pinned for every address, so an instance that shows another is refused as any
//! impersonator would be; an address pinned alone is a line of its own, not consulted for
//! the list.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dgram_proto::session::{fingerprint, public_key_hex, ServerPin, KEY_LEN};

use crate::follow::servers;
use crate::keys::canonical;
use crate::Error;

/// The known-hosts key of `given`: one server's canonical spelling, or a list's, sorted.
pub(crate) fn service(given: &str) -> String {
    let mut parts: Vec<String> = servers(given).into_iter().map(canonical).collect();
    parts.sort();
    parts.dedup();
    parts.join(",")
}

/// The known-hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    path: PathBuf,
}

impl KnownHosts {
    /// The file under the client home `home`.
    pub fn in_home(home: &Path) -> Self {
        Self {
            path: home.join("known_hosts"),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, problem: impl Into<String>) -> Error {
        Error::KnownHosts {
            path: self.path.clone(),
            problem: problem.into(),
        }
    }

    /// The key recorded for `server`, if any. A line for it that does not hold a key is an
    /// error, not "unknown": trusting anew would undo the pin.
    pub fn lookup(&self, server: &str) -> Result<Option<[u8; KEY_LEN]>, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(e.to_string())),
        };
        let want = service(server);
        for (n, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            let Some(host) = words.next().filter(|h| !h.starts_with('#')) else {
                continue;
            };
            if host != want {
                continue;
            }
            return match words.next().map(ServerPin::parse) {
                Some(Ok(ServerPin::Key(key))) => Ok(Some(key)),
                _ => Err(self.error(format!("line {} has no key for {want}", n + 1))),
            };
        }
        Ok(None)
    }

    /// Records `key` as `server`'s (first use).
    pub fn record(&self, server: &str, key: &[u8; KEY_LEN]) -> Result<(), Error> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(|e| self.error(e.to_string()))?;
        }
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.error(e.to_string()))?;
        let line = format!(
            "{} {} # {}\n",
            service(server),
            public_key_hex(key),
            fingerprint(key)
        );
        file.write_all(line.as_bytes())
            .map_err(|e| self.error(e.to_string()))
    }

    /// What to tell a user whose server showed another key than the recorded one.
    pub fn changed_help(&self, server: &str) -> String {
        let host = service(server);
        format!(
            "the key recorded for {host} in {path} is not the one the server showed. Someone \
             may be impersonating the server, or its key was replaced. If you know the change \
             is legitimate (check the fingerprint with `chat-server key` on the server), remove \
             the old line and connect again:\n    sed -i '/^{pattern} /d' {path}\nor pin the \
             new key for this run with --server-key FINGERPRINT.",
            path = self.path.display(),
            pattern = host
                .replace('.', "\\.")
                .replace('[', "\\[")
                .replace(']', "\\]"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_key_is_found_by_any_spelling_and_others_are_unknown() {
        let home = tempfile::tempdir().expect("tempdir");
        let hosts = KnownHosts::in_home(&home.path().join("dgram"));
        assert_eq!(hosts.lookup("chat:8081").expect("no file yet"), None);
        hosts.record("Chat:8081", &[7; 32]).expect("recorded");
        hosts.record("127.0.0.1:8081", &[9; 32]).expect("recorded");
        assert_eq!(hosts.lookup("chat:8081").expect("read"), Some([7; 32]));
        assert_eq!(hosts.lookup("127.0.0.1:8081").expect("read"), Some([9; 32]));
        assert_eq!(hosts.lookup("other:8081").expect("read"), None);
        let help = hosts.changed_help("chat:8081");
        assert!(help.contains("sed -i '/^chat:8081 /d'"), "{help}");
        fs::write(hosts.path(), "# comment\nchat:8081 nonsense\n").expect("write");
        assert!(hosts.lookup("chat:8081").is_err());
    }

    #[test]
    fn a_list_of_servers_is_one_service_in_any_order() {
        let home = tempfile::tempdir().expect("tempdir");
        let hosts = KnownHosts::in_home(home.path());
        hosts.record("b:8081, A:8081", &[5; 32]).expect("recorded");
        assert_eq!(hosts.lookup("a:8081,b:8081").expect("read"), Some([5; 32]));
        assert_eq!(
            hosts.lookup("b:8081,a:8081,a:8081").expect("read"),
            Some([5; 32])
        );
        // One instance alone is another entry, and so is a longer list.
        assert_eq!(hosts.lookup("a:8081").expect("read"), None);
        assert_eq!(hosts.lookup("a:8081,b:8081,c:8081").expect("read"), None);
        let text = fs::read_to_string(hosts.path()).expect("read");
        assert!(text.starts_with("a:8081,b:8081 "), "{text}");
        let help = hosts.changed_help("b:8081,a:8081");
        assert!(help.contains("sed -i '/^a:8081,b:8081 /d'"), "{help}");
    }
}
