//! The thin tokio driver for proto's session endpoints: it owns the socket and the timer, feeds
//! the state machine datagrams, timeouts and commands, sends what it asks to send, and hands its
//! events to the application. All protocol decisions stay in `dgram_proto::session`. Datagrams
//! come in by the batch (`recvmmsg`), so a busy server drains its socket in few system calls.
//!
//! Each session's path (congestion window, RTT, losses) is traced at debug level as its
//! messages are acknowledged, at most once a second per endpoint, and summed up at info level
//! when the session ends.
//!
//! The application runs in the same task, as the `on_event` callback, so it can answer an event
//! at once (a chat server routing a message) without a channel hop. Other tasks (a terminal, a
//! database) reach the endpoint with [`Command`]s: closures run against it between datagrams.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dgram_proto::session::{Client, Event, PathStats, Server, SessionId, Transmit};
use quinn_udp::UdpSocketState;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::batch::{grow_buffers, Receiver};

mod outbox;
use crate::sys::{receive_backlog, Backlog};
use outbox::Outbox;

/// Receive batches (each up to 32 datagrams, more with GRO) read in one go before timers,
/// commands and sends get their turn.
const RECV_BATCHES: usize = 4;

/// Kernel buffer asked for each way: a server with a thousand busy sessions must not lose a
/// burst to the default's 200 KiB before its task drains the socket.
const SOCKET_BUFFER: usize = 4 << 20;

/// The most often the driver traces a path at debug level.
const PATH_TRACE_EVERY: Duration = Duration::from_secs(1);

/// What an event says about its session's path, for the logs.
#[derive(Debug, Clone, Copy)]
pub struct PathReport {
    /// The session, on a server.
    pub session: Option<SessionId>,
    /// Whether the event ended the session (the stats are then as it ended).
    pub ended: bool,
    /// The window, RTT and loss counters.
    pub stats: PathStats,
}

/// A closure run against the endpoint inside the driver's task, with the current time.
pub type Command<E> = Box<dyn FnOnce(&mut E, Instant) + Send>;

/// What the driver needs of a session endpoint; implemented for proto's [`Server`] and
/// [`Client`].
pub trait Endpoint {
    /// What the endpoint reports.
    type Event;
    /// Takes in a datagram.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]);
    /// Runs due timers.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;
    /// When to call [`Endpoint::handle_timeout`] next.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// Says goodbye on every session (the driver is shutting down).
    fn close_all(&mut self);
    /// The path of the session `event` is about, when the event is worth a trace: the
    /// session's end, or a delivery report when `progress` asks for those too. Endpoints
    /// without sessions report none.
    fn path(&self, _event: &Self::Event, _progress: bool) -> Option<PathReport> {
        None
    }
    /// How full the socket's receive queue was after a turn that read anything, before the
    /// turn's events are handed over, with the time of its last read: [`Backlog::EMPTY`] when
    /// the turn drained the socket, else the kernel's figure. A server that falls behind can
    /// shed work with an error before the kernel starts dropping datagrams. Endpoints that
    /// cannot shed ignore it.
    fn receive_backlog(&mut self, _now: Instant, _backlog: Backlog) {}
}

/// Whether `event` is worth a trace of its session's path (delivery reports only if
/// `progress`), and whether it ends the session.
fn traced(event: &Event, progress: bool) -> Option<bool> {
    match event {
        Event::Closed { .. } | Event::HandshakeFailed { .. } => Some(true),
        Event::Delivered { .. } | Event::Failed { .. } => progress.then_some(false),
        Event::Connected { .. }
        | Event::Accepted { .. }
        | Event::Migrated { .. }
        | Event::Message { .. } => None,
    }
}

impl Endpoint for Server {
    type Event = (SessionId, Event);

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        Server::handle_datagram(self, now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Server::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Server::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Server::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<(SessionId, Event)> {
        Server::poll_event(self)
    }
    fn close_all(&mut self) {
        Server::close_all(self);
    }
    fn path(&self, (session, event): &(SessionId, Event), progress: bool) -> Option<PathReport> {
        Some(PathReport {
            session: Some(*session),
            ended: traced(event, progress)?,
            stats: self.path_stats(*session)?,
        })
    }
}

impl Endpoint for Client {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        Client::handle_datagram(self, now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Client::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Client::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Client::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Client::poll_event(self)
    }
    fn close_all(&mut self) {
        Client::close(self);
    }
    fn path(&self, event: &Event, progress: bool) -> Option<PathReport> {
        Some(PathReport {
            session: None,
            ended: traced(event, progress)?,
            stats: self.path_stats()?,
        })
    }
}

/// Whether a debug trace of a path is due (it is enabled, and the last was a second ago).
fn progress_due(now: Instant, last: Option<Instant>) -> bool {
    last.is_none_or(|t| now >= t + PATH_TRACE_EVERY) && tracing::enabled!(tracing::Level::DEBUG)
}

/// Logs a session's path: at info when it ended, else at debug.
fn trace_path(report: &PathReport, now: Instant, last: &mut Option<Instant>) {
    let p = &report.stats;
    macro_rules! path {
        ($level:expr, $message:literal) => {
            tracing::event!(
                $level,
                session = report.session,
                window = p.window,
                in_flight = p.bytes_in_flight,
                max_in_flight = p.max_bytes_in_flight,
                rtt = ?p.smoothed_rtt,
                sent = p.sent_packets,
                lost = p.lost_packets,
                retransmitted = p.retransmitted,
                congestion_events = p.congestion_events,
                persistent_congestion = p.persistent_congestion,
                max_datagram = p.max_datagram,
                $message
            )
        };
    }
    if report.ended {
        path!(tracing::Level::INFO, "session path at its end");
    } else {
        *last = Some(now);
        path!(tracing::Level::DEBUG, "session path");
    }
}

/// The current time on tokio's clock (which tests may pause), as proto's `Instant`.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Runs `endpoint` on `socket` until `shutdown` is cancelled; then says goodbye on every session
/// and returns the endpoint. `commands` may be closed at any time; the driver goes on without.
pub async fn drive<E, F>(
    socket: &UdpSocket,
    mut endpoint: E,
    mut commands: mpsc::Receiver<Command<E>>,
    mut on_event: F,
    shutdown: CancellationToken,
) -> io::Result<E>
where
    E: Endpoint,
    F: FnMut(&mut E, Instant, E::Event),
{
    let state = UdpSocketState::new(socket.into())?;
    grow_buffers(socket, &state, SOCKET_BUFFER);
    let mut receiver = Receiver::new(&state);
    let mut out = Outbox::new(state.max_gso_segments());
    let mut commands_open = true;
    let mut traced = None;
    loop {
        settle(socket, &mut endpoint, &mut on_event, &mut out, &mut traced).await;
        let deadline = endpoint.poll_timeout().map(tokio::time::Instant::from_std);
        // Shutdown, then commands and timers, then the socket: a flood of datagrams must not
        // starve retransmissions or the store's commit reports.
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            command = commands.recv(), if commands_open => match command {
                Some(command) => command(&mut endpoint, now()),
                None => commands_open = false,
            },
            () = sleep_until(deadline) => endpoint.handle_timeout(now()),
            ready = socket.readable() => {
                ready?;
                let (read_at, drained) = receive_turn(socket, &state, &mut receiver, &mut endpoint);
                // Only a turn that left datagrams behind asks the kernel how many: at low load
                // this costs nothing, and a busy server asks once per turn of many datagrams.
                if let Some(at) = read_at {
                    let backlog = if drained { Backlog::EMPTY } else { queue_backlog(socket) };
                    endpoint.receive_backlog(at, backlog);
                }
            }
        }
    }
    endpoint.close_all();
    settle(socket, &mut endpoint, &mut on_event, &mut out, &mut traced).await;
    Ok(endpoint)
}

/// Reads up to [`RECV_BATCHES`] batches into the endpoint: when the last batch was read (the
/// turn's time, so that no clock is read again after it; `None` if nothing was), and whether
/// the socket ran dry.
fn receive_turn<E: Endpoint>(
    socket: &UdpSocket,
    state: &UdpSocketState,
    receiver: &mut Receiver,
    endpoint: &mut E,
) -> (Option<Instant>, bool) {
    let mut read_at = None;
    for _ in 0..RECV_BATCHES {
        match receiver.try_recv(socket, state) {
            Ok(filled) => {
                let now = now();
                read_at = Some(now);
                for (from, datagram) in receiver.datagrams(filled) {
                    endpoint.handle_datagram(now, from, datagram);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (read_at, true),
            // ICMP errors for earlier sends surface here on some systems: not fatal.
            Err(err) => {
                tracing::debug!(%err, "receive failed");
                return (read_at, true);
            }
        }
    }
    (read_at, false)
}

/// The kernel's figure for what still waits unread; empty (nothing sheds) where it is not told.
fn queue_backlog(socket: &UdpSocket) -> Backlog {
    receive_backlog(socket).unwrap_or_else(|err| {
        tracing::debug!(%err, "receive queue's fill unknown");
        Backlog::EMPTY
    })
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Hands over the endpoint's events and sends everything it wants sent, until both run dry.
/// Events go first: what the application answers to a batch of datagrams (an `Accepted`, a
/// message for another peer) is queued before any session is polled, so one peer's acks and
/// answers from the whole turn leave together in as few datagrams as fit, and an ack rides on
/// the data rather than going ahead alone. At low load a turn is one datagram: no delay.
async fn settle<E, F>(
    socket: &UdpSocket,
    endpoint: &mut E,
    on_event: &mut F,
    out: &mut Outbox,
    traced: &mut Option<Instant>,
) where
    E: Endpoint,
    F: FnMut(&mut E, Instant, E::Event),
{
    loop {
        let mut busy = false;
        // One clock reading per round, not one per datagram (it showed in profiles). A round
        // is short next to any timer; if a full socket makes it long, a send is stamped a
        // little early, which only makes an RTT sample look longer.
        let now = now();
        while let Some(event) = endpoint.poll_event() {
            busy = true;
            if let Some(report) = endpoint.path(&event, progress_due(now, *traced)) {
                trace_path(&report, now, traced);
            }
            on_event(endpoint, now, event);
        }
        while out.fill(endpoint, now) {
            busy = true;
            out.flush(socket).await;
        }
        if !busy {
            return;
        }
    }
}
