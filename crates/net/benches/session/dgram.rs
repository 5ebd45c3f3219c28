//! dgram's rows: reliable messages between a proto session client and server, each run by
//! `dgram_net::session::drive` on its own loopback socket, as the services run them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dgram_net::session::{drive, now, Command, Endpoint};
use dgram_proto::session::{
    Client, Config, Delivery, Event, Keypair, PathStats, Server, ServerPin, SessionId, Transmit,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::measure::{cpu_time, Drops, Outcome, Wire, SIZE, WINDOW};
use crate::run::Run;

/// An endpoint that drops a share of incoming datagrams (seeded) and counts what it sends.
struct Lossy<E> {
    inner: E,
    drops: Drops,
    wire: Arc<Wire>,
}

impl<E> Lossy<E> {
    fn new(inner: E, loss: f64, seed: u64, wire: Arc<Wire>) -> Self {
        Self {
            inner,
            drops: Drops::new(loss, seed),
            wire,
        }
    }
}

impl<E: Endpoint> Endpoint for Lossy<E> {
    type Event = E::Event;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, d: &[u8]) {
        if self.drops.lose() {
            self.wire.dropped(1);
        } else {
            self.inner.handle_datagram(now, from, d);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let transmit = self.inner.poll_transmit(now, buf)?;
        self.wire.count(1, transmit.len as u64);
        Some(transmit)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn poll_event(&mut self) -> Option<E::Event> {
        self.inner.poll_event()
    }
    fn close_all(&mut self) {
        self.inner.close_all();
    }
}

/// The session config, with `BENCH_MIN_RTO_MS` applied if set.
fn config() -> Config {
    let mut config = Config::default();
    if let Some(ms) = std::env::var("BENCH_MIN_RTO_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.min_rto = Duration::from_millis(ms);
    }
    config
}

/// Runs `run` over dgram sessions. Ends when the client has seen every message reported
/// delivered or failed (so after the last ack), or at the run's limit.
pub(crate) async fn sessions(run: Run) -> Outcome {
    let config = config();
    let server_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let client_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let route = run
        .path
        .open(server_socket.local_addr().expect("addr"))
        .await;
    let (client_wire, server_wire) = (Arc::new(Wire::default()), Arc::new(Wire::default()));
    let shutdown = CancellationToken::new();
    let server = Server::new(config.clone(), [1; 32], now(), Keypair::from_seed([3; 32]));
    let server = Lossy::new(server, run.loss, 0x5EED, server_wire.clone());
    let (_keep, no_commands) = mpsc::channel::<Command<Lossy<Server>>>(1);
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let received_all = Arc::new(OnceLock::<Instant>::new());
    let all = received_all.clone();
    let server_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let on_event = move |_: &mut Lossy<Server>, _, (_, e): (SessionId, Event)| {
                if let Event::Message { .. } = e {
                    if counter.fetch_add(1, Ordering::Relaxed) + 1 == run.count {
                        let _ = all.set(Instant::now());
                    }
                }
            };
            drive(&server_socket, server, no_commands, on_event, shutdown).await
        }
    });
    let client = Client::new(
        config,
        [2; 32],
        route.addr,
        now(),
        Keypair::from_seed([4; 32]),
        ServerPin::Any,
    );
    let client = Lossy::new(client, run.loss, 0xFACE, client_wire.clone());
    let (commands, command_rx) = mpsc::channel::<Command<Lossy<Client>>>(4);
    let (done_tx, done) = oneshot::channel::<usize>();
    let acked = Arc::new(AtomicUsize::new(0));
    let connected = Arc::new(OnceLock::<Instant>::new());
    let client_task = tokio::spawn({
        let shutdown = shutdown.clone();
        let on_event = sender(run.count, done_tx, acked.clone(), connected.clone());
        async move { drive(&client_socket, client, command_rx, on_event, shutdown).await }
    });
    let cpu0 = cpu_time();
    let start = Instant::now();
    let finished = tokio::time::timeout(run.limit, done).await.ok();
    let wall = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    drop(commands);
    shutdown.cancel();
    let _ = server_task.await;
    let client = client_task.await.ok().and_then(Result::ok);
    let got = received.load(Ordering::Relaxed);
    let acked = acked.load(Ordering::Relaxed);
    // Acked beyond what the server's application has: those wait behind a gap, in order.
    let mut note = client
        .and_then(|c| c.inner.path_stats())
        .map(|p| path_note(&p));
    if acked != got {
        let late =
            format!(" reported delivered to the sender: {acked} (the server's application: {got})");
        note.get_or_insert_with(String::new).push_str(&late);
    }
    Outcome {
        // Cut short by the limit: what the server had received by then.
        messages: finished.and_then(Result::ok).map_or(got, |d| d.min(got)),
        wall,
        received_all: received_all
            .get()
            .map(|&at| at.saturating_duration_since(start)),
        connected: connected
            .get()
            .map(|&at| at.saturating_duration_since(start)),
        cpu,
        sent: client_wire.snapshot(),
        acks: server_wire.snapshot(),
        proxy: route.close().await,
        note,
    }
}

/// The sender's path as it ended, in the words of quinn's note.
pub(crate) fn path_note(p: &PathStats) -> String {
    format!(
        "lost_packets={} congestion_events={} persistent_congestion={} sent_packets={} \
         retransmitted={} cwnd_at_end={} max_in_flight={} rtt_us={}",
        p.lost_packets,
        p.congestion_events,
        p.persistent_congestion,
        p.sent_packets,
        p.retransmitted,
        p.window,
        p.max_bytes_in_flight,
        p.smoothed_rtt.map_or(0, |r| r.as_micros())
    )
}

/// The client's event handler: a closed loop inside the driver that tops the window up as
/// acks come in, keeps `acked` up to date, and reports how many were delivered once all
/// `count` are settled.
fn sender(
    count: usize,
    done_tx: oneshot::Sender<usize>,
    acked: Arc<AtomicUsize>,
    connected: Arc<OnceLock<Instant>>,
) -> impl FnMut(&mut Lossy<Client>, Instant, Event) + Send + 'static {
    let mut done_tx = Some(done_tx);
    let payload = vec![b'x'; SIZE];
    let mut sent = 0usize;
    let mut delivered = 0usize;
    let mut failed = 0usize;
    move |c: &mut Lossy<Client>, now: Instant, e: Event| {
        match e {
            Event::Connected { .. } => {
                let _ = connected.set(now);
            }
            Event::Delivered { .. } => {
                delivered += 1;
                acked.store(delivered, Ordering::Relaxed);
            }
            Event::Failed { .. } => failed += 1,
            _ => {}
        }
        while connected.get().is_some() && sent < count && sent - delivered - failed < WINDOW {
            match c.inner.send(now, 0, payload.clone(), Delivery::Reliable) {
                Ok(_) => sent += 1,
                Err(_) => break,
            }
        }
        if delivered + failed == count {
            if let Some(tx) = done_tx.take() {
                let _ = tx.send(delivered);
            }
        }
    }
}
