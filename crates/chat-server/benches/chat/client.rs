//! The bench's chat client: one `dgram_client::ChatSession` (the client library's chat session
//! without I/O) on its own loopback socket, run by `dgram_net::session::drive` in its own task,
//! with the bench's logic in the driver's callback (no channel hop between a receipt and the
//! next send, and none of the interactive client's bookkeeping). What every client does is steered
//! through [`Shared`]: idle, DMs to random peers, or posts to the bench room, each with at most
//! `window` messages not yet reported `Delivered` by the server; or (`ACCEPT`) DMs to random
//! peers with at most `window` requests not yet answered `Accepted`, each timed from
//! `Client::send` to that answer (matched by request id; one that can no longer be answered,
//! its message `Failed` or its session `Closed`, leaves the window too).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dgram_client::{ChatSession, SessionEvent};
use dgram_net::session::{drive, now, Command, Endpoint};
use dgram_proto::chat::{ClaimKey, ClientMsg, ServerMsg, Target};
use dgram_proto::session::{MessageId, Transmit};
use dgram_proto::Name;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::shared::{Shared, ACCEPT, DM, ROOM, STAMP};

/// A session client plus the bench's per-client state; the driver runs it as one endpoint.
pub(crate) struct BenchClient {
    session: ChatSession,
    idx: usize,
    shared: Arc<Shared>,
    key: Option<ClaimKey>,
    welcomed: bool,
    outstanding: usize,
    /// `ACCEPT` mode: requests sent and not yet answered.
    unanswered: Vec<Unanswered>,
    rng: u64,
}

/// An `ACCEPT` request awaiting its answer; `msg` is all that its `Failed` event names.
struct Unanswered {
    req: u64,
    msg: MessageId,
    /// When `Client::send` was called.
    at: Instant,
}

impl Endpoint for BenchClient {
    type Event = SessionEvent;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.session.handle_datagram(now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.session.poll_transmit(now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.session.poll_timeout()
    }
    fn poll_event(&mut self) -> Option<SessionEvent> {
        self.session.poll_event()
    }
    fn close_all(&mut self) {
        self.session.close_all();
    }
}

impl BenchClient {
    fn on_event(&mut self, now: Instant, event: SessionEvent) {
        match event {
            // A new session (first, or after the server lost the old one): say who we are.
            SessionEvent::Connected { resumed: false } => {
                let hello = ClientMsg::Hello {
                    name: self.shared.names[self.idx].clone(),
                    key: self.key,
                    send_only: false,
                };
                self.request(now, &hello);
            }
            // The same session from a new address: nothing to say again.
            SessionEvent::Connected { resumed: true } => {}
            SessionEvent::Message(msg) => self.on_chat(now, msg),
            SessionEvent::Undecodable(_) => {
                self.shared.errors.fetch_add(1, Relaxed);
            }
            SessionEvent::Failed { id, .. } => {
                self.shared.session_failures.fetch_add(1, Relaxed);
                // Never answered now: out of the window, or it would shrink for good.
                self.unanswered.retain(|u| u.msg != id);
                self.done(now);
            }
            SessionEvent::Closed { .. } | SessionEvent::Refused { .. } => {
                self.shared.sessions_closed.fetch_add(1, Relaxed);
                // Its answers are lost too (a delivered request gets no `Failed`); see Welcome.
                self.unanswered.clear();
            }
        }
    }

    fn on_chat(&mut self, now: Instant, msg: ServerMsg) {
        let shared = &self.shared;
        match msg {
            ServerMsg::Welcome { key, .. } => {
                self.key = key.or(self.key);
                if !self.welcomed {
                    self.welcomed = true;
                    shared.welcomed.fetch_add(1, Relaxed);
                } else if shared.mode.load(Relaxed) == ACCEPT {
                    // Back after a lost session: refill what it dropped (other modes keep theirs).
                    self.fill(now);
                }
            }
            ServerMsg::Message(posted) => {
                let counter = match posted.to {
                    Target::User(_) => &shared.dm_received,
                    Target::Room(_) => &shared.room_received,
                };
                counter.fetch_add(1, Relaxed);
                // In `ACCEPT` mode the histogram holds accept latencies.
                if shared.recording.load(Relaxed) && shared.mode.load(Relaxed) != ACCEPT {
                    let stamp = posted.text.get(..STAMP).and_then(|s| s.parse::<u64>().ok());
                    if let Some(sent) = stamp {
                        let at = now.saturating_duration_since(shared.base).as_nanos() as u64;
                        let us = at.saturating_sub(sent) / 1000;
                        if let Ok(mut h) = shared.latency.lock() {
                            h.saturating_record(us.max(1));
                        }
                    }
                }
            }
            ServerMsg::Accepted { req, .. } => self.answered(now, req, true),
            ServerMsg::Delivered { .. } => self.done(now),
            ServerMsg::NotDelivered { .. } => {
                shared.not_delivered.fetch_add(1, Relaxed);
                self.done(now);
            }
            ServerMsg::Error { req, message, .. } => {
                shared.errors.fetch_add(1, Relaxed);
                if let Ok(mut last) = shared.last_error.lock() {
                    *last = Some(message);
                }
                if req.is_none() && !self.welcomed {
                    shared.refused.fetch_add(1, Relaxed);
                    return;
                }
                if let Some(req) = req {
                    self.answered(now, req, false);
                }
                self.done(now);
            }
            ServerMsg::Done { .. } => {
                shared.joined.fetch_add(1, Relaxed);
            }
            // The rest (presence, topics, lists) is not what the bench measures; proto's messages
            // are `non_exhaustive`, so this arm also takes what a newer server may say.
            _ => {}
        }
    }

    /// The server answered request `req` (`Accepted`, or an error): in `ACCEPT` mode, time it
    /// and refill the window.
    fn answered(&mut self, now: Instant, req: u64, accepted: bool) {
        let Some(at) = self.unanswered.iter().position(|u| u.req == req) else {
            return;
        };
        let Unanswered { at: sent, .. } = self.unanswered.swap_remove(at);
        let shared = &self.shared;
        if accepted {
            shared.accepted.fetch_add(1, Relaxed);
            if shared.recording.load(Relaxed) {
                let us = now.saturating_duration_since(sent).as_micros() as u64;
                if let Ok(mut h) = shared.latency.lock() {
                    h.saturating_record(us.max(1));
                }
            }
        }
        self.fill(now);
    }

    /// A message of ours is settled (delivered, refused or failed): refill the window.
    fn done(&mut self, now: Instant) {
        self.shared.completed.fetch_add(1, Relaxed);
        self.outstanding = self.outstanding.saturating_sub(1);
        self.fill(now);
    }

    /// Sends until `window` messages are in flight, as the current mode asks.
    pub(crate) fn fill(&mut self, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let mode = shared.mode.load(Relaxed);
        let want = match mode {
            DM | ACCEPT if self.idx < shared.dm_senders.load(Relaxed) => {
                shared.window.load(Relaxed)
            }
            ROOM if self.idx < shared.room_senders.load(Relaxed) => shared.window.load(Relaxed),
            _ => 0,
        };
        loop {
            let in_flight = match mode {
                ACCEPT => self.unanswered.len(),
                _ => self.outstanding,
            };
            if in_flight >= want {
                break;
            }
            let to = match mode {
                DM | ACCEPT => Target::User(self.random_peer()),
                _ => Target::Room(shared.room.clone()),
            };
            if !self.post(now, to) {
                break;
            }
        }
    }

    /// One DM to a random peer (the paced phase sends these by command).
    pub(crate) fn post_random(&mut self, now: Instant) {
        let to = Target::User(self.random_peer());
        self.post(now, to);
    }

    /// Joins the bench room.
    pub(crate) fn join_room(&mut self, now: Instant) {
        let req = self.shared.next_req.fetch_add(1, Relaxed);
        let room = self.shared.room.clone();
        self.request(now, &ClientMsg::Join { req, room });
    }

    /// A random client other than this one, at or above `peers_from`.
    fn random_peer(&mut self) -> Name {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let n = self.shared.names.len();
        let from = self
            .shared
            .peers_from
            .load(Relaxed)
            .min(n.saturating_sub(1));
        // This client is one of the candidates (skipped) when it is in the range.
        let own = (self.idx >= from).then_some(self.idx - from);
        let count = (n - from).saturating_sub(usize::from(own.is_some()));
        let peer = match count {
            0 => from,
            _ => {
                let r = (self.rng % count as u64) as usize;
                from + r + usize::from(own.is_some_and(|o| r >= o))
            }
        };
        self.shared.names[peer].clone()
    }

    /// Sends a message stamped with the time now; false if the session refused it.
    fn post(&mut self, now: Instant, to: Target) -> bool {
        let shared = &self.shared;
        let nanos = now.saturating_duration_since(shared.base).as_nanos() as u64;
        let mut text = format!("{nanos:0width$}", width = STAMP);
        text.extend(std::iter::repeat_n('.', shared.size.saturating_sub(STAMP)));
        let req = shared.next_req.fetch_add(1, Relaxed);
        let timed = shared.mode.load(Relaxed) == ACCEPT;
        // The shared request counter is unique across the run's clients: it serves as the id.
        let send = ClientMsg::Send {
            req,
            txn: req,
            to,
            text,
        };
        if let Some(msg) = self.request(now, &send) {
            if timed {
                self.unanswered.push(Unanswered { req, msg, at: now });
            }
            self.outstanding += 1;
            self.shared.sent.fetch_add(1, Relaxed);
            true
        } else {
            self.shared.send_refused.fetch_add(1, Relaxed);
            false
        }
    }

    /// Hands `msg` to the session: its id there (reliable ones have one), `None` if refused.
    fn request(&mut self, now: Instant, msg: &ClientMsg) -> Option<MessageId> {
        self.session.submit(now, msg).ok()
    }
}

/// A running client: its command queue and its task.
pub(crate) struct Handle {
    pub(crate) commands: mpsc::Sender<Command<BenchClient>>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Handle {
    /// Has the client refill its window (after a mode change).
    pub(crate) async fn kick(&self) {
        let fill: Command<BenchClient> = Box::new(|ep: &mut BenchClient, now| ep.fill(now));
        let _ = self.commands.send(fill).await;
    }

    /// Runs `f` on the client inside its task.
    pub(crate) async fn run(&self, f: Command<BenchClient>) {
        let _ = self.commands.send(f).await;
    }
}

/// Starts client `idx` of `shared` on a socket of its own; it handshakes and says hello.
pub(crate) async fn spawn(
    server: SocketAddr,
    idx: usize,
    shared: &Arc<Shared>,
) -> io::Result<Handle> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    let seed = *blake3::hash(format!("{local} {idx} {:?}", shared.base).as_bytes()).as_bytes();
    let client = BenchClient {
        session: ChatSession::new(
            seed,
            server,
            now(),
            dgram_client::process_identity(),
            dgram_proto::session::ServerPin::Any,
        ),
        idx,
        shared: Arc::clone(shared),
        key: None,
        welcomed: false,
        outstanding: 0,
        unanswered: Vec::new(),
        rng: u64::from_le_bytes(seed[..8].try_into().unwrap_or([7; 8])) | 1,
    };
    let (commands, rx) = mpsc::channel(256);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        let on_event = |ep: &mut BenchClient, now, event| ep.on_event(now, event);
        if let Err(err) = drive(&socket, client, rx, on_event, token).await {
            eprintln!("client {idx}: driver failed: {err}");
        }
    });
    Ok(Handle {
        commands,
        shutdown,
        task,
    })
}

/// Clients that joined, how long it took, and why joining stopped short (if it did).
pub(crate) struct Joined {
    pub(crate) handles: Vec<Handle>,
    pub(crate) took: Duration,
    pub(crate) short: Option<String>,
}

/// Starts `count` clients, client `i` with the server `server(i)`, with at most `concurrency`
/// handshakes under way at once, until all are welcomed, one is refused, a socket cannot be
/// opened, or `limit` passes.
pub(crate) async fn connect_all(
    server: impl Fn(usize) -> SocketAddr,
    shared: &Arc<Shared>,
    count: usize,
    concurrency: usize,
    limit: Duration,
) -> Joined {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(count);
    let short = loop {
        let welcomed = shared.welcomed.load(Relaxed);
        if welcomed >= count {
            break None;
        }
        if shared.refused.load(Relaxed) > 0 {
            break Some(format!("a hello was refused: {}", shared.last_error()));
        }
        if start.elapsed() > limit {
            break Some(format!(
                "only {welcomed} of {count} sessions joined within {limit:?}"
            ));
        }
        let mut failed = None;
        while handles.len() < count && handles.len() < welcomed + concurrency.max(1) {
            match spawn(server(handles.len()), handles.len(), shared).await {
                Ok(h) => handles.push(h),
                Err(err) => {
                    failed = Some(format!(
                        "socket {} could not be opened: {err}",
                        handles.len()
                    ));
                    break;
                }
            }
        }
        if let Some(why) = failed {
            // Wait (bounded) for the ones started to finish joining, then stop there.
            let deadline = Instant::now() + Duration::from_secs(20);
            while shared.welcomed.load(Relaxed) < handles.len() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            break Some(why);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    Joined {
        handles,
        took: start.elapsed(),
        short,
    }
}

/// Closes every client (each says goodbye) and waits for their tasks, at most `limit`.
pub(crate) async fn close_all(handles: Vec<Handle>, limit: Duration) {
    for h in &handles {
        h.shutdown.cancel();
    }
    let deadline = tokio::time::Instant::now() + limit;
    for h in handles {
        if tokio::time::timeout_at(deadline, h.task).await.is_err() {
            return;
        }
    }
}
