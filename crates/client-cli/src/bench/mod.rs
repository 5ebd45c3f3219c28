//! `client-cli bench echo`: keeps a window of requests in flight against an echo server and
//! measures throughput and latency.
//!
//! The generator should not be what limits the measurement, so it runs on one thread (the
//! server under test gets the other cores), sends equal-sized datagrams in GSO batches and
//! receives with `recvmmsg` (and GRO where the kernel has it) through quinn-udp.

mod payload;
mod report;
mod window;

use std::io::{self, IoSliceMut, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::Mode;
use payload::{Payload, Verdict};
use report::{Report, Tally};
use window::Window;

/// A request unanswered for this long is counted lost and frees its slot in the window.
const LOSS_TIMEOUT: Duration = Duration::from_secs(1);

/// The most datagrams in one GSO send (Linux's own limit is 64).
const MAX_BATCH: usize = 64;

/// A GSO send is one UDP datagram to the kernel until it is cut up, so it must stay under
/// the 64 KiB an IP packet can hold.
const MAX_BATCH_BYTES: usize = 60_000;

/// What a receive buffer holds when the kernel coalesces datagrams (GRO): up to 64 KiB.
const GRO_SLOT: usize = 64 * 1024;

/// How many `recvmmsg` calls in a row before sending again, so that neither side starves.
const RECV_ROUNDS: usize = 4;

/// Socket buffers to ask for: a window of bursts should not overflow them. The kernel caps
/// the request at its own maximum, which is fine.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Everything `client-cli bench echo` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct BenchSettings {
    pub(crate) server: SocketAddr,
    pub(crate) window: usize,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) size: usize,
    pub(crate) mode: Mode,
}

/// Runs the benchmark and prints its report. Fails when not a single reply came back.
pub(crate) fn run(settings: BenchSettings) -> anyhow::Result<ExitCode> {
    let payload = Payload::new(settings.mode, settings.size)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (tally, measured) = runtime.block_on(async {
        let mut generator = Generator::new(&settings, payload)?;
        generator.run().await?;
        anyhow::Ok((generator.ledger.tally, generator.measured))
    })?;
    let report = Report {
        server: settings.server,
        mode: settings.mode,
        window: settings.window,
        size: settings.size,
        measured,
        tally: &tally,
    };
    if tally.received == 0 {
        // Said first, so that the result line stays the last line even on a shared terminal.
        let _ = writeln!(
            io::stderr(),
            "client-cli: no replies from {} (is an echo server running there?)",
            settings.server
        );
    }
    let mut out = io::stdout().lock();
    writeln!(out, "{}", report.human_line()).context("writing to stdout")?;
    writeln!(out, "{}", report.result_line()).context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(if tally.received == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One run's socket, buffers and counters.
struct Generator {
    socket: UdpSocket,
    state: UdpSocketState,
    server: SocketAddr,
    size: usize,
    ledger: Ledger,
    measured: Duration,
    warmup: Duration,
    duration: Duration,
    tx: Vec<u8>,
    rx: Vec<u8>,
    rx_slot: usize,
    meta: Vec<RecvMeta>,
    /// Set when a send would block, so that the idle wait also waits for room to send.
    want_write: bool,
}

impl Generator {
    fn new(settings: &BenchSettings, payload: Payload) -> anyhow::Result<Self> {
        let local = dgram_net::unspecified_like(settings.server);
        let std_socket = std::net::UdpSocket::bind(local)
            .with_context(|| format!("binding a UDP socket on {local}"))?;
        let state = UdpSocketState::new((&std_socket).into())
            .context("preparing the socket for batched I/O")?;
        // Best effort: a smaller buffer only means more loss under bursts, which is reported.
        let _ = state.set_send_buffer_size((&std_socket).into(), SOCKET_BUFFER);
        let _ = state.set_recv_buffer_size((&std_socket).into(), SOCKET_BUFFER);
        let socket =
            UdpSocket::from_std(std_socket).context("registering the socket with tokio")?;
        let rx_slot = if state.gro_segments() > 1 {
            GRO_SLOT
        } else {
            settings.size.max(dgram_proto::MAX_DATAGRAM) + 1
        };
        let batch = MAX_BATCH.min(MAX_BATCH_BYTES / settings.size).max(1);
        Ok(Self {
            socket,
            state,
            server: settings.server,
            size: settings.size,
            ledger: Ledger {
                payload,
                window: Window::new(settings.window),
                tally: Tally::new()?,
                measure_from: None,
                measure_until: None,
            },
            measured: Duration::ZERO,
            warmup: settings.warmup,
            duration: settings.duration,
            tx: vec![0; batch * settings.size],
            rx: vec![0; rx_slot * BATCH_SIZE],
            rx_slot,
            meta: vec![RecvMeta::default(); BATCH_SIZE],
            want_write: false,
        })
    }

    /// Warms up, measures, then waits (at most the loss timeout) for the measured requests
    /// still in flight.
    async fn run(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        let measure_start = start + self.warmup;
        let measure_end = measure_start + self.duration;
        // Draining ends by itself within the loss timeout; this is the backstop.
        let hard_stop = measure_end + LOSS_TIMEOUT + Duration::from_secs(1);
        let mut measured_since = start;
        loop {
            let now = Instant::now();
            if self.ledger.measure_from.is_none() && now >= measure_start {
                self.ledger.measure_from = Some(self.ledger.window.next_seq());
                measured_since = now;
            }
            if self.ledger.measure_until.is_none() && now >= measure_end {
                let until = self.ledger.window.next_seq();
                self.ledger.measure_until = Some(until);
                self.ledger.tally.sent = until - self.ledger.measure_from.unwrap_or(until);
                self.measured = now.saturating_duration_since(measured_since);
            }
            let sending = self.ledger.measure_until.is_none();
            if !sending && (self.ledger.window.in_flight() == 0 || now >= hard_stop) {
                return Ok(());
            }
            self.ledger.window.expire(now, LOSS_TIMEOUT);

            let mut progressed = self.receive()?;
            if sending {
                progressed |= self.send()?;
            }
            if progressed {
                // Lets tokio poll the socket's readiness before the next round, without
                // sleeping: under load there is always more to do.
                tokio::task::yield_now().await;
                continue;
            }

            let phase_end = if self.ledger.measure_from.is_none() {
                measure_start
            } else if sending {
                measure_end
            } else {
                hard_stop
            };
            let wake = self
                .ledger
                .window
                .next_expiry(LOSS_TIMEOUT)
                .map_or(phase_end, |expiry| expiry.min(phase_end));
            let want_write = self.want_write && sending;
            tokio::select! {
                ready = self.socket.readable() => ready.context("waiting for replies")?,
                ready = self.socket.writable(), if want_write => {
                    ready.context("waiting to send")?;
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// Fills the window in GSO batches. Returns whether anything was sent.
    fn send(&mut self) -> anyhow::Result<bool> {
        self.want_write = false;
        let mut progressed = false;
        loop {
            let batch = self
                .ledger
                .window
                .room()
                .min(self.state.max_gso_segments())
                .min(self.tx.len() / self.size);
            if batch == 0 {
                return Ok(progressed);
            }
            let first = self.ledger.window.next_seq();
            let contents = &mut self.tx[..batch * self.size];
            for (i, datagram) in contents.chunks_exact_mut(self.size).enumerate() {
                self.ledger.payload.write(first + i as u64, datagram)?;
            }
            let transmit = Transmit {
                destination: self.server,
                ecn: None,
                contents,
                segment_size: (batch > 1).then_some(self.size),
                src_ip: None,
            };
            // Stamped before the call: on loopback the reply can be back before it returns.
            let sent_at = Instant::now();
            let sent = self.socket.try_io(Interest::WRITABLE, || {
                self.state.try_send((&self.socket).into(), &transmit)
            });
            match sent {
                Ok(()) => {
                    self.ledger.window.sent(sent_at, batch);
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.want_write = true;
                    return Ok(progressed);
                }
                // quinn-udp turns GSO off when the kernel or device refuses it; the batch did
                // not go out, so send it again in the smaller batches now allowed.
                Err(_) if batch > 1 && self.state.max_gso_segments() < batch => {}
                Err(e) => return Err(e).with_context(|| format!("sending to {}", self.server)),
            }
        }
    }

    /// Takes in what has arrived, a few batches at most. Returns whether anything did.
    fn receive(&mut self) -> anyhow::Result<bool> {
        let mut progressed = false;
        for _ in 0..RECV_ROUNDS {
            let mut bufs: Vec<IoSliceMut<'_>> = self
                .rx
                .chunks_mut(self.rx_slot)
                .map(IoSliceMut::new)
                .collect();
            let received = self.socket.try_io(Interest::READABLE, || {
                self.state
                    .recv((&self.socket).into(), &mut bufs, &mut self.meta)
            });
            drop(bufs);
            let count = match received {
                Ok(count) => count,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // An ICMP error for an earlier send, on systems that report them on
                // unconnected sockets: those requests will simply count as lost.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
                Err(e) => return Err(e).context("receiving replies"),
            };
            progressed = true;
            let now = Instant::now();
            for i in 0..count.min(self.meta.len()) {
                let meta = self.meta[i];
                if meta.addr.ip() != self.server.ip() || meta.addr.port() != self.server.port() {
                    continue;
                }
                let start = i * self.rx_slot;
                let Some(data) = self.rx.get(start..start + meta.len.min(self.rx_slot)) else {
                    continue;
                };
                // With GRO one buffer holds several datagrams, `stride` bytes apart.
                let stride = if meta.stride == 0 {
                    data.len()
                } else {
                    meta.stride
                };
                for datagram in data.chunks(stride.max(1)) {
                    self.ledger.judge(datagram, now);
                }
            }
        }
        Ok(progressed)
    }
}

/// What was sent, what came back, and which requests count.
struct Ledger {
    payload: Payload,
    window: Window,
    tally: Tally,
    /// The measured requests: from the first, up to (not including) the end once known.
    measure_from: Option<u64>,
    measure_until: Option<u64>,
}

impl Ledger {
    fn judge(&mut self, datagram: &[u8], now: Instant) {
        let seq = match self.payload.check(datagram) {
            Verdict::Answer(seq) => seq,
            Verdict::Wrong(seq) => {
                self.tally.wrong += 1;
                // The request was answered, if wrongly: it need not wait out the timeout.
                if let Some(seq) = seq {
                    self.window.answer(seq);
                }
                return;
            }
        };
        let Some(sent) = self.window.answer(seq) else {
            self.tally.late += 1;
            return;
        };
        if self.is_measured(seq) {
            self.tally.received(now.saturating_duration_since(sent));
        }
    }

    fn is_measured(&self, seq: u64) -> bool {
        self.measure_from.is_some_and(|from| seq >= from)
            && self.measure_until.is_none_or(|until| seq < until)
    }
}
