//! One IRC bench client: a TCP connection (`TCP_NODELAY`, and `TCP_QUICKACK` after every read
//! when asked) in its own task, registered as `{prefix}{idx}`, steered through [`Irc`] as the
//! chat bench's own clients are steered through [`Shared`]: idle, DMs (`PRIVMSG nick`) to random
//! peers or posts to `#bench`, each with at most `window` not yet settled; or paced DMs handed
//! out by the pacer as credits.
//!
//! "Settled" mirrors the chat bench's `Delivered`, which the server sends once every recipient
//! has acknowledged the message: a DM is settled when its recipient has read it, a room post
//! when every other member has. Plain, the recipient settles it in-process (IRC has no
//! receipts, so the bench tells the sender directly, for free). With receipts, every
//! recipient answers each message with a `PRIVMSG sender :R<seq>` through the server, and
//! the sender settles on those: the same loop through the server as dgram's `Delivered`.
//!
//! A message's text is its send time (ns since `Shared::base`, 20 digits) and the sender's
//! sequence number (10 digits), padded with dots to the bench's size.

use std::collections::HashMap;
use std::io;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::shared::{Shared, DM, ROOM, STAMP};

/// The room every fan-out member joins.
pub(crate) const CHANNEL: &str = "#bench";
/// Digits of the sender's sequence number after the stamp.
const SEQ: usize = 10;
/// The most a line may grow to before the client gives up on the connection (IRC allows 512;
/// InspIRCd's tags could add more).
const READ_BUF: usize = 64 * 1024;

/// What all IRC clients share: the chat bench's plan and counters, and a slot per client.
pub(crate) struct Irc {
    pub(crate) shared: Arc<Shared>,
    pub(crate) prefix: String,
    pub(crate) slots: Vec<Slot>,
    /// Recipients answer every message with a receipt through the server.
    pub(crate) receipts: AtomicBool,
    /// Clients set `TCP_QUICKACK` again after every read (Linux turns it off by itself).
    pub(crate) quickack: AtomicBool,
    /// Members of `#bench` (the sender included) while a fan-out runs.
    pub(crate) members: AtomicUsize,
    pub(crate) shutdown: CancellationToken,
}

/// One client's state that others touch.
#[derive(Default)]
pub(crate) struct Slot {
    /// Messages sent and not yet settled: sequence number to recipients still to read it.
    pending: Mutex<HashMap<u64, usize>>,
    outstanding: AtomicUsize,
    /// Paced DMs to send now (the fixed-rate phase).
    pub(crate) credits: AtomicU64,
    /// Join `#bench` at the next turn.
    pub(crate) join: AtomicBool,
    pub(crate) notify: Notify,
}

impl Irc {
    pub(crate) fn new(shared: Arc<Shared>, prefix: &str) -> Arc<Self> {
        let slots = (0..shared.names.len()).map(|_| Slot::default()).collect();
        Arc::new(Self {
            shared,
            prefix: prefix.to_owned(),
            slots,
            receipts: AtomicBool::new(false),
            quickack: AtomicBool::new(false),
            members: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
        })
    }

    /// Has every client look at the plan again (after a mode change).
    pub(crate) fn kick(&self, clients: std::ops::Range<usize>) {
        for slot in &self.slots[clients] {
            slot.notify.notify_one();
        }
    }

    /// One recipient has read message `seq` of client `idx` (or sent its receipt back).
    fn settle(&self, idx: usize, seq: u64, me: usize) {
        let Some(slot) = self.slots.get(idx) else {
            return;
        };
        let done = match slot.pending.lock() {
            Ok(mut pending) => match pending.get_mut(&seq) {
                Some(left) if *left > 1 => {
                    *left -= 1;
                    false
                }
                Some(_) => pending.remove(&seq).is_some(),
                None => false,
            },
            Err(_) => false,
        };
        if done {
            slot.outstanding.fetch_sub(1, Relaxed);
            self.shared.completed.fetch_add(1, Relaxed);
            if idx != me {
                slot.notify.notify_one();
            }
        }
    }

    /// The client index in a nick of ours.
    fn index(&self, nick: &str) -> Option<usize> {
        let idx = nick.strip_prefix(self.prefix.as_str())?.parse().ok()?;
        (idx < self.slots.len()).then_some(idx)
    }

    fn error(&self, what: String) {
        self.shared.errors.fetch_add(1, Relaxed);
        if let Ok(mut last) = self.shared.last_error.lock() {
            *last = Some(what);
        }
    }
}

/// How long a client waits for the server's welcome before it drops the connection and
/// connects again, as a real client's registration timeout does: ngIRCd was seen leaving 5 of
/// 1000 connections in its listen queue, never accepted, for the whole 180 s join limit.
const REGISTER_WITHIN: Duration = Duration::from_secs(10);

/// Connections a client tries before it gives up.
const CONNECT_TRIES: u32 = 3;

/// Runs client `idx` until the shutdown token fires; fails if the connection does (after
/// [`CONNECT_TRIES`] connections that were never welcomed, that too).
pub(crate) async fn run(irc: Arc<Irc>, idx: usize, server: SocketAddr) -> io::Result<()> {
    let mut tries = 1;
    loop {
        match connection(&irc, idx, server).await {
            Err(e) if e.kind() == io::ErrorKind::TimedOut && tries < CONNECT_TRIES => tries += 1,
            done => return done,
        }
    }
}

/// What a connection that was not welcomed in time fails with.
fn timed_out(what: &str) -> io::Error {
    let why = format!("{what} within {REGISTER_WITHIN:?}");
    io::Error::new(io::ErrorKind::TimedOut, why)
}

/// One connection of client `idx`'s, until shutdown or failure.
async fn connection(irc: &Arc<Irc>, idx: usize, server: SocketAddr) -> io::Result<()> {
    let register_by = tokio::time::Instant::now() + REGISTER_WITHIN;
    let stream = tokio::time::timeout_at(register_by, TcpStream::connect(server))
        .await
        .map_err(|_| timed_out("no connection"))??;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let mut client = Client::new(Arc::clone(irc), idx);
    let nick = irc.shared.names[idx].as_str();
    let _ = write!(client.out, "NICK {nick}\r\nUSER {nick} 0 * :bench\r\n");
    // One timer for the connection, not a new one per turn of the loop below.
    let welcome_wait = tokio::time::sleep_until(register_by);
    tokio::pin!(welcome_wait);
    let mut buf = vec![0u8; READ_BUF];
    let mut filled = 0;
    let slot = &irc.slots[idx];
    loop {
        client.fill(Instant::now());
        if !client.out.is_empty() {
            wr.write_all(&client.out).await?;
            client.out.clear();
        }
        tokio::select! {
            biased;
            () = irc.shutdown.cancelled() => break,
            read = rd.read(&mut buf[filled..]) => {
                let n = read?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
                }
                if irc.quickack.load(Relaxed) {
                    socket2::SockRef::from(rd.as_ref()).set_tcp_quickack(true)?;
                }
                filled += n;
                let used = client.lines(Instant::now(), &buf[..filled]);
                buf.copy_within(used..filled, 0);
                filled -= used;
                if filled == buf.len() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "a line longer than 64 KiB"));
                }
            }
            () = slot.notify.notified() => {}
            () = &mut welcome_wait, if !client.registered => return Err(timed_out("no welcome")),
        }
    }
    let _ = wr.write_all(b"QUIT :bench done\r\n").await;
    Ok(())
}

/// The client's own state, inside its task.
struct Client {
    irc: Arc<Irc>,
    idx: usize,
    out: Vec<u8>,
    seq: u64,
    rng: u64,
    registered: bool,
}

impl Client {
    fn new(irc: Arc<Irc>, idx: usize) -> Self {
        Self {
            irc,
            idx,
            out: Vec::with_capacity(4096),
            seq: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (idx as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) | 1,
            registered: false,
        }
    }

    /// Queues what the plan asks for now: a join, paced DMs, and the window's refill.
    fn fill(&mut self, now: Instant) {
        let irc = Arc::clone(&self.irc);
        let (shared, slot) = (&irc.shared, &irc.slots[self.idx]);
        if !self.registered {
            return;
        }
        if slot.join.swap(false, Relaxed) {
            let _ = write!(self.out, "JOIN {CHANNEL}\r\n");
        }
        for _ in 0..slot.credits.swap(0, Relaxed) {
            let to = self.random_peer();
            self.post(now, &to, 1);
        }
        let window = shared.window.load(Relaxed);
        let (want, room) = match shared.mode.load(Relaxed) {
            DM => (window, false),
            ROOM if self.idx < shared.room_senders.load(Relaxed) => (window, true),
            _ => (0, false),
        };
        let others = irc.members.load(Relaxed).saturating_sub(1).max(1);
        while slot.outstanding.load(Relaxed) < want {
            if room {
                self.post(now, CHANNEL, others);
            } else {
                let to = self.random_peer();
                self.post(now, &to, 1);
            }
        }
    }

    /// Queues one message to `to` that `readers` recipients must read before it is settled.
    fn post(&mut self, now: Instant, to: &str, readers: usize) {
        let (shared, slot) = (&self.irc.shared, &self.irc.slots[self.idx]);
        let seq = self.seq;
        self.seq += 1;
        if let Ok(mut pending) = slot.pending.lock() {
            pending.insert(seq, readers);
        }
        slot.outstanding.fetch_add(1, Relaxed);
        shared.sent.fetch_add(1, Relaxed);
        let nanos = now.saturating_duration_since(shared.base).as_nanos() as u64;
        let pad = shared.size.saturating_sub(STAMP + SEQ);
        let _ = write!(
            self.out,
            "PRIVMSG {to} :{nanos:0STAMP$}{seq:0SEQ$}{:.<pad$}\r\n",
            ""
        );
    }

    fn random_peer(&mut self) -> String {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let n = self.irc.slots.len();
        let peer = match n {
            0 | 1 => 0,
            _ => {
                let r = (self.rng % (n as u64 - 1)) as usize;
                r + usize::from(r >= self.idx)
            }
        };
        self.irc.shared.names[peer].as_str().to_owned()
    }

    /// Handles the complete lines at the start of `data`; returns how many bytes they took.
    fn lines(&mut self, now: Instant, data: &[u8]) -> usize {
        let mut used = 0;
        while let Some(end) = data[used..].iter().position(|&b| b == b'\n') {
            let line = &data[used..used + end];
            used += end + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match std::str::from_utf8(line) {
                Ok(line) => self.line(now, line),
                Err(_) => self.irc.error("a line that is not UTF-8".to_owned()),
            }
        }
        used
    }

    fn line(&mut self, now: Instant, line: &str) {
        if let Some(token) = line.strip_prefix("PING ") {
            let _ = write!(self.out, "PONG {token}\r\n");
            return;
        }
        let Some(rest) = line.strip_prefix(':') else {
            if line.starts_with("ERROR") {
                self.irc.error(line.to_owned());
            }
            return;
        };
        let mut words = rest.splitn(3, ' ');
        let (prefix, command, params) = (
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
        );
        let shared = &self.irc.shared;
        match command {
            "PRIVMSG" => self.privmsg(now, prefix, params),
            "001" if !self.registered => {
                self.registered = true;
                shared.welcomed.fetch_add(1, Relaxed);
            }
            "366" => {
                shared.joined.fetch_add(1, Relaxed);
            }
            c if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) => {
                if !self.registered {
                    shared.refused.fetch_add(1, Relaxed);
                }
                self.irc.error(line.to_owned());
            }
            _ => {}
        }
    }

    /// A message, a room post or a receipt for one of ours.
    fn privmsg(&mut self, now: Instant, prefix: &str, params: &str) {
        let irc = Arc::clone(&self.irc);
        let nick = prefix.split('!').next().unwrap_or(prefix);
        let Some((target, text)) = params.split_once(" :") else {
            return irc.error(format!("a PRIVMSG without text: {params}"));
        };
        let seq_of = |digits: &str| digits.get(..SEQ).and_then(|d| d.parse::<u64>().ok());
        if let Some(receipt) = text.strip_prefix('R') {
            match seq_of(receipt) {
                Some(seq) => irc.settle(self.idx, seq, self.idx),
                None => irc.error(format!("a receipt without a number: {text}")),
            }
            return;
        }
        let (Some(from), Some(stamp), Some(seq)) = (
            irc.index(nick),
            text.get(..STAMP).and_then(|s| s.parse::<u64>().ok()),
            text.get(STAMP..).and_then(seq_of),
        ) else {
            return irc.error(format!("a message the bench did not send: {text}"));
        };
        let shared = &irc.shared;
        let counter = if target.starts_with('#') {
            &shared.room_received
        } else {
            &shared.dm_received
        };
        counter.fetch_add(1, Relaxed);
        if shared.recording.load(Relaxed) {
            let at = now.saturating_duration_since(shared.base).as_nanos() as u64;
            let us = at.saturating_sub(stamp) / 1000;
            if let Ok(mut h) = shared.latency.lock() {
                h.saturating_record(us.max(1));
            }
        }
        if irc.receipts.load(Relaxed) {
            let _ = write!(self.out, "PRIVMSG {nick} :R{seq:0SEQ$}\r\n");
        } else {
            irc.settle(from, seq, self.idx);
        }
    }
}
