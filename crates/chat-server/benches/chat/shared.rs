//! What all bench clients share: the plan they follow (mode, window, names) and the counters
//! and latency histogram the phases read (receipt latency, or accept latency in `ACCEPT`
//! mode).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dgram_proto::chat::Room;
use dgram_proto::Name;
use hdrhistogram::Histogram;

/// Clients send nothing on their own.
pub(crate) const IDLE: u8 = 0;
/// Every client keeps `window` DMs to random peers in flight.
pub(crate) const DM: u8 = 1;
/// Clients below `room_senders` keep `window` room posts in flight.
pub(crate) const ROOM: u8 = 2;
/// Every client keeps `window` DMs to random peers not yet answered `Accepted`; the latency
/// recorded is from `Client::send` to that answer.
pub(crate) const ACCEPT: u8 = 3;

/// Digits of the send time at the start of every message text.
pub(crate) const STAMP: usize = 20;

/// What all clients share: the plan, and the counters the phases read.
pub(crate) struct Shared {
    pub(crate) base: Instant,
    pub(crate) names: Vec<Name>,
    pub(crate) room: Room,
    pub(crate) size: usize,
    pub(crate) mode: AtomicU8,
    pub(crate) window: AtomicUsize,
    pub(crate) room_senders: AtomicUsize,
    /// In `DM` and `ACCEPT` mode only clients below this index send (all by default).
    pub(crate) dm_senders: AtomicUsize,
    /// DM peers are drawn from the clients at and above this index (all by default).
    pub(crate) peers_from: AtomicUsize,
    pub(crate) next_req: AtomicU64,
    pub(crate) welcomed: AtomicUsize,
    pub(crate) refused: AtomicUsize,
    pub(crate) joined: AtomicUsize,
    pub(crate) sent: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) dm_received: AtomicU64,
    pub(crate) room_received: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) not_delivered: AtomicU64,
    pub(crate) session_failures: AtomicU64,
    pub(crate) send_refused: AtomicU64,
    pub(crate) sessions_closed: AtomicU64,
    pub(crate) recording: AtomicBool,
    pub(crate) latency: Mutex<Histogram<u64>>,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Shared {
    /// Clients named `{prefix}0`, `{prefix}1`, ...; messages padded to `size` bytes of text.
    pub(crate) fn new(prefix: &str, count: usize, size: usize) -> Arc<Self> {
        let names = (0..count)
            .map(|i| Name::new(&format!("{prefix}{i}")).expect("bench names are valid"))
            .collect();
        Arc::new(Self {
            base: Instant::now(),
            names,
            room: Room::new("bench").expect("valid room"),
            size: size.max(STAMP),
            mode: AtomicU8::new(IDLE),
            window: AtomicUsize::new(0),
            room_senders: AtomicUsize::new(0),
            dm_senders: AtomicUsize::new(usize::MAX),
            peers_from: AtomicUsize::new(0),
            next_req: AtomicU64::new(1),
            welcomed: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            dm_received: AtomicU64::new(0),
            room_received: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            not_delivered: AtomicU64::new(0),
            session_failures: AtomicU64::new(0),
            send_refused: AtomicU64::new(0),
            sessions_closed: AtomicU64::new(0),
            recording: AtomicBool::new(false),
            latency: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
            ),
            last_error: Mutex::new(None),
        })
    }

    /// Starts recording latencies afresh.
    pub(crate) fn start_recording(&self) {
        if let Ok(mut h) = self.latency.lock() {
            h.reset();
        }
        self.recording.store(true, Relaxed);
    }

    /// Stops recording; returns what was recorded.
    pub(crate) fn stop_recording(&self) -> Option<Histogram<u64>> {
        self.recording.store(false, Relaxed);
        self.latency.lock().ok().map(|h| h.clone())
    }

    /// The last error message the server sent, if any.
    pub(crate) fn last_error(&self) -> String {
        let last = self.last_error.lock().ok().and_then(|e| e.clone());
        last.unwrap_or_else(|| "none".into())
    }
}
