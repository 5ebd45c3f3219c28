//! The service's one server key. Clients pin one key for the whole service (and go from one
//! instance to another when theirs stops answering), so every instance must prove the same.
//! The first instance to join stores its key, create-only, in the `chat_service` bucket: the
//! key from its data directory when it has one (a single server made a cluster keeps the key
//! its clients pinned), else a new one. Every later instance loads that key, and writes it to
//! its data directory when that has none, so that `chat-server key` prints the service's
//! fingerprint on every instance. A data directory holding another key is refused at start
//! rather than silently overruled: clients that pinned the one would refuse the other.
//!
//! Why the bucket and not a file copied by hand: the cluster already holds everything a key
//! protects (the log holds every message in clear, and whoever can write to it can speak as
//! anyone), so keeping the key there widens no trust, while a copy forgotten on one instance
//! would only show when its clients fail over to it and are refused.

use std::path::Path;

use async_nats::jetstream::{self, kv};
use dgram_proto::session::{fingerprint, Keypair};

use super::{bucket, retry};
use crate::server_key::to_hex;

/// The bucket of what the instances share, and the key's entry in it.
const SERVICE: &str = "chat_service";
const ENTRY: &str = "server_key";

/// The service's key, made or found in the bucket as the module says.
pub(super) async fn service_key(
    js: &jetstream::Context,
    replicas: usize,
    data_dir: Option<&Path>,
    deadline: std::time::Instant,
) -> Result<Keypair, String> {
    let store = retry(deadline, || bucket(js, SERVICE, replicas))
        .await
        .map_err(|e| format!("cannot make the bucket {SERVICE}: {e}"))?;
    let mine = match data_dir {
        Some(dir) if crate::server_key::path(dir).exists() => {
            let path = crate::server_key::path(dir);
            Some(crate::server_key::load(&path).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let (key, made) = retry(deadline, || agree(&store, mine.as_ref())).await?;
    if let Some(dir) = data_dir {
        check_or_keep(dir, mine.as_ref(), &key)?;
    }
    tracing::info!(
        fingerprint = %fingerprint(&key.public),
        first = made,
        "server key (shared by the service's instances through {SERVICE})"
    );
    Ok(key)
}

/// The key in the bucket, stored first (`true`) from `mine` or a new one if there is none.
async fn agree(store: &kv::Store, mine: Option<&Keypair>) -> Result<(Keypair, bool), String> {
    if let Some(stored) = store.get(ENTRY).await.map_err(|e| e.to_string())? {
        return parse(&stored).map(|k| (k, false));
    }
    let offer = match mine {
        Some(k) => k.clone(),
        None => crate::server_key::generate().map_err(|e| e.to_string())?,
    };
    match store.create(ENTRY, to_hex(&offer).into()).await {
        Ok(_) => Ok((offer, true)),
        // Another instance stored its key first: that one is the service's.
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
            let stored = store.get(ENTRY).await.map_err(|e| e.to_string())?;
            let stored = stored.ok_or("the service's key vanished from its bucket")?;
            parse(&stored).map(|k| (k, false))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The data directory's key must be the service's; one it lacks is written there.
fn check_or_keep(dir: &Path, mine: Option<&Keypair>, key: &Keypair) -> Result<(), String> {
    let path = crate::server_key::path(dir);
    match mine {
        Some(mine) if mine.public == key.public => Ok(()),
        Some(mine) => Err(format!(
            "{} holds the key {}, but the service's instances share {} (in the NATS bucket \
             {SERVICE}); clients pinned to one would refuse the other. Remove the file to \
             take the service's key (it is written there), or use a new cluster to serve \
             this key",
            path.display(),
            fingerprint(&mine.public),
            fingerprint(&key.public)
        )),
        None => crate::server_key::save(dir, key).map_err(|e| e.to_string()),
    }
}

/// A key as the bucket holds it: the private key in hex, as in `server.key`.
fn parse(entry: &[u8]) -> Result<Keypair, String> {
    std::str::from_utf8(entry)
        .ok()
        .and_then(crate::server_key::parse)
        .ok_or_else(|| "the stored server key is not 64 hex digits".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_reads_back_and_garbage_is_refused() {
        let key = Keypair::from_seed([9; 32]);
        let stored = to_hex(&key);
        assert_eq!(parse(stored.as_bytes()).expect("parses").public, key.public);
        assert!(parse(b"not a key").is_err());
        assert!(parse(&[0xff; 64]).is_err());
    }
}
