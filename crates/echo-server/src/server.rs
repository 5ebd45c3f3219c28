//! The server loop: wait for the socket, drain it batch by batch through the tower stack, send
//! the replies, and stop when the shutdown token is cancelled.

use std::future::poll_fn;
use std::io;
use std::time::{Duration, Instant};

use dgram_proto::echo::{Answer, EchoServer, GuardConfig, LoopGuard};
use dgram_proto::token_bucket::Rate;
use dgram_proto::Name;
use quinn_udp::UdpSocketState;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service};

use dgram_net::rate_limit_layer::RateLimitLayer;

use crate::service::{EchoService, Request};
use crate::{Error, Totals};
use dgram_net::batch::{grow_buffers, Receiver, Sender};

/// How many receive batches to handle before letting shutdown and the summary timer in.
const DRAIN_BATCHES: usize = 16;

/// How the server behaves; [`Settings::default`] is what `echo-server` runs with when given
/// no flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The rate each source IP address gets; `None` turns the limit off.
    pub rate: Option<Rate>,
    /// The rate of plain (non-envelope) replies each source IP address gets, on top of
    /// `rate`: plain replies are what another echo service can bounce back. `None` turns the
    /// limit off.
    pub plain_rate: Option<Rate>,
    /// How many source addresses each rate limiter remembers at most.
    pub max_tracked_sources: usize,
    /// How often rejected input is summarized in the log.
    pub summary_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate: Some(Rate {
                per_second: 1000.0,
                burst: 1000,
            }),
            plain_rate: GuardConfig::default().plain_rate,
            max_tracked_sources: 65_536,
            summary_every: Duration::from_secs(10),
        }
    }
}

/// Serves echo on `socket` until `shutdown` is cancelled, then returns what it did.
pub async fn run(
    socket: UdpSocket,
    shutdown: CancellationToken,
    settings: Settings,
) -> Result<Totals, Error> {
    let local = socket.local_addr().map_err(Error::LocalAddr)?;
    // "echo" is a constant that satisfies the name rules, so this cannot fail.
    let name = Name::new("echo").map_err(|e| Error::Socket {
        local,
        source: io::Error::other(e),
    })?;
    let guard = LoopGuard::new(GuardConfig {
        plain_rate: settings.plain_rate,
        max_tracked_sources: settings.max_tracked_sources,
        ..GuardConfig::default()
    });
    let service = EchoService::new(EchoServer::new(name, local), guard);
    tracing::info!(
        %local,
        rate = ?settings.rate,
        plain_rate = ?settings.plain_rate,
        "echo server listening"
    );
    let totals = match settings.rate {
        Some(rate) => {
            let layer = RateLimitLayer::new(rate, settings.max_tracked_sources);
            serve(&socket, layer.layer(service), &shutdown, &settings).await
        }
        None => serve(&socket, service, &shutdown, &settings).await,
    }
    .map_err(|source| Error::Socket { local, source })?;
    tracing::info!(
        received = totals.received,
        answered = totals.plain + totals.echoed + totals.errors_sent,
        rejected = totals.rejected(),
        "echo server stopped"
    );
    Ok(totals)
}

async fn serve<S>(
    socket: &UdpSocket,
    mut service: S,
    shutdown: &CancellationToken,
    settings: &Settings,
) -> io::Result<Totals>
where
    S: for<'a> Service<Request<'a>, Response = Answer, Error = Error>,
{
    let state = UdpSocketState::new(socket.into())?;
    grow_buffers(socket, &state, 4 << 20);
    let mut receiver = Receiver::new(&state);
    let mut sender = Sender::new();
    let mut totals = Totals::default();
    let mut summarized = totals;
    let mut summary = tokio::time::interval(settings.summary_every);
    summary.tick().await;

    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = summary.tick() => {
                totals.summarize_since(&summarized);
                summarized = totals;
                continue;
            }
            ready = socket.readable() => ready?,
        }
        for _ in 0..DRAIN_BATCHES {
            let filled = match receiver.try_recv(socket, &state) {
                Ok(filled) => filled,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => {
                    // ICMP errors from earlier sends can surface here; they are not fatal.
                    tracing::debug!(%err, "receive failed");
                    totals.recv_failed += 1;
                    break;
                }
            };
            let now = Instant::now();
            for (peer, datagram) in receiver.datagrams(filled) {
                totals.received += 1;
                let request = Request {
                    peer,
                    now,
                    datagram,
                    out: sender.slot(),
                };
                let result = match poll_fn(|cx| service.poll_ready(cx)).await {
                    Ok(()) => service.call(request).await,
                    Err(e) => Err(e),
                };
                tracing::debug!(%peer, bytes = datagram.len(), answer = ?result, "datagram");
                let reply_len = match result {
                    Ok(Answer::Reply { len, .. }) => Some(len),
                    _ => None,
                };
                totals.record(&result);
                sender.commit(peer, reply_len);
            }
            let flushed = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                flushed = sender.flush(socket, &state) => flushed,
            };
            totals.send_failed += flushed.failed;
        }
    }
    totals.summarize_since(&summarized);
    Ok(totals)
}
