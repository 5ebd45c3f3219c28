//! dgram's loss-injecting UDP proxy, so that anyone can watch UDP lose, duplicate, delay and
//! reorder datagrams, and dgram recover (`client-cli proxy` runs it; tests put it between their
//! clients and servers).
//!
//! It works like Docker's userland UDP proxy: each client seen on the listening socket gets a
//! flow with an upstream socket of its own, connected to the target, so the target sees one
//! source per client and its replies go back to the right one. [`Impairment`]s apply in both
//! directions, drawn from a seeded generator so that a run can be replayed; a [`Bottleneck`]
//! (a bandwidth limit with a drop-tail queue) can stand for a slow link. Everything runs in
//! one loop on the caller's runtime, plus one small task per flow that reads the target's
//! replies; memory is bounded by [`Limits`]. The decisions (what becomes of a datagram, when it
//! crosses the bottleneck, when a held one is due) are plain values with no I/O, unit-tested
//! with a simulated clock.
#![forbid(unsafe_code)]

mod bottleneck;
mod error;
mod flows;
mod held;
mod impairment;
mod limits;
mod rng;
mod stats;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use bottleneck::{Admission, Link};
use flows::{Flows, Reply};
use held::{HeldQueue, Outgoing, Route};
use impairment::Fate;

pub use bottleneck::Bottleneck;
pub use error::Error;
pub use impairment::Impairment;
pub use limits::Limits;
pub use rng::random_seed;
pub use stats::{DirectionStats, ProxyStats};

/// Receive buffers hold this much, more than any UDP payload, so nothing is ever truncated.
const MAX_UDP: usize = 65_536;

/// How often the loop logs what happened, if anything did.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Replies read by the flows' tasks and not yet taken by the loop. Small: beyond it the tasks
/// wait and replies queue in the sockets' buffers, which the system bounds.
const REPLY_QUEUE: usize = 64;

/// Runs the proxy with the default [`Limits`] until `shutdown` is cancelled. See [`run_with`].
pub async fn run(
    listen: UdpSocket,
    to: SocketAddr,
    impairment: Impairment,
    shutdown: CancellationToken,
) -> Result<ProxyStats, Error> {
    run_with(listen, to, impairment, Limits::default(), shutdown).await
}

/// Forwards datagrams arriving on `listen` to `to` and the replies back, impaired, until
/// `shutdown` is cancelled; returns what it did. Delayed datagrams still held then are dropped.
///
/// Fails at once on a setting out of range or a target that cannot be sent to (unspecified,
/// port 0, or the listening socket itself), and later only if the listening socket fails for
/// good. A failure on one flow's socket never stops the proxy.
pub async fn run_with(
    listen: UdpSocket,
    to: SocketAddr,
    impairment: Impairment,
    limits: Limits,
    shutdown: CancellationToken,
) -> Result<ProxyStats, Error> {
    impairment.validate()?;
    limits.validate()?;
    let local = listen.local_addr().map_err(|source| Error::Socket {
        what: "cannot read the listening socket's address",
        source,
    })?;
    // A proxy listening on the wildcard is also on loopback: that target would be itself too.
    let is_self = to.port() == local.port()
        && (to.ip() == local.ip() || (local.ip().is_unspecified() && to.ip().is_loopback()));
    if to.ip().is_unspecified() || to.port() == 0 || is_self {
        return Err(Error::Setting(format!(
            "cannot forward to {to}: give the target's own address and port, not the proxy's"
        )));
    }
    tracing::info!(
        listen = %local,
        %to,
        loss = impairment.loss,
        dup = impairment.dup,
        reorder = impairment.reorder,
        delay_ms = impairment.delay.as_secs_f64() * 1e3,
        rate_kbit = impairment.bottleneck.map(|b| b.rate_kbit),
        queue_ms = impairment.bottleneck.map(|b| b.queue.as_secs_f64() * 1e3),
        seed = impairment.seed,
        idle_timeout_s = limits.idle_timeout.as_secs_f64(),
        max_flows = limits.max_flows,
        "proxy started"
    );
    let (replies_tx, replies) = mpsc::channel(REPLY_QUEUE);
    let mut proxy = Proxy {
        listen,
        impairment,
        flows: Flows::new(
            to,
            impairment.seed,
            limits.max_flows,
            limits.idle_timeout,
            replies_tx,
        ),
        held: HeldQueue::new(limits.max_held, limits.max_held_bytes),
        to_target_link: impairment.bottleneck.map(Link::new),
        to_client_link: impairment.bottleneck.map(Link::new),
        replies,
        stats: ProxyStats::default(),
    };
    let outcome = proxy.serve(limits, &shutdown).await;
    let mut stats = proxy.stats();
    stats.unsent_at_shutdown = proxy.held.len() as u64;
    tracing::info!(
        flows_opened = stats.flows_opened,
        unsent = stats.unsent_at_shutdown,
        "proxy stopped; to target: {}; to client: {}",
        stats.to_target,
        stats.to_client
    );
    outcome.map(|()| stats)
}

/// Errors a socket may report that say nothing about the socket itself: an ICMP error for an
/// earlier datagram (the peer's port closed), or an interrupted call.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// The proxy's loop and everything it owns. The flows' counters live in `flows`;
/// [`Proxy::stats`] puts them together.
struct Proxy {
    listen: UdpSocket,
    impairment: Impairment,
    flows: Flows,
    held: HeldQueue,
    /// The bottleneck each way, if there is one: shared by every flow, as a real link is.
    to_target_link: Option<Link>,
    to_client_link: Option<Link>,
    replies: mpsc::Receiver<Reply>,
    stats: ProxyStats,
}

impl Proxy {
    async fn serve(&mut self, limits: Limits, shutdown: &CancellationToken) -> Result<(), Error> {
        let mut buf = vec![0u8; MAX_UDP];
        let sweep_every = limits.sweep_every();
        let mut sweep = tokio::time::interval_at(Instant::now() + sweep_every, sweep_every);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut summary = tokio::time::interval_at(Instant::now() + SUMMARY_EVERY, SUMMARY_EVERY);
        summary.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_summary = self.stats();
        loop {
            let next_due = self.held.next_due();
            // Not `biased`: under a flood from clients, replies (and the other way round)
            // must still get their turn, as on a real link.
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = sleep_until(next_due) => self.release_due().await,
                received = self.listen.recv_from(&mut buf) => match received {
                    Ok((len, client)) => self.on_client_datagram(client, &buf[..len]).await,
                    // Some systems report a client's closed port on the next receive.
                    Err(err) if is_transient(&err) => {}
                    Err(source) => {
                        return Err(Error::Socket {
                            what: "receiving on the listening socket failed",
                            source,
                        })
                    }
                },
                Some(reply) = self.replies.recv() => self.on_reply(reply).await,
                _ = sweep.tick() => self.flows.expire(Instant::now()),
                _ = summary.tick() => {
                    let now = self.stats();
                    now.summarize_since(&last_summary, self.flows.len(), self.held.len());
                    last_summary = now;
                }
            }
        }
    }

    fn stats(&self) -> ProxyStats {
        ProxyStats {
            flows_opened: self.flows.opened,
            flows_expired: self.flows.expired,
            ..self.stats
        }
    }

    async fn on_client_datagram(&mut self, client: SocketAddr, datagram: &[u8]) {
        self.stats.to_target.received += 1;
        let Some(flow) = self.flows.get_or_open(client).await else {
            self.stats.to_target.no_flow += 1;
            return;
        };
        let now = Instant::now();
        flow.last_active = now;
        let fate = self.impairment.decide(&mut flow.to_target);
        let route = Route::Target(Arc::clone(&flow.upstream));
        self.dispatch(route, datagram, fate, now).await;
    }

    async fn on_reply(&mut self, reply: Reply) {
        self.stats.to_client.received += 1;
        let Some(flow) = self.flows.get_mut(reply.client) else {
            self.stats.to_client.no_flow += 1;
            return;
        };
        let now = Instant::now();
        flow.last_active = now;
        let fate = self.impairment.decide(&mut flow.to_client);
        self.dispatch(Route::Client(reply.client), &reply.datagram, fate, now)
            .await;
    }

    /// Carries out a datagram's fate: drops it; or passes it through the bottleneck, if any,
    /// and sends it now or holds it for later.
    async fn dispatch(&mut self, route: Route, datagram: &[u8], fate: Fate, now: Instant) {
        let counts = counts(&mut self.stats, &route);
        if self.impairment.mtu.is_some_and(|mtu| datagram.len() > mtu) {
            counts.too_large += 1;
            tracing::trace!(%route, len = datagram.len(), "larger than the path MTU; dropped");
            return;
        }
        if fate.copies == 0 {
            counts.dropped += 1;
            tracing::trace!(%route, len = datagram.len(), "dropped");
            return;
        }
        let link = match route {
            Route::Target(_) => &mut self.to_target_link,
            Route::Client(_) => &mut self.to_client_link,
        };
        let (copies, due) = match link {
            None => (fate.copies, now + fate.hold),
            Some(link) => match cross(link, counts, &route, now, datagram.len(), fate.copies) {
                Some((carried, departs)) => (carried, departs + fate.hold),
                None => return,
            },
        };
        if due <= now {
            counts.duplicated += u64::from(copies > 1);
            self.send(&route, datagram, copies).await;
            return;
        }
        let outgoing = Outgoing {
            route,
            datagram: datagram.to_vec(),
            copies,
        };
        match self.held.push(due, outgoing) {
            Ok(()) => {
                counts.delayed += u64::from(!fate.hold.is_zero());
                counts.reordered += u64::from(fate.reordered);
                counts.duplicated += u64::from(copies > 1);
            }
            Err(outgoing) => {
                counts.overflowed += 1;
                tracing::debug!(route = %outgoing.route, "timer queue full; dropped");
            }
        }
    }

    /// Sends every held datagram that is due.
    async fn release_due(&mut self) {
        let now = Instant::now();
        while let Some(out) = self.held.pop_due(now) {
            self.send(&out.route, &out.datagram, out.copies).await;
        }
    }

    async fn send(&mut self, route: &Route, datagram: &[u8], copies: u8) {
        for _ in 0..copies {
            let sent = match route {
                Route::Target(upstream) => upstream.send(datagram).await,
                Route::Client(client) => self.listen.send_to(datagram, *client).await,
            };
            let counts = counts(&mut self.stats, route);
            match sent {
                Ok(_) => counts.forwarded += 1,
                Err(err) => {
                    counts.send_failed += 1;
                    tracing::debug!(%err, %route, "send failed");
                }
            }
        }
    }
}

/// The counters of the direction `route` goes.
fn counts<'a>(stats: &'a mut ProxyStats, route: &Route) -> &'a mut DirectionStats {
    match route {
        Route::Target(_) => &mut stats.to_target,
        Route::Client(_) => &mut stats.to_client,
    }
}

/// Offers each copy of a datagram to the bottleneck's `link`, counting those that queue and those
/// dropped at the queue; how many it carries and when the last has crossed, if any.
///
/// Copies of a duplicated datagram leave together once both have crossed: one held entry keeps
/// their bytes once, and the first is late by at most one datagram's transmission.
fn cross(
    link: &mut Link,
    counts: &mut DirectionStats,
    route: &Route,
    now: Instant,
    len: usize,
    copies: u8,
) -> Option<(u8, Instant)> {
    let mut carried = None;
    for _ in 0..copies {
        match link.offer(now, len) {
            Admission::Carried { departs, queued } => {
                counts.queued += u64::from(queued);
                carried = Some((carried.map_or(1, |(n, _)| n + 1), departs));
            }
            Admission::Dropped => {
                counts.queue_dropped += 1;
                tracing::debug!(%route, len, "bottleneck queue full; dropped");
            }
        }
    }
    carried
}

/// Sleeps until `due`, or forever when nothing is held.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
