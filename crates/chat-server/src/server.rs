//! [`run`]: the chat server on a bound socket, until cancelled. It picks the store (memory, or
//! SQLite behind its writer thread), puts the chat core over it, assembles the limits on client
//! requests as a tower stack (session cap, rate limit, sending limits), hands it all to the
//! session driver, and ticks expiry and the summary log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dgram_net::rate_limit_layer::{RateLimit, RateLimitLayer};
use dgram_net::session::{drive, now, Command};
use dgram_proto::session::{self, SessionId};
use dgram_proto::token_bucket::Rate;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower::util::Either;
use tower::ServiceBuilder;

use crate::admit::Admit;
use crate::core::{ChangeStore, Chat, ChatConfig, MemoryStore};
use crate::endpoint::ChatEndpoint;
use crate::requests::{now_ms, AnyChat};
use crate::send_limits::{SendLimit, SendLimitLayer};
use crate::session_cap::{SessionCap, SessionCapLayer};
use crate::store::writer::{Writer, WriterThread};
use crate::store::Store;
use crate::Error;

/// How the chat server behaves; the defaults are the documented ones.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Session tunables (timeouts, buffers).
    pub session: session::Config,
    /// Chat caps and lifetimes.
    pub chat: ChatConfig,
    /// Requests per session: a burst, then a steady rate. `None` turns the limit off.
    pub rate: Option<Rate>,
    /// Messages per name, from all its sessions together: a burst, then a steady rate. `None`
    /// turns the limit off.
    pub name_rate: Option<Rate>,
    /// Messages per client network (an IPv4 address, an IPv6 /64), from all its sessions
    /// together. `None` turns the limit off.
    pub network_rate: Option<Rate>,
    /// Open sessions per client IP address.
    pub max_sessions_per_ip: usize,
    /// The seed of every secret the server makes; `None` draws one from the system.
    pub seed: Option<[u8; 32]>,
    /// The server's long-term key; `None`: the one in the data directory (made there at first
    /// start), or a fresh one per run in memory. Tests set it to keep one key across restarts.
    pub identity: Option<session::Keypair>,
    /// How often old messages are dropped and a summary is logged.
    pub summary_every: Duration,
    /// Where the chat state is kept (SQLite); `None` keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// The most bytes the database may take; past it new messages are refused, as on a full
    /// disk. `None`: as much as the disk holds.
    pub max_db_bytes: Option<u64>,
    /// NATS servers of a JetStream cluster to join as one instance of a chat service; empty:
    /// a single server (the data directory's SQLite, or memory). With servers, the cluster's
    /// log is the store and the data directory is not used.
    pub nats: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session: session::Config::default(),
            chat: ChatConfig::default(),
            rate: Some(Rate {
                per_second: 5.0,
                burst: 10,
            }),
            name_rate: Some(Rate {
                per_second: 10.0,
                burst: 20,
            }),
            network_rate: Some(Rate {
                per_second: 20.0,
                burst: 40,
            }),
            max_sessions_per_ip: 16,
            seed: None,
            identity: None,
            summary_every: Duration::from_secs(60),
            data_dir: None,
            max_db_bytes: None,
            nats: Vec::new(),
        }
    }
}

/// The limits on client requests: the per-IP session cap, then the per-session rate limit
/// (absent when turned off), then the sending limits per name and per network.
pub(crate) type Limits =
    SessionCap<Either<RateLimit<SendLimit<Admit>, SessionId>, SendLimit<Admit>>>;

/// A seed from the operating system's randomness.
fn system_seed() -> Result<[u8; 32], Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Socket(std::io::Error::other(e.to_string())))?;
    Ok(seed)
}

/// The session layer's seed, derived from the server's (the chat core draws no randomness:
/// names belong to keys, so it makes no claim keys).
fn session_seed(seed: [u8; 32]) -> [u8; 32] {
    *blake3::keyed_hash(&seed, b"sessions").as_bytes()
}

/// Opens the database under `dir`, loads the chat state from it, and starts the writer thread,
/// whose reports reach the endpoint as driver commands.
fn durable(
    dir: &Path,
    settings: &Settings,
    reports: mpsc::Sender<Command<ChatEndpoint<Limits>>>,
) -> Result<(AnyChat, WriterThread), Error> {
    let store = Store::open(dir)?;
    if let Some(bytes) = settings.max_db_bytes {
        store.limit_size(bytes)?;
    }
    let snapshot = store.load(&settings.chat, now_ms())?;
    tracing::info!(
        path = %store.path().display(),
        users = snapshot.users.len(),
        rooms = snapshot.rooms.len(),
        queued = snapshot.queued.len(),
        "chat state loaded"
    );
    let (writer, thread) = Writer::spawn(store, move |report| {
        let command: Command<_> =
            Box::new(move |ep: &mut ChatEndpoint<Limits>, now| ep.report(now, report));
        // The driver is gone only when the server is stopping.
        let _ = reports.blocking_send(command);
    })
    .map_err(Error::Socket)?;
    let store: Box<dyn ChangeStore + Send> = Box::new(writer);
    let mut chat = Chat::new(settings.chat.clone(), store);
    chat.restore(snapshot);
    Ok((chat, thread))
}

/// Serves chat on `socket` until `shutdown` is cancelled; then says goodbye to every session.
pub async fn run(
    socket: UdpSocket,
    shutdown: CancellationToken,
    settings: Settings,
) -> Result<(), Error> {
    let local = socket.local_addr().map_err(Error::Socket)?;
    let seed = match settings.seed {
        Some(seed) => seed,
        None => system_seed()?,
    };
    let session_seed = session_seed(seed);
    let (commands, rx) = mpsc::channel::<Command<_>>(1024);
    let mut cluster = None;
    // A cluster's instances share one key, agreed on as they join.
    let mut service_key = None;
    let (chat, thread) = match &settings.data_dir {
        _ if !settings.nats.is_empty() => {
            let joining = crate::cluster::Joining {
                config: &settings.chat,
                seed,
                key: settings.identity.as_ref(),
                data_dir: settings.data_dir.as_deref(),
            };
            let (chat, tasks, key) =
                crate::cluster::join(&settings.nats, joining, commands.clone()).await?;
            cluster = Some(tasks);
            service_key = Some(key);
            (chat, None)
        }
        None => {
            let store: Box<dyn ChangeStore + Send> = Box::new(MemoryStore);
            (Chat::new(settings.chat.clone(), store), None)
        }
        Some(dir) => {
            let (chat, thread) = durable(dir, &settings, commands.clone())?;
            (chat, Some(thread))
        }
    };
    let limits = ServiceBuilder::new()
        .layer(SessionCapLayer::new(settings.max_sessions_per_ip))
        // With the limit off there is no layer, and no bucket per session.
        .option_layer(
            settings
                .rate
                .map(|rate| RateLimitLayer::<SessionId>::new(rate, settings.session.max_sessions)),
        )
        .layer(SendLimitLayer::new(
            settings.name_rate,
            settings.network_rate,
            settings.session.max_sessions,
        ))
        .service(Admit);
    // Handshakes past the per-IP cap are refused before a session exists; the cap there is one
    // more, so that the first session over it is told why (a chat error) rather than "busy".
    let session_config = session::Config {
        max_sessions_per_ip: settings.max_sessions_per_ip.saturating_add(1),
        ..settings.session.clone()
    };
    let identity = match (service_key, &settings.identity, &settings.data_dir) {
        (Some(key), _, _) => key,
        (None, Some(key), _) => key.clone(),
        (None, None, Some(dir)) => {
            let (key, made) = crate::server_key::load_or_create(dir)?;
            let path = crate::server_key::path(dir);
            tracing::info!(fingerprint = %session::fingerprint(&key.public), path = %path.display(), made, "server key");
            key
        }
        (None, None, None) => {
            let key = crate::server_key::generate()?;
            tracing::info!(fingerprint = %session::fingerprint(&key.public), "server key (in memory, new this run)");
            key
        }
    };
    let sessions = session::Server::new(session_config, session_seed, now(), identity);
    let endpoint = ChatEndpoint::new(sessions, limits, chat);

    let ticker = tokio::spawn({
        let shutdown = shutdown.clone();
        let every = settings.summary_every;
        async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        let expire: Command<_> = Box::new(|ep: &mut ChatEndpoint<_>, now| ep.expire(now));
                        if commands.send(expire).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    tracing::info!(
        %local,
        rate = ?settings.rate,
        name_rate = ?settings.name_rate,
        network_rate = ?settings.network_rate,
        max_sessions_per_ip = settings.max_sessions_per_ip,
        "chat server listening"
    );
    let on_event = |ep: &mut ChatEndpoint<_>, now, event| ep.on_event(now, event);
    let result = drive(&socket, endpoint, rx, on_event, shutdown).await;
    ticker.abort();
    let endpoint = result.map_err(Error::Socket)?;
    tracing::info!(
        sessions = endpoint.sessions.sessions(),
        "chat server stopped"
    );
    // Dropping the endpoint closes the store's queue; the writer commits what is left, and the
    // server is not stopped until it has (a restart must find every accepted message).
    drop(endpoint);
    if let Some(tasks) = cluster {
        tasks.stop().await;
    }
    if let Some(thread) = thread {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    Ok(())
}
