//! Following a chat server that is known by name. `--server chat:8081` is looked up at start;
//! in docker compose a re-created `chat` container comes back with a new IP, and a long-running
//! `listen` or `chat` would handshake with the old one forever. So while the link has no
//! session, the name is looked up again (at once when the session ends, then every few
//! seconds), and if it now points elsewhere the session client is told to handshake there.
//!
//! A service of several instances is given as a list (`--server a:8081,b:8081`), and a name
//! that resolves to several addresses counts as several: when the session ends (the server
//! stopped answering, or forgot us), the session client is pointed at the next address of
//! the list at once, and at the one after every few seconds while none welcomes it. Its chat
//! state joins again there with the same identity, and what it had not had answered is sent
//! again, as after a server restart.
//!
//! The lookup runs on its own task, off the driver's; the retarget itself is a command run on
//! the driver, so that the news of it reaches the front ends in order with the session's own.
//! The resolver is injectable: the tests move a server without touching DNS.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use dgram_net::session::Command;
use dgram_proto::session::ServerPin;
use tokio::sync::{mpsc, oneshot, watch};

use crate::event::{LinkEvent, LookupFailed, Moved};
use crate::known_hosts::KnownHosts;
use crate::wire::ChatSession;

/// How often a name is looked up again while there is still no session: soon enough that a
/// re-created container is found within seconds, rare enough to be no load on any resolver.
const EVERY: Duration = Duration::from_secs(3);

/// The longest one lookup of the system resolver may take; its own timeouts and retries can
/// add up to much more, and meanwhile the next try would wait.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The chat server as the user gave it, and the address it resolved to at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTarget {
    /// The text of `--server` (`chat:8081`, `127.0.0.1:8081`, or a list of them separated by
    /// commas: the instances of one service).
    pub given: String,
    /// Where it pointed at start.
    pub addr: SocketAddr,
    /// Given as one `IP:PORT`: there is nothing to look up again, and nowhere else to go.
    pub literal: bool,
    /// What server key the session accepts (`--server-key`, or a recorded one).
    pub pin: ServerPin,
    /// Where the key is recorded on first use, and was looked up (none: nothing recorded).
    pub known_hosts: Option<KnownHosts>,
}

impl ServerTarget {
    /// The server as given (`--server`), resolved at start to `addr`.
    pub fn new(given: &str, addr: SocketAddr) -> Self {
        let given = given.trim();
        let parts = servers(given);
        Self {
            given: given.to_owned(),
            addr,
            literal: parts.len() == 1 && parts[0].parse::<SocketAddr>().is_ok(),
            pin: ServerPin::Any,
            known_hosts: None,
        }
    }

    /// The servers given, in order (one, or the instances of a service).
    pub fn servers(&self) -> Vec<&str> {
        servers(&self.given)
    }

    /// The same target, pinned to the key `hosts` recorded for it; with none recorded, it
    /// trusts the first key and records it there. A pin given already (`--server-key`) wins,
    /// and nothing is recorded.
    pub fn trusting(self, hosts: KnownHosts) -> Result<Self, crate::Error> {
        if self.pin != ServerPin::Any {
            return Ok(self);
        }
        let pin = match hosts.lookup(&self.given)? {
            Some(key) => ServerPin::Key(key),
            None => ServerPin::Any,
        };
        Ok(Self {
            pin,
            known_hosts: Some(hosts),
            ..self
        })
    }

    /// The same target, accepting only a server key that `pin` accepts.
    pub fn with_pin(self, pin: ServerPin) -> Self {
        Self { pin, ..self }
    }
}

/// The servers of a `--server` text: the parts between commas, trimmed, empty ones skipped.
pub fn servers(given: &str) -> Vec<&str> {
    given
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// One lookup under way: every address the name has now.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Looks a `HOST:PORT` up.
pub type Resolver = Arc<dyn Fn(&str) -> Lookup + Send + Sync>;

/// How a name is followed: who looks it up, how often while disconnected, and how long one
/// lookup may take (a field, not a constant, so that the tests need not wait seconds for it).
#[derive(Clone)]
pub struct Follow {
    /// Who looks the name up.
    pub resolver: Resolver,
    /// How often it is looked up again while there is no session.
    pub every: Duration,
    /// The longest one lookup may take.
    pub lookup_timeout: Duration,
}

impl fmt::Debug for Follow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follow")
            .field("every", &self.every)
            .field("lookup_timeout", &self.lookup_timeout)
            .finish_non_exhaustive()
    }
}

impl Follow {
    /// The system's resolver (tokio's `lookup_host`, which blocks on a thread of its own).
    pub fn system() -> Self {
        let resolver: Resolver = Arc::new(|given: &str| {
            let given = given.to_owned();
            Box::pin(async move { Ok(tokio::net::lookup_host(given).await?.collect()) })
        });
        Self {
            resolver,
            every: EVERY,
            lookup_timeout: LOOKUP_TIMEOUT,
        }
    }
}

/// The address to try next of those the servers have now (in the order given, each name's
/// addresses in the order its lookup listed them): the one after the current one, which has
/// just stopped answering or never did (the first when the current one is not among them any
/// more, as when a name moved; the current one when it is all there is), of those that the
/// socket can reach (its family, which at start was IPv4 whenever the name had one, as in
/// `args::server`) and that a reply can come from.
pub(crate) fn pick(found: &[SocketAddr], current: SocketAddr) -> Result<SocketAddr, String> {
    let mut usable: Vec<SocketAddr> = Vec::with_capacity(found.len());
    for &a in found {
        let fits = a.is_ipv4() == current.is_ipv4() && !a.ip().is_unspecified() && a.port() != 0;
        if fits && !usable.contains(&a) {
            usable.push(a);
        }
    }
    match usable.iter().position(|&a| a == current) {
        Some(at) => Ok(usable[(at + 1) % usable.len()]),
        None => usable.first().copied().ok_or_else(|| {
            let family = if current.is_ipv4() { "IPv4" } else { "IPv6" };
            format!("it resolves to no usable {family} address")
        }),
    }
}

/// Every address the servers `parts` have now: an `IP:PORT` as given, a name as `follow`
/// looks it up. An error only when none gave any (a list's other servers still serve while
/// one name fails), naming each failure.
async fn lookup(follow: &Follow, parts: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for part in parts {
        if let Ok(addr) = part.parse::<SocketAddr>() {
            found.push(addr);
            continue;
        }
        let why = match tokio::time::timeout(follow.lookup_timeout, (follow.resolver)(part)).await {
            Ok(Ok(addrs)) => {
                found.extend(addrs);
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            // In seconds with a fraction: a short timeout must not read as "0 s".
            Err(_) => format!("no answer within {} s", follow.lookup_timeout.as_secs_f64()),
        };
        failed.push(match parts.len() {
            1 => why,
            _ => format!("{part}: {why}"),
        });
    }
    if found.is_empty() && !failed.is_empty() {
        return Err(failed.join("; "));
    }
    Ok(found)
}

/// The task that looks the name up (or goes on to the list's next server) while the link has
/// no session.
pub(crate) struct Follower {
    pub(crate) given: String,
    pub(crate) follow: Follow,
    /// Whether the session is up, as the driver last reported.
    pub(crate) up: watch::Receiver<bool>,
    /// Where the session client is pointed; [`crate::Link::server`] reads it.
    pub(crate) current: watch::Sender<SocketAddr>,
    pub(crate) commands: mpsc::Sender<Command<ChatSession>>,
    pub(crate) events: mpsc::UnboundedSender<LinkEvent>,
}

impl Follower {
    /// Runs until the link is gone (the caller also stops it when the link closes).
    pub(crate) async fn run(self) {
        let Self {
            given,
            follow,
            mut up,
            current,
            commands,
            events,
        } = self;
        let parts: Vec<String> = servers(&given).into_iter().map(str::to_owned).collect();
        // The name was looked up just now, at start: the first try waits one interval.
        let mut pause = follow.every;
        // A failure is said once, until a lookup works again.
        let mut failing = false;
        loop {
            tokio::select! {
                alive = until(&mut up, true) => {
                    if !alive {
                        return;
                    }
                    // A session came up, so the outage that was reported is over: the next
                    // one's failure is news again.
                    failing = false;
                    if !until(&mut up, false).await {
                        return;
                    }
                    // The session just ended: the server may have moved, so look at once.
                    pause = Duration::ZERO;
                    continue;
                }
                () = tokio::time::sleep(pause) => {}
            }
            pause = follow.every;
            let from = *current.borrow();
            let found = lookup(&follow, &parts)
                .await
                .and_then(|found| pick(&found, from));
            match found {
                Err(reason) if failing => {
                    tracing::debug!(%given, %reason, "looking the chat server up again failed");
                }
                Err(reason) => {
                    failing = true;
                    let failed = LinkEvent::LookupFailed(LookupFailed {
                        given: given.clone(),
                        reason,
                        trying: from,
                    });
                    if events.send(failed).is_err() {
                        return;
                    }
                }
                Ok(to) => {
                    failing = false;
                    // Whether it took is the driver's business (connected meanwhile, the session
                    // stays where it is); here only a driver that is gone matters.
                    if to != from
                        && retarget(&commands, &events, &current, &given, to)
                            .await
                            .is_none()
                    {
                        return;
                    }
                }
            }
        }
    }
}

/// Waits until the session is up (or down); `false` once the link is gone.
async fn until(up: &mut watch::Receiver<bool>, want: bool) -> bool {
    up.wait_for(|&is| is == want).await.is_ok()
}

/// Points the session client at `to`, on the driver; whether it took (`None`: the driver is
/// gone). The news is sent from the driver too, so it comes before anything `to` answers, and
/// `current` is updated there before the news, so that whoever reads it and then asks
/// [`crate::Link::server`] sees `to`.
async fn retarget(
    commands: &mpsc::Sender<Command<ChatSession>>,
    events: &mpsc::UnboundedSender<LinkEvent>,
    current: &watch::Sender<SocketAddr>,
    given: &str,
    to: SocketAddr,
) -> Option<bool> {
    let (tx, rx) = oneshot::channel();
    let events = events.clone();
    let current = current.clone();
    let given = given.to_owned();
    let command: Command<ChatSession> = Box::new(move |session, now| {
        let from = session.server();
        let moved = session.set_server(now, to);
        if moved {
            current.send_replace(to);
            let _ = events.send(LinkEvent::Moved(Moved { given, from, to }));
        }
        let _ = tx.send(moved);
    });
    commands.send(command).await.ok()?;
    rx.await.ok()
}

#[cfg(test)]
mod tests;
