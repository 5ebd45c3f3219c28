//! `cargo bench -p dgram-net --bench session`: reliable messages per second and CPU time per
//! message through real loopback sockets, at 0 % and 10 % loss, beside raw UDP datagrams (no
//! acks, no resends) over the same sockets as the baseline. Prints one line per run, the header
//! overhead, and the ratios. Every run is bounded in messages and in time.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dgram_net::session::{drive, now, Command, Endpoint};
use dgram_proto::session::{packet, Client, Config, Delivery, Event, Server, SessionId, Transmit};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const SIZE: usize = 100;
const WINDOW: usize = 512;
const LIMIT: Duration = Duration::from_secs(60);

/// Drops a share of incoming datagrams, seeded: loss on the path without a proxy in the way.
struct Lossy<E> {
    inner: E,
    loss: f64,
    state: u64,
}

impl<E> Lossy<E> {
    fn new(inner: E, loss: f64, seed: u64) -> Self {
        Self {
            inner,
            loss,
            state: seed | 1,
        }
    }

    fn lose(&mut self) -> bool {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % 10_000) as f64 / 10_000.0 < self.loss
    }
}

impl<E: Endpoint> Endpoint for Lossy<E> {
    type Event = E::Event;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, d: &[u8]) {
        if !self.lose() {
            self.inner.handle_datagram(now, from, d);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.inner.poll_transmit(now, buf)
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

/// CPU time of the whole process so far (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // Linux reports in USER_HZ, which is 100 on every mainstream configuration.
    Duration::from_millis(ticks * 10)
}

struct Outcome {
    messages: usize,
    wall: Duration,
    cpu: Duration,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.wall.as_secs_f64()
    }

    fn cpu_per_message(&self) -> Duration {
        self.cpu / self.messages.max(1) as u32
    }
}

/// The baseline: `count` datagrams of SIZE bytes, sent and received as fast as the receiver
/// drains them, no acks. The sender keeps WINDOW ahead of the receiver so the socket buffer never
/// overflows (which would make it a test of the kernel's drops).
async fn raw_udp(count: usize) -> Outcome {
    let rx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let to = rx.local_addr().expect("addr");
    let (progress_tx, mut progress) = mpsc::unbounded_channel::<usize>();
    let start = Instant::now();
    let cpu0 = cpu_time();
    let receiver = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut got = 0;
        while got < count {
            match tokio::time::timeout(Duration::from_secs(1), rx.recv_from(&mut buf)).await {
                Ok(Ok(_)) => {
                    got += 1;
                    if got % 64 == 0 {
                        let _ = progress_tx.send(got);
                    }
                }
                _ => break,
            }
        }
        got
    });
    let payload = vec![b'x'; SIZE];
    let mut acked = 0;
    for sent in 0..count {
        while sent >= acked + WINDOW {
            match tokio::time::timeout(Duration::from_secs(1), progress.recv()).await {
                Ok(Some(n)) => acked = n,
                _ => break,
            }
        }
        let _ = tx.send_to(&payload, to).await;
        if start.elapsed() > LIMIT {
            break;
        }
    }
    let messages = receiver.await.unwrap_or(0);
    Outcome {
        messages,
        wall: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu0),
    }
}

/// `count` reliable messages of SIZE bytes from a client to a server, WINDOW unacknowledged at
/// most, with `loss` of the datagrams each side receives dropped. Ends when all are delivered.
async fn sessions(count: usize, loss: f64) -> Outcome {
    let mut config = Config::default();
    if let Some(ms) = std::env::var("BENCH_MIN_RTO_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.min_rto = Duration::from_millis(ms);
    }
    let server_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let client_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = server_socket.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let server = Lossy::new(Server::new(config.clone(), [1; 32], now()), loss, 0x5EED);
    let (_keep, no_commands) = mpsc::channel::<Command<Lossy<Server>>>(1);
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    let server_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let on_event = move |_: &mut Lossy<Server>, _, (_, e): (SessionId, Event)| {
                if let Event::Message { .. } = e {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            };
            drive(&server_socket, server, no_commands, on_event, shutdown).await
        }
    });
    let client = Lossy::new(
        Client::new(config, [2; 32], server_addr, now()),
        loss,
        0xFACE,
    );
    let (commands, command_rx) = mpsc::channel::<Command<Lossy<Client>>>(4);
    let (done_tx, done) = oneshot::channel::<usize>();
    let mut done_tx = Some(done_tx);
    let payload = vec![b'x'; SIZE];
    let mut sent = 0usize;
    let mut delivered = 0usize;
    let mut failed = 0usize;
    let mut started: Option<Instant> = None;
    let client_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let on_event = move |c: &mut Lossy<Client>, now: Instant, e: Event| {
                match e {
                    Event::Connected { .. } => {
                        started.get_or_insert(now);
                    }
                    Event::Delivered { .. } => delivered += 1,
                    Event::Failed { .. } => failed += 1,
                    _ => {}
                }
                // A closed loop inside the driver: top the window up as acks come in.
                while started.is_some() && sent < count && sent - delivered - failed < WINDOW {
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
            };
            drive(&client_socket, client, command_rx, on_event, shutdown).await
        }
    });
    let cpu0 = cpu_time();
    let start = Instant::now();
    let messages = tokio::time::timeout(LIMIT, done)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    let wall = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    drop(commands);
    shutdown.cancel();
    let _ = server_task.await;
    let _ = client_task.await;
    let got = received.load(std::sync::atomic::Ordering::Relaxed);
    Outcome {
        messages: messages.min(got),
        wall,
        cpu,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let count: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    runtime.block_on(async {
        println!("session bench: {count} messages of {SIZE} bytes, window {WINDOW}, loopback");
        println!(
            "header overhead: {} bytes per packet + {} per reliable fragment",
            packet::HEADER_LEN,
            packet::frame_overhead_reliable()
        );
        let raw = raw_udp(count).await;
        let lossless = sessions(count, 0.0).await;
        let lossy = sessions(count / 2, 0.10).await;
        for (name, o) in [
            ("raw udp", &raw),
            ("dgram 0% loss", &lossless),
            ("dgram 10% loss", &lossy),
        ] {
            println!(
                "{name:<16} messages={:<8} msgs_per_s={:>10.0} cpu_us_per_msg={:>6.2} wall_s={:.2}",
                o.messages,
                o.rate(),
                o.cpu_per_message().as_secs_f64() * 1e6,
                o.wall.as_secs_f64()
            );
        }
        println!(
            "ratio reliable/raw: 0%={:.2} 10%={:.2}",
            lossless.rate() / raw.rate(),
            lossy.rate() / raw.rate()
        );
    });
}
